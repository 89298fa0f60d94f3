"""pytest entry points of the RTL test benches (Verilator and Icarus, small and default builds)."""

import pytest
from rtl_helpers import DEFAULT, HERE, NARROW, SMALL, run_cocotb

from rtlcnn.sim.simbuild import rtl_sources

UNITS = {"P_OC": 4, "P_IC": 4}
UNIT_SOURCES = rtl_sources() + [HERE / "tb_requant_wrap.v"]


@pytest.mark.parametrize(
    "toplevel, testcase",
    [
        ("rtlcnn_mac_array", "test_mac_array"),
        ("tb_requant_wrap", "test_requant"),
        ("rtlcnn_pool", "test_pool"),
    ],
)
def test_unit(sim, toplevel, testcase):
    params = {"rtlcnn_mac_array": UNITS, "tb_requant_wrap": {"P_OC": 4, "PBUF_DEPTH": 64}}.get(
        toplevel, {"P_OC": 4}
    )
    run_cocotb(sim, toplevel, params, "tb_units", testcase, sources=UNIT_SOURCES, results_name=testcase)


@pytest.mark.parametrize(
    "testcase",
    [
        "test_build_registers",
        "test_random_layers",
        "test_resident_weights_and_slices",
        "test_config_errors",
        "test_stream_errors",
        "test_unfolded_layers",
        "test_act_bounds",
        "test_add",
    ],
)
def test_top_small(sim, testcase):
    run_cocotb(
        sim,
        "rtlcnn_top",
        SMALL,
        "tb_top",
        testcase,
        env={"RTLCNN_SEED": 1, "RTLCNN_CASES": 12},
        results_name=testcase,
    )


@pytest.mark.parametrize(
    "testcase",
    [
        "test_build_registers",
        "test_random_layers",
        "test_resident_weights_and_slices",
        "test_config_errors",
        "test_stream_errors",
        "test_unfolded_layers",
        "test_act_bounds",
        "test_add",
    ],
)
def test_top_default(sim, testcase):
    run_cocotb(
        sim,
        "rtlcnn_top",
        DEFAULT,
        "tb_top",
        testcase,
        env={"RTLCNN_SEED": 2, "RTLCNN_CASES": 6},
        results_name=testcase,
    )


@pytest.mark.slow
@pytest.mark.parametrize("params", [SMALL, DEFAULT], ids=["small", "default"])
def test_top_lenet_and_more_random(sim, params):
    run_cocotb(sim, "rtlcnn_top", params, "tb_top", "test_lenet_layers", results_name="lenet")
    run_cocotb(
        sim,
        "rtlcnn_top",
        params,
        "tb_top",
        "test_random_layers",
        env={"RTLCNN_SEED": 3, "RTLCNN_CASES": 24},
        results_name="random24",
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "testcase", ["test_build_registers", "test_random_layers", "test_resident_weights_and_slices",
                 "test_stream_errors", "test_act_bounds", "test_add"]
)
def test_top_narrow(sim, testcase):
    run_cocotb(
        sim,
        "rtlcnn_top",
        NARROW,
        "tb_top",
        testcase,
        env={"RTLCNN_SEED": 5, "RTLCNN_CASES": 12},
        results_name=testcase,
    )


@pytest.mark.parametrize("params", [SMALL, DEFAULT], ids=["small", "default"])
@pytest.mark.parametrize("testcase", ["test_command_stream", "test_command_stream_errors",
                                      "test_feature_buffer", "test_taps", "test_taps_errors"])
def test_top_commands(sim, params, testcase):
    """Command streams (engine 1.5) and IN_TAPS jobs (1.6): tests/rtl/tb_cmd.py."""
    run_cocotb(sim, "rtlcnn_top", params, "tb_cmd", testcase, env={"RTLCNN_SEED": 7, "RTLCNN_CASES": 8},
               results_name=testcase)


@pytest.mark.slow
def test_taps_cycles(sim):
    """IN_TAPS (engine 1.6) on the default build, also LeNet-5's conv2 with its weights on
    chip as IN_TAPS, kx map streamed and native conv from the buffer (their cycles logged)."""
    run_cocotb(sim, "rtlcnn_top", DEFAULT, "tb_cmd", "test_taps",
               env={"RTLCNN_SEED": 7, "RTLCNN_TAPS_CYCLES": 1}, results_name="taps_cycles")
