"""The overlay description: one file of names, widths, addresses, clock and engine parameters.

``overlay_spec.txt`` (installed beside this module) is read by the block-design Tcl
(``overlay/common/spec.tcl``), by the driver (:mod:`rtlcnn.ip`) and by the mock board, so
the three cannot drift apart; ``tests/overlay`` checks the recorded block design against it.
Pure Python, no third-party imports: it runs on the board and on a PC alike.

>>> from rtlcnn import overlay_spec
>>> spec = overlay_spec.load()
>>> spec.accel_name, spec.dma_name, spec.board("pynq_z2").clk_mhz
('rtlcnn_0', 'axi_dma_0', 100.0)

``python -m rtlcnn.overlay_spec [board]`` prints the description.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Tuple

__all__ = [
    "SPEC_FILE",
    "DEFAULT_BOARD",
    "SpecError",
    "BoardSpec",
    "OverlaySpec",
    "parse",
    "from_dict",
    "read",
    "load",
]

SPEC_FILE = Path(__file__).with_name("overlay_spec.txt")
DEFAULT_BOARD = "pynq_z2"
FORMAT = 1


class SpecError(ValueError):
    """The overlay description is malformed or lacks a key (a packaging or editing error)."""


def parse(text: str, source: str = "<text>") -> Dict[str, str]:
    """Parse the ``key value`` format into a flat dict (the same rules as spec.tcl).

    Blank lines and lines whose first non-blank character is ``#`` are skipped; the key is
    the first word, the value the rest of the line stripped. A duplicate key or a key
    without a value is an error.
    """
    out: Dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) != 2:
            raise SpecError(f"{source}:{lineno}: key {parts[0]!r} has no value")
        key, value = parts[0], parts[1].strip()
        if key in out:
            raise SpecError(f"{source}:{lineno}: duplicate key {key!r}")
        out[key] = value
    return out


def read(path: Optional[os.PathLike] = None) -> Dict[str, str]:
    """The flat ``key -> value`` dict of a description file (default: the installed one)."""
    path = Path(path) if path is not None else SPEC_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(
            f"cannot read the overlay description {path}: {exc}; reinstall rtlcnn "
            f"(the file ships as package data)"
        ) from exc
    return parse(text, str(path))


def _int(raw: Dict[str, str], key: str) -> int:
    try:
        return int(_str(raw, key), 0)
    except ValueError:
        raise SpecError(f"overlay description: {key} = {raw[key]!r} is not an integer") from None


def _str(raw: Dict[str, str], key: str) -> str:
    try:
        return raw[key]
    except KeyError:
        raise SpecError(f"overlay description has no key {key!r}") from None


@dataclass(frozen=True)
class BoardSpec:
    """What differs between boards: device, PS ports, clock, address map, engine size."""

    name: str
    part: str
    board_part: str
    pynq_board: str  # the board name a PYNQ image reports ($BOARD)
    clk_mhz: float  # FCLK0 / pl_clk0, the clock of the accelerator and the DMA
    accel_base: int
    accel_range: int
    dma_base: int
    dma_range: int
    ddr_base: int
    ddr_range: int
    ps: Dict[str, str] = field(default_factory=dict)  # ps.* keys without the prefix
    # ps.exclude_segs: the PS data port's segments the DMA must not see (all but ddr_seg)
    exclude_segs: Tuple[str, ...] = ()
    engine: Dict[str, int] = field(default_factory=dict)  # Verilog parameters of rtlcnn_top


@dataclass(frozen=True)
class OverlaySpec:
    """The whole description; ``raw`` keeps every key as written."""

    raw: Dict[str, str]
    vivado_version: str
    design_name: str
    output_name: str
    accel_name: str
    accel_module: str
    accel_vlnv: str
    dma_name: str
    dma_vlnv: str
    dma_include_sg: bool
    dma_stream_bits: int
    dma_mm_bits: int
    dma_length_bits: int
    dma_addr_bits: int
    boards: Dict[str, BoardSpec]

    @property
    def max_transfer_bytes(self) -> int:
        """Largest DMA transfer in bytes: 2**length_bits - 1, rounded down to whole beats."""
        beat = self.dma_stream_bits // 8
        return ((1 << self.dma_length_bits) - 1) // beat * beat

    def board(self, name: Optional[str] = None) -> BoardSpec:
        """The board called ``name`` (our key, e.g. ``pynq_z2``, or PYNQ's, e.g. ``Pynq-Z2``).

        ``None`` picks the board the PYNQ image reports in ``$BOARD`` when it is one of
        ours, else :data:`DEFAULT_BOARD`.
        """
        if name is None:
            env = os.environ.get("BOARD", "")
            name = env if self._find(env) else DEFAULT_BOARD
        found = self._find(name)
        if found is None:
            raise SpecError(
                f"no board {name!r} in the overlay description; known: "
                + ", ".join(f"{b.name} ({b.pynq_board})" for b in self.boards.values())
            )
        return found

    def _find(self, name: str) -> Optional[BoardSpec]:
        if name in self.boards:
            return self.boards[name]
        for b in self.boards.values():
            if name and name.lower() == b.pynq_board.lower():
                return b
        return None


def _board(raw: Dict[str, str], name: str) -> BoardSpec:
    pre = f"board.{name}."

    def sub(prefix: str) -> Dict[str, str]:
        return {k[len(pre + prefix):]: v for k, v in raw.items() if k.startswith(pre + prefix)}

    return BoardSpec(
        name=name,
        part=_str(raw, pre + "part"),
        board_part=_str(raw, pre + "board_part"),
        pynq_board=_str(raw, pre + "pynq_board"),
        clk_mhz=float(_str(raw, pre + "clk_mhz")),
        accel_base=_int(raw, pre + "accel.base"),
        accel_range=_int(raw, pre + "accel.range"),
        dma_base=_int(raw, pre + "dma.base"),
        dma_range=_int(raw, pre + "dma.range"),
        ddr_base=_int(raw, pre + "ddr.base"),
        ddr_range=_int(raw, pre + "ddr.range"),
        ps=sub("ps."),
        exclude_segs=tuple(_str(raw, pre + "ps.exclude_segs").split()),
        engine={k: _int(raw, pre + "engine." + k) for k in sub("engine.")},
    )


def from_dict(raw: Dict[str, str]) -> OverlaySpec:
    """Build an :class:`OverlaySpec` from a flat dict, checking the format version."""
    if _int(raw, "format") != FORMAT:
        raise SpecError(
            f"overlay description format {raw['format']} is not {FORMAT}: "
            f"this rtlcnn is older or newer than its overlay_spec.txt"
        )
    names = sorted({k.split(".")[1] for k in raw if k.startswith("board.") and k.count(".") >= 2})
    return OverlaySpec(
        raw=dict(raw),
        vivado_version=_str(raw, "vivado_version"),
        design_name=_str(raw, "design_name"),
        output_name=_str(raw, "output_name"),
        accel_name=_str(raw, "accel.name"),
        accel_module=_str(raw, "accel.module"),
        accel_vlnv=_str(raw, "accel.vlnv"),
        dma_name=_str(raw, "dma.name"),
        dma_vlnv=_str(raw, "dma.vlnv"),
        dma_include_sg=bool(_int(raw, "dma.include_sg")),
        dma_stream_bits=_int(raw, "dma.stream_bits"),
        dma_mm_bits=_int(raw, "dma.mm_bits"),
        dma_length_bits=_int(raw, "dma.length_bits"),
        dma_addr_bits=_int(raw, "dma.addr_bits"),
        boards={n: _board(raw, n) for n in names},
    )


_CACHE: Dict[str, OverlaySpec] = {}


def load(path: Optional[os.PathLike] = None) -> OverlaySpec:
    """The parsed description (default: the installed ``overlay_spec.txt``; cached)."""
    key = str(Path(path).resolve()) if path is not None else ""
    if key not in _CACHE:
        _CACHE[key] = from_dict(read(path))
    return _CACHE[key]


def _main(argv) -> int:
    spec = load()
    boards = argv[1:] or list(spec.boards)
    print(f"overlay description {SPEC_FILE}")
    print(f"  Vivado {spec.vivado_version}; outputs {spec.output_name}.bit/.hwh")
    print(f"  accelerator {spec.accel_name} ({spec.accel_vlnv})")
    print(
        f"  DMA {spec.dma_name}: simple mode={not spec.dma_include_sg}, "
        f"{spec.dma_stream_bits}-bit streams, {spec.dma_length_bits}-bit length "
        f"(max {spec.max_transfer_bytes} bytes per transfer)"
    )
    for name in boards:
        b = spec.board(name)
        print(f"  {b.name} ({b.pynq_board}, {b.part}): {b.clk_mhz:g} MHz, "
              f"{spec.accel_name}@0x{b.accel_base:08X}, {spec.dma_name}@0x{b.dma_base:08X}, "
              + ", ".join(f"{k}={v}" for k, v in b.engine.items()))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
