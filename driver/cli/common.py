"""What the commands share: :class:`CliError`, printing, the progress bar, the board options
and the board session of a command, running a program in batches."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import time
from typing import Any, Dict, List, Optional

import numpy as np

from ..board.session import KINDS as BOARDS
from ..core.program import Program
from ..mock.session import SIMS, open_board

__all__ = ["PROG", "BOARDS", "SIMS", "CliError", "say", "Formatter", "board_options", "progress_bar",
           "open_session", "run_batches", "add_profiles", "measured_over", "class_names"]

PROG = "rtlcnn"


class CliError(Exception):
    """A problem the user can fix: printed as ``rtlcnn: error: <message>``, exit ``code``."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


def say(*parts, **kw) -> None:
    print(*parts, **kw, flush=True)


# ------------------------------------------------------------------------------ options
class Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog):
        super().__init__(prog, max_help_position=30, width=min(100, shutil.get_terminal_size().columns))


def board_options(*extra_boards: str) -> argparse.ArgumentParser:
    """A parent parser with --board, --sim and --bitfile (``extra_boards``: e.g. "none")."""
    g = argparse.ArgumentParser(add_help=False)
    kinds = BOARDS + extra_boards
    g.add_argument("--board", default="auto", choices=kinds, metavar="{" + ",".join(kinds) + "}",
                   help="where to run: auto (pynq on a board, else mock), pynq, mock, or "
                        "reference (numpy, no accelerator)"
                        + (", or none (no board)" if extra_boards else "") + ". Default: auto")
    g.add_argument("--sim", default="verilator", choices=SIMS,
                   help="simulator of the mock board. Default: verilator")
    g.add_argument("--bitfile", metavar="PATH",
                   help="the overlay's rtlcnn.bit on a board (default: ./rtlcnn.bit, "
                        "$RTLCNN_BITFILE or the one in the package)")
    return g


# ----------------------------------------------------------------------------- progress
def progress_bar(iterable=None, total=None, desc="", unit="img", quiet=False, file=None):
    """A tqdm bar on a terminal (tqdm: PYNQ images and the [train] extra), else one line at the end."""
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - depends on the environment
        tqdm = None
    file = file or sys.stdout
    if tqdm is not None and file.isatty():
        return tqdm(iterable, total=total, desc=desc, unit=unit, disable=quiet, leave=True,
                    dynamic_ncols=True, file=file)

    class _Plain:  # one line at the end (logs, pipes); the same small interface as tqdm
        def __init__(self):
            self.n = 0
            self.t0 = time.perf_counter()

        def update(self, k=1):
            self.n += k

        def close(self):
            if not quiet:
                say(f"{desc}: {self.n} {unit} in {time.perf_counter() - self.t0:.1f} s", file=file)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.close()

    return _Plain()


# ------------------------------------------------------------------------------- boards
@contextlib.contextmanager
def open_session(kind: str = "auto", sim: str = "verilator", bitfile: Optional[str] = None,
                 quiet: bool = False, verbose: bool = False, file=None, progress=None):
    """A command's board: :func:`rtlcnn.mock.session.open_board`, its progress printed to
    ``file`` (default stdout) unless ``quiet``."""
    if progress is None and not quiet:
        def progress(message: str) -> None:
            say(message, file=file)

    with open_board(kind, sim, bitfile, progress=progress, verbose=verbose) as board:
        yield board


# ------------------------------------------------------------------------------ running
def run_batches(net, images, batch: int, desc: str, quiet: bool, file=None):
    """``net.predict_int`` in batches with a progress bar; (raw outputs, summed profile, seconds)."""
    outs, rows = [], None
    bar = progress_bar(total=len(images), desc=desc, quiet=quiet, file=file)
    t0 = time.perf_counter()
    try:
        for i in range(0, len(images), batch):
            outs.append(np.asarray(net.predict_int(images[i:i + batch])))
            rows = add_profiles(rows, net.profile() or [])
            bar.update(min(batch, len(images) - i))
    finally:
        bar.close()
    return np.concatenate(outs), rows or [], time.perf_counter() - t0


_SUM_FIELDS = ("jobs", "cycles", "mac_cycles", "in_stall", "out_stall", "macs", "dma_bytes", "wall_s")


def add_profiles(total: Optional[List[Dict[str, Any]]], rows: List[Dict[str, Any]]):
    """Sum per-layer profiles of several ``predict`` calls (``Network.profile()`` covers one).

    Utilization is recomputed as the cycle-weighted mean, i.e. MACs / (cycles x MAC array).
    """
    if not total:
        return [dict(r) for r in rows]
    out = []
    for t, r in zip(total, rows):
        m = dict(t)
        for k in _SUM_FIELDS:
            if k in r:
                m[k] = t.get(k, 0) + r[k]
        busy = t.get("utilization", 0) * t.get("cycles", 0) + r.get("utilization", 0) * r.get("cycles", 0)
        m["utilization"] = busy / m["cycles"] if m.get("cycles") else 0.0
        out.append(m)
    return out


def measured_over(images: int, batch: Optional[int]) -> str:
    """How per-image cycles were measured: "mean over 32 images in batches of 8"."""
    return f"mean over {images} images" + (f" in batches of {batch}" if batch else "")


def class_names(program: Program, n: int) -> List[str]:
    """The program's class names (``meta["labels"]`` or ``meta["classes"]``), else "0".."n-1"."""
    meta = program.meta or {}
    for key in ("labels", "classes"):
        v = meta.get(key)
        if isinstance(v, (list, tuple)) and len(v) == n:
            return [str(x) for x in v]
    return [str(i) for i in range(n)]
