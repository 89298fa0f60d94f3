#!/usr/bin/env python3
"""Copy a finished Vivado build's bitstream and hardware handoff to overlay/rtlcnn.bit/.hwh.

FuseSoC's post_build hook of the `pynq_z2` and `zcu104` targets runs this in the build's work
root (FuseSoC copies it there as collect_outputs.py): ``python3 collect_outputs.py <board>``.
pynq loads a bitstream only with its .hwh beside it under the same base name, so both land
as ``<output_name>.bit`` / ``<output_name>.hwh`` (the overlay description's output_name)
in the work root and in the source tree's ``overlay/`` (or ``$RTLCNN_OVERLAY_OUT``).

Before copying it checks that the .hwh is the overlay the driver expects: the engine and
the DMA instance names, the part. Standard library only (Vivado hosts have python3).
"""

from __future__ import annotations

import glob
import importlib.util
import os
import re
import shutil
import sys
from pathlib import Path


def fail(msg: str) -> None:
    print(f"collect_outputs: ERROR: {msg}", file=sys.stderr)
    sys.exit(1)


def source_root(work: Path) -> Path:
    """The checkout holding fusesoc.core, from the EDAM file FuseSoC wrote in the work root."""
    for eda in sorted(work.glob("*.eda.yml")):
        m = re.search(r"^\s*core_file:\s*(\S+)\s*$", eda.read_text(), re.M)
        if m:
            core = (work / m.group(1)).resolve()
            if core.exists():
                return core.parent
    fail(f"no FuseSoC EDAM file (*.eda.yml naming core_file) in {work}")
    raise AssertionError  # unreachable


def load_spec(root: Path):
    """rtlcnn.overlay_spec from the checkout (pure Python; rtlcnn need not be installed)."""
    path = root / "driver" / "board" / "overlay_spec.py"
    mod_spec = importlib.util.spec_from_file_location("rtlcnn_overlay_spec", path)
    module = importlib.util.module_from_spec(mod_spec)
    sys.modules[mod_spec.name] = module  # dataclasses look their module up here
    mod_spec.loader.exec_module(module)
    return module.load(root / "driver" / "board" / "overlay_spec.txt")


def newest(pattern: str, what: str, work: Path) -> Path:
    found = [Path(p) for p in glob.glob(str(work / pattern))]
    if not found:
        fail(f"no {what} ({pattern}) under {work}: did the Vivado build finish?")
    return max(found, key=lambda p: p.stat().st_mtime)


def check_hwh(hwh: Path, spec, board) -> None:
    text = hwh.read_text(errors="replace")
    for name, vlnv in ((spec.accel_name, spec.accel_vlnv), (spec.dma_name, spec.dma_vlnv)):
        if f'INSTANCE="{name}"' not in text:
            fail(f"{hwh} has no instance {name!r} ({vlnv}); the driver looks it up by that name")
    if board.part.lower() not in text.lower():
        fail(f"{hwh} is not for part {board.part} (board {board.name})")


def main(argv) -> int:
    if len(argv) != 2:
        print(__doc__)
        print("usage: python3 collect_outputs.py <board>", file=sys.stderr)
        return 2
    work = Path.cwd()
    root = source_root(work)
    spec = load_spec(root)
    board = spec.board(argv[1])
    design = spec.design_name
    bit = newest(f"*.runs/impl_1/{design}_wrapper.bit", "bitstream", work)
    hwh = newest(f"*.gen/sources_1/bd/{design}/hw_handoff/{design}.hwh", "hardware handoff", work)
    if bit.stat().st_mtime < hwh.stat().st_mtime:
        fail(f"{bit} is older than {hwh}: the bitstream is stale; rebuild")
    check_hwh(hwh, spec, board)
    out_dir = Path(os.environ.get("RTLCNN_OVERLAY_OUT", root / "overlay"))
    out_dir.mkdir(parents=True, exist_ok=True)
    for dest in (work, out_dir):
        shutil.copyfile(bit, dest / f"{spec.output_name}.bit")
        shutil.copyfile(hwh, dest / f"{spec.output_name}.hwh")
    print(
        f"collect_outputs: {board.name}: {bit.name} + {hwh.name} -> "
        f"{out_dir / spec.output_name}.bit/.hwh"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
