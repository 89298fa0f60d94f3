"""The ``rtlcnn`` command line: demo, compile, run, info, bench.

``rtlcnn --help`` (or ``python -m rtlcnn --help``) lists the commands; each command's
``--help`` has examples. docs/cli.md describes every option, the accepted image files and
the exit codes:

- 0: done (``demo``: and every output equalled rtlcnn.reference bit for bit);
- 1: the work failed (an accelerator or simulator error, a mismatch with the reference);
- 2: bad arguments or input files (the message names the problem and what to do).

Errors print one line ``rtlcnn: error: ...``; ``--debug`` (or ``RTLCNN_DEBUG=1``) shows
the traceback as well. This module is the dispatcher: the parser, :func:`main` and the
errors' classification; each command is a module of its own (:mod:`.demo`, :mod:`.compile`,
:mod:`.run`, :mod:`.info`, :mod:`.bench`) with ``add_parser`` and ``run``.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import List, Optional, Sequence

from ..core.errors import (
    AcceleratorError,
    BoardError,
    InputError,
    LayerNotSupported,
    ProgramFormatError,
    RtlcnnError,
)
from . import bench, compile, demo, info, run
from .common import PROG, CliError, Formatter, say

__all__ = ["main", "build_parser", "classify"]

#: the commands, in the order of ``rtlcnn --help``
COMMANDS = (demo, compile, run, info, bench)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``rtlcnn: error: ... (see 'rtlcnn demo --help')``."""

    def error(self, message):
        sys.stderr.write(f"{PROG}: error: {message} (see '{self.prog} --help')\n")
        sys.exit(2)


MAIN_EPILOG = """\
examples:
  rtlcnn demo                              classify digits on the mock board (or the board)
  rtlcnn demo --sim icarus --images 8      the same on Icarus Verilog, 8 images per model
  rtlcnn compile mynet.py --calib digits -o mynet.rtlcnn.npz
  rtlcnn run mynet.rtlcnn.npz seven.png two.npy --board reference
  rtlcnn info                              versions, models, engine build parameters
  rtlcnn bench reference                   the figures of docs/benchmarks.md

On a PYNQ board --board auto (the default) loads rtlcnn.bit with pynq.Overlay; elsewhere
it starts the mock board: the engine's Verilog simulated under cocotb.
Exit codes: 0 done, 1 the work failed, 2 bad arguments or files. More: docs/cli.md.
"""


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    common.add_argument("-q", "--quiet", action="store_true", help="less progress output")
    p = _Parser(prog=PROG, formatter_class=Formatter, parents=[common],
                description="rtlcnn: int8 CNNs on a plain-Verilog accelerator for PYNQ boards "
                            "(and on its cocotb-simulated mock board).",
                epilog=MAIN_EPILOG)
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in COMMANDS:
        command.add_parser(sub, common)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; return the exit code (0 done, 1 failed, 2 bad arguments)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    bench_args: List[str] = []
    if "--" in argv:  # everything after -- goes to a benchmark module
        k = argv.index("--")
        argv, bench_args = argv[:k], argv[k + 1:]
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, or a usage error already printed
        return int(e.code or 0)
    if getattr(args, "version", False):
        from .. import __version__

        say(f"rtlcnn {__version__}")
        return 0
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    if bench_args and args.command != "bench":
        sys.stderr.write(f"{PROG}: error: arguments after -- are only for 'rtlcnn bench'\n")
        return 2
    args.bench_args = bench_args
    debug = args.debug or os.environ.get("RTLCNN_DEBUG", "") not in ("", "0")
    args.debug = debug
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130
    except Exception as e:  # noqa: BLE001 - every error becomes one line, traceback with --debug
        code, message = classify(e)
        if isinstance(e, BoardError) and e.log_tail:  # the mock board's build log, captured
            sys.stderr.write(f"--- last lines of {e.log} ---\n{e.log_tail}\n---\n")
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"{PROG}: error: {message}\n")
        if not debug and code == 1 and not isinstance(e, (CliError, BoardError)):
            sys.stderr.write(f"{PROG}: (rerun with --debug for the traceback)\n")
        return code


def classify(e: BaseException):
    """(exit code, one-line message) of an exception."""
    if isinstance(e, (CliError, BoardError)):
        return e.code, str(e)
    if isinstance(e, (ProgramFormatError, InputError, LayerNotSupported, FileNotFoundError)):
        return 2, str(e)
    if isinstance(e, AcceleratorError):
        return 1, f"the accelerator failed: {e}"
    if isinstance(e, RtlcnnError):
        return 1, str(e)
    text = str(e).strip().splitlines()
    return 1, f"{type(e).__name__}: {text[0] if text else ''}"
