"""Mock-board fixtures: each simulator model is built once (cached in build/mock) and each
mock board started once per session; every board is closed at the end, failing or not."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtlcnn.sim.toolchain import have_simulator

HERE = Path(__file__).resolve().parent
STANDIN = [HERE / "standin_top.v"]

#: a small engine: forces output-channel slices, row bands and per-batch weight loads
TINY = {"P_OC": 4, "P_IC": 4, "WBUF_DEPTH": 64, "IBUF_DEPTH": 256, "PBUF_DEPTH": 16, "CLK_MHZ": 100}
#: the tiny engine with the one-lane requant (RQ_LANES=1; the other boards use the default 2)
TINY_RQ1 = dict(TINY, RQ_LANES=1)


def _need(sim):
    if not have_simulator(sim):
        pytest.skip(f"{sim} is not installed (pip install rtlcnn[sim]; apt-get install iverilog)")


def _board(sim, **kw):
    from rtlcnn.mock import MockOverlay

    _need(sim)
    return MockOverlay(sim, **kw)


@pytest.fixture(scope="session")
def tiny_board():
    """Verilator, the real engine with TINY parameters."""
    ol = _board("verilator", **TINY)
    yield ol
    ol.close()


@pytest.fixture(scope="session")
def icarus_board():
    """Icarus, the real engine with TINY parameters."""
    ol = _board("icarus", **TINY)
    yield ol
    ol.close()


@pytest.fixture(scope="session")
def tiny_rq1_board():
    """Verilator, the real engine with TINY_RQ1 parameters (a model of its own: ~20 s to build)."""
    ol = _board("verilator", **TINY_RQ1)
    yield ol
    ol.close()


@pytest.fixture(scope="session")
def standin_board():
    """Icarus, a loopback stand-in for the engine: tests of the DMA model and of DDR."""
    ol = _board("icarus", sources=STANDIN)
    yield ol
    ol.close()


@pytest.fixture(scope="session")
def tiny_acc(tiny_board):
    from rtlcnn.board.accelerator import Accelerator

    return Accelerator(tiny_board)


# default_board (the Verilator board with the overlay description's parameters) lives in
# tests/conftest.py, so the command-line and notebook tests share it.


@pytest.fixture(scope="session")
def default_acc(default_board):
    from rtlcnn.board.accelerator import Accelerator

    return Accelerator(default_board)
