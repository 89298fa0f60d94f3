"""The board session (rtlcnn.board.session, rtlcnn.mock.session.open_board) and how the command
line shows its errors; the names rtlcnn 0.1 had in rtlcnn.cli.

The mock board's start is stood in for here (no simulator); the real one runs in the slow
tests of test_cli.py.
"""

from __future__ import annotations

import ast
import os
import platform
import warnings
from pathlib import Path

import pytest

import rtlcnn.cli as cli
from rtlcnn.board import session as board_session
from rtlcnn.core.errors import BoardError, RtlcnnError
from rtlcnn.mock import session as mock_session

CLI_DIR = Path(cli.__file__).resolve().parent


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


class _FakeOverlay:
    clock_mhz = 125.0

    def __init__(self):
        self.closed = False

    def close(self):
        self.closed = True


@pytest.fixture
def fake_mock(monkeypatch):
    """open_board("mock") without a simulator: the build does nothing, the board is a stand-in."""
    from rtlcnn.sim import toolchain

    overlay = _FakeOverlay()
    monkeypatch.setattr(toolchain, "have_simulator", lambda sim: True)
    monkeypatch.setattr(mock_session, "_build_mock_model", lambda sim: None)
    monkeypatch.setattr(mock_session, "_make_mock", lambda cls, sim: (overlay, True))
    return overlay


# ------------------------------------------------------------------------- board choice
def test_auto_board_is_the_mock_off_board_and_bitfile_lookup(tmp_path, monkeypatch):
    if platform.machine() not in ("armv7l", "aarch64"):
        assert not board_session.on_board() and board_session.resolve_kind("auto") == "mock"
    bit = tmp_path / "rtlcnn.bit"
    bit.write_bytes(b"bitstream")
    monkeypatch.setenv("RTLCNN_BITFILE", str(bit))
    assert board_session.find_bitfile() == bit
    monkeypatch.delenv("RTLCNN_BITFILE")
    monkeypatch.chdir(tmp_path)
    assert board_session.find_bitfile().resolve() == bit.resolve()
    with pytest.raises(BoardError, match="does not exist") as e:
        board_session.find_bitfile(str(tmp_path / "other.bit"))
    assert e.value.code == 2 and isinstance(e.value, RtlcnnError)


def test_unknown_board_and_simulator_are_board_errors():
    with pytest.raises(BoardError, match="unknown board 'fpga'"):
        board_session.resolve_kind("fpga")
    with pytest.raises(BoardError, match="unknown simulator 'xsim'") as e:
        with mock_session.open_board("mock", sim="xsim"):
            pass
    assert e.value.code == 2


def test_pynq_board_without_bitstream_says_what_to_do(capsys, tmp_path, monkeypatch, small_program, images28):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RTLCNN_BITFILE", raising=False)
    monkeypatch.setattr(board_session, "find_bitfile", lambda explicit=None: None)
    with pytest.raises(BoardError, match="no overlay bitstream found") as e:
        with mock_session.open_board("pynq"):
            pass
    assert e.value.code == 2
    _, path = small_program
    code, _, err = run_cli(capsys, "run", path, images28[0], "--board", "pynq")
    assert code == 2 and "no overlay bitstream found" in err and "--bitfile" in err
    assert len(err.strip().splitlines()) == 1


def test_the_reference_board(capsys):
    with mock_session.open_board("reference") as board:
        assert board.kind == "reference" and board.build() is None and board.overlay is None
        assert "rtlcnn.reference" in board.description
    assert capsys.readouterr() == ("", "")


# ---------------------------------------------------------------------- the mock board
def test_mock_board_reports_progress_through_the_callback_only(capfd, fake_mock):
    messages = []
    with mock_session.open_board("mock", progress=messages.append) as board:
        assert board.kind == "mock" and board.overlay is fake_mock and board.clock_mhz() == 125.0
        assert "Verilator simulation" in board.description
    assert fake_mock.closed  # the session started it, so the session closes it
    assert [m.split(" (")[0] for m in messages[::2]] == [
        "preparing the Verilator model of the engine", "starting the mock board"]
    assert len(messages) == 4 and all(m.startswith("  done in ") and m.endswith(" s") for m in messages[1::2])
    assert capfd.readouterr() == ("", "")  # never printed
    with mock_session.open_board("mock"):  # no callback: silent
        pass
    assert capfd.readouterr() == ("", "")


def test_a_shared_mock_board_is_not_closed(monkeypatch, fake_mock):
    monkeypatch.setattr(mock_session, "_make_mock", lambda cls, sim: (fake_mock, False))
    with mock_session.open_board("mock"):
        pass
    assert not fake_mock.closed


