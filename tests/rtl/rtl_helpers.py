"""Helpers of the RTL tests: build parameter sets and the pytest -> cocotb bridge.

(A module of its own, not conftest, so ``import`` finds it whichever test folders run.)
"""

import json
import os
from pathlib import Path

import pytest

from rtlcnn.core.regs import DEFAULT_BUILD

HERE = Path(__file__).resolve().parent

#: small build for fast tests, and the default build
SMALL = {"P_OC": 4, "P_IC": 4, "WBUF_DEPTH": 512, "IBUF_DEPTH": 1024, "PBUF_DEPTH": 128, "CLK_MHZ": 100}
DEFAULT = DEFAULT_BUILD.parameters()
#: narrow lanes: 8 input words per beat (P_IC=1), a weight word of one beat, and the
#: serial requant of one value per cycle (the other builds use the default RQ_LANES=2)
NARROW = {
    "P_OC": 8,
    "P_IC": 1,
    "WBUF_DEPTH": 1024,
    "IBUF_DEPTH": 2048,
    "PBUF_DEPTH": 64,
    "CLK_MHZ": 100,
    "RQ_LANES": 1,
}
SIMS = ("verilator", "icarus")


def run_cocotb(
    sim, toplevel, params, test_module, testcase=None, env=None, results_name="results", sources=None
):
    """Build (cached) and run a cocotb module; fail the pytest test if any cocotb test fails."""
    from cocotb_tools.runner import get_results

    from rtlcnn.sim import simbuild

    build_dir = simbuild.build(sim, params, toplevel=toplevel, sources=sources)
    runner = simbuild.runner(sim)
    extra_env = {"RTLCNN_BUILD": json.dumps(params), "PYTHONWARNINGS": "default"}
    extra_env.update({k: str(v) for k, v in (env or {}).items()})
    results = build_dir / f"{results_name}-{os.getpid()}.xml"
    try:
        path = runner.test(
            test_module=test_module,
            hdl_toplevel=toplevel,
            hdl_toplevel_lang="verilog",
            testcase=testcase,
            build_dir=str(build_dir),
            test_dir=str(HERE),
            extra_env=extra_env,
            parameters=params if sim == "icarus" else None,
            results_xml=str(results),
        )
    except SystemExit as exc:
        pytest.fail(
            f"cocotb {test_module}.{testcase or '*'} failed on {sim} (exit {exc.code}); see the log above"
        )
    ntests, nfail = get_results(Path(path))
    assert ntests > 0, f"no cocotb test ran from {test_module}"
    assert nfail == 0, f"{nfail} of {ntests} cocotb tests failed"
