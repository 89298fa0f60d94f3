"""``rtlcnn run``: the top-1 class of each image file, from a program file or a shipped model.

Only the answers go to stdout; starting the board, progress and the engine's speed go to stderr.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

from ..board.images import IMAGE_FORMATS_HELP, read_images
from ..core.errors import InputError, InputRangeWarning, ProgramFormatError
from ..core.program import Program
from .common import PROG, CliError, Formatter, board_options, class_names, open_session, run_batches, say

__all__ = ["add_parser", "run", "load_program"]

RUN_EPILOG = """\
examples:
  rtlcnn run mynet.rtlcnn.npz seven.png two.png
  rtlcnn run digits eight_by_eight.png     a shipped model by name
  rtlcnn run mynet.rtlcnn.npz batch.npy --board reference
  rtlcnn run mynet.rtlcnn.npz batch.npy --board mock --sim icarus

Prints one line per image: name, top-1 class (the label names stored in the program,
if any) and its score (the dequantized output).

""" + IMAGE_FORMATS_HELP


def load_program(path: str) -> Program:
    """A program file, or the name of a shipped model (``digits``, ``lenet5_mnist``)."""
    p = Path(path)
    if not p.exists():
        from .. import models

        shipped = models.available()
        if path in shipped:
            return models.load(path)
        raise CliError(f"program file {path} does not exist; write one with 'rtlcnn compile', or "
                       f"name a shipped model ({', '.join(shipped) or 'none'})")
    if p.is_dir():
        raise CliError(f"{path} is a folder, not a program file (*.rtlcnn.npz)")
    with open(p, "rb") as fh:
        magic = fh.read(4)
    if magic[:2] != b"PK":
        raise CliError(f"{path} is not an rtlcnn program file (not an .npz archive); program files "
                       "are written by 'rtlcnn compile' or Program.save")
    try:
        return Program.load(p)
    except ProgramFormatError as e:
        raise CliError(f"{e}; recompile it with 'rtlcnn compile'") from e


def run(args) -> int:
    if args.batch < 1:
        raise CliError("--batch must be at least 1")
    program = load_program(args.program)
    images, names = read_images(args.images, program.input_shape)
    if images.dtype != np.int8:  # once for the whole input, not once a batch
        problem = program.input_domain_problem(images)
        if problem and args.strict:
            raise CliError(f"{', '.join(str(p) for p in args.images)}: {problem}")
        if problem:
            print(f"{PROG}: warning: {problem} (--strict makes this an error)", file=sys.stderr,
                  flush=True)
    names_out = class_names(program, int(np.prod(program.output_shape)))
    with open_session(args.board, args.sim, args.bitfile, quiet=args.quiet, verbose=args.debug,
                      file=sys.stderr) as board:  # stdout: only the answers
        net = board.load(program)
        quiet = args.quiet or len(images) <= args.batch  # a progress bar only for long runs
        try:
            with warnings.catch_warnings():  # said once above
                warnings.simplefilter("ignore", InputRangeWarning)
                raw, rows, _ = run_batches(net, images, args.batch, f"classifying on {board.kind}",
                                           quiet, file=sys.stderr)  # stdout: only the answers
        except InputError as e:  # read_images has checked each file; this names the inputs still
            raise CliError(f"{', '.join(str(p) for p in args.images)}: {e}") from e
        clock = board.clock_mhz() if rows else None
    out = program.dequantize_output(raw)
    scores = out.reshape(len(out), -1)
    top = scores.argmax(axis=1)
    width = max(len(n) for n in names)
    for name, k, s in zip(names, top, scores):
        say(f"{name:<{width}}  {names_out[k]}  (score {s[k]:.3f})")
    cycles = sum(r["cycles"] for r in rows)
    if cycles and not args.quiet:
        say(f"[{board.kind}: {cycles / len(images):,.0f} engine cycles/image, "
            f"{len(images) * clock * 1e6 / cycles:,.0f} images/s at {clock:g} MHz]", file=sys.stderr)
    return 0


def add_parser(sub, common) -> None:
    r = sub.add_parser("run", parents=[common, board_options()], formatter_class=Formatter, epilog=RUN_EPILOG,
                       help="classify image files with a program file",
                       description="Run a program file on images and print the top-1 class of each.")
    r.add_argument("program", metavar="PROGRAM",
                   help="a program file (*.rtlcnn.npz) or a shipped model's name (digits, lenet5_mnist)")
    r.add_argument("images", nargs="+", metavar="IMAGE", help="PNG or NPY files, or folders of them")
    r.add_argument("--batch", type=int, default=64, metavar="B",
                   help="images per accelerator call. Default: 64")
    r.add_argument("--strict", action="store_true",
                   help="images unlike the program's calibration images (0..255 values for a 0..1 "
                        "program, saturating values) are an error (exit 2) instead of a warning")
    r.set_defaults(func=run)