def _loud_failing_build(sim):
    os.write(1, b"%Error: rtlcnn_top.v:12: syntax error\n")  # as the compiler's output would
    raise RuntimeError("make exited with 2\nmore text")


def test_a_failed_build_carries_its_log(capfd, monkeypatch, fake_mock):
    monkeypatch.setattr(mock_session, "_build_mock_model", _loud_failing_build)
    with pytest.raises(BoardError) as e:
        with mock_session.open_board("mock"):
            pass
    err = e.value
    assert err.code == 1 and "RuntimeError: make exited with 2)" in str(err) and "\n" not in str(err)
    assert "syntax error" in err.log_tail and err.log and f"output is in {err.log}" in str(err)
    assert capfd.readouterr() == ("", "")  # the build's output went to the log, not the terminal
    Path(err.log).unlink()


def test_the_command_line_shows_the_log_tail_and_one_error_line(capsys, monkeypatch, fake_mock, small_program,
                                                                images28):
    monkeypatch.setattr(mock_session, "_build_mock_model", _loud_failing_build)
    _, path = small_program
    code, out, err = run_cli(capsys, "run", path, images28[0], "--board", "mock")
    assert code == 1
    lines = err.strip().splitlines()
    assert lines[0].startswith("preparing the Verilator model") and lines[1].startswith("--- last lines of ")
    assert "syntax error" in lines[2] and lines[3] == "---"
    assert lines[4].startswith("rtlcnn: error: the mock board did not start (RuntimeError: make exited")
    assert len(lines) == 5 and "Traceback" not in err  # no "rerun with --debug" line: the message says it
    assert out == ""  # run: stdout keeps only the answers
    Path(lines[1].split()[-2]).unlink()


def test_a_missing_simulator_is_exit_2(capsys, monkeypatch, small_program, images28):
    from rtlcnn.sim import toolchain

    monkeypatch.setattr(toolchain, "have_simulator", lambda sim: False)
    _, path = small_program
    code, _, err = run_cli(capsys, "run", path, images28[0], "--board", "mock", "--sim", "icarus")
    assert code == 2 and "the icarus simulator is not installed: apt-get install iverilog" in err


# ----------------------------------------------------------------------- the old names
@pytest.mark.parametrize("name", sorted(cli._MOVED))
def test_old_names_in_rtlcnn_cli_forward_with_a_warning(name):
    home, attr, _ = cli._MOVED[name]
    with pytest.warns(DeprecationWarning, match=f"rtlcnn.cli.{name} moved to {home}.{attr}"):
        obj = getattr(cli, name)
    if name != "open_board":
        import importlib

        assert obj is getattr(importlib.import_module(home), attr)


def test_old_open_board_keeps_its_keywords(capsys):
    with pytest.warns(DeprecationWarning):
        open_board = cli.open_board
    with open_board("reference", "verilator", None, quiet=True, verbose=False, file=None) as board:
        assert board.kind == "reference"
    with pytest.raises(AttributeError):
        cli.no_such_name  # noqa: B018


def test_board_exports_the_session():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from rtlcnn.board import Board, engine_build, find_bitfile, on_board, pl_clock_mhz
    assert find_bitfile is board_session.find_bitfile and Board is board_session.Board
    assert engine_build is board_session.engine_build and on_board is board_session.on_board
    assert callable(pl_clock_mhz)


def test_the_cli_has_no_board_logic():
    """The board session is rtlcnn.board.session and rtlcnn.mock.session; the CLI only calls it."""
    session_names = {"on_board", "find_bitfile", "bitfile_name", "engine_build", "Board", "ReferenceNet",
                     "open_board", "open_pynq", "resolve_kind", "_make_mock", "_output_to"}
    low_level = ("pynq", "rtlcnn.board.ip", "rtlcnn.board.accelerator", "rtlcnn.core.stream",
                 "rtlcnn.mock.overlay")
    bad = []
    for path in sorted(CLI_DIR.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in session_names:
                bad.append(f"{path.name}: defines {node.name}")
            if isinstance(node, ast.ImportFrom):
                base = {0: [], 1: ["rtlcnn", "cli"], 2: ["rtlcnn"]}[node.level]
                mod = ".".join(base + ([node.module] if node.module else []))
                names = [f"{mod}.{a.name}" for a in node.names]
                if any(n.startswith(low_level) or n.split(".")[0] == "pynq" for n in [mod, *names]):
                    bad.append(f"{path.name}:{node.lineno}: imports {mod}")
            if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "pynq" for a in node.names):
                bad.append(f"{path.name}:{node.lineno}: imports pynq")
    assert not bad, bad
