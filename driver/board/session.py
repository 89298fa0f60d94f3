"""A board session: where programs run, found and opened without the command line.

- :func:`on_board`: is this a PYNQ board image?
- :func:`find_bitfile`: the overlay's bitstream (``rtlcnn.bit``, the name from the overlay
  description), looked up in the usual places.
- :class:`Board`: a PYNQ overlay, the mock board or the numpy reference behind one interface
  (``load``, ``build``, ``clock_mhz``, ``close``); :class:`ReferenceNet` is the reference's
  stand-in for :class:`~rtlcnn.board.accelerator.Network`.
- :func:`open_pynq`, :func:`reference_board`: the two boards this room can open; the mock
  board needs the simulator, so ``rtlcnn.mock.session.open_board`` opens all three.
- :func:`engine_build`: the engine's ID, version and build parameters, read from its registers.

numpy and pynq only (pynq imported when an overlay is opened). Errors are
:class:`~rtlcnn.core.errors.BoardError`; progress messages go to a ``progress`` callback,
never to stdout.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import platform
from pathlib import Path
from typing import Any, Callable, Dict, Optional

from ..core.errors import BoardError
from ..core.program import Program
from ..core.resources import project_root

__all__ = ["KINDS", "Progress", "on_board", "bitfile_name", "find_bitfile", "resolve_kind", "ReferenceNet",
           "Board", "reference_board", "open_pynq", "engine_build"]

#: where programs run; "auto" is "pynq" on a board with a bitstream, else "mock"
KINDS = ("auto", "pynq", "mock", "reference")

#: a progress callback: called with one message per step ("loading the overlay ...")
Progress = Optional[Callable[[str], None]]


def on_board() -> bool:
    """True on a PYNQ board image: an ARM Zynq with pynq installed and an FPGA manager."""
    if platform.machine() not in ("armv7l", "aarch64"):
        return False
    if importlib.util.find_spec("pynq") is None:
        return False
    return Path("/sys/class/fpga_manager/fpga0").exists() or bool(os.environ.get("BOARD"))


def bitfile_name() -> str:
    """The bitstream's file name from the overlay description (``rtlcnn.bit``)."""
    try:
        from . import overlay_spec

        return overlay_spec.load().output_name + ".bit"
    except Exception:  # the description is optional for this lookup
        return "rtlcnn.bit"


def find_bitfile(explicit: Optional[str] = None) -> Optional[Path]:
    """The overlay's bitstream: ``explicit``, ``$RTLCNN_BITFILE``, ./rtlcnn.bit, or the one
    installed with the package (``rtlcnn/overlay/``, PYNQ's ``pynq.overlays`` convention).

    The .hwh of the same name must lie beside it (pynq reads both). Returns None when none
    is found; raises :class:`BoardError` when ``explicit`` does not exist.
    """
    if explicit:
        p = Path(explicit)
        if not p.is_file():
            raise BoardError(f"overlay bitstream {p} does not exist; give the path of rtlcnn.bit "
                             f"(with rtlcnn.hwh beside it)")
        return p
    name = bitfile_name()
    candidates = [os.environ.get("RTLCNN_BITFILE"), Path.cwd() / name]
    try:
        spec = importlib.util.find_spec("rtlcnn.overlay")
    except ImportError:
        spec = None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidates.append(Path(folder) / name)
    candidates.append(project_root() / "overlay" / name)  # a source checkout
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    return None


def resolve_kind(kind: str) -> str:
    """``kind`` checked, with "auto" made "pynq" (on a board with a bitstream) or "mock"."""
    if kind not in KINDS:
        raise BoardError(f"unknown board {kind!r}: use one of {', '.join(KINDS)}")
    if kind == "auto":
        return "pynq" if on_board() and find_bitfile() is not None else "mock"
    return kind


class ReferenceNet:
    """The numpy reference behind the Network interface (predict, predict_int, profile)."""

    def __init__(self, program: Program):
        self.program = program

    def predict(self, images, strict: bool = False):
        from ..core import reference

        return reference.run(self.program, images, strict=strict)

    def predict_int(self, images, strict: bool = False):
        from ..core import reference

        return reference.run_int(self.program, images, strict=strict)

    def profile(self):
        return []

    def totals(self):
        return {}


class Board:
    """Where programs run: a PYNQ overlay, the mock board, or the numpy reference.

    ``kind`` is "pynq", "mock" or "reference"; ``overlay`` the pynq (or mock) overlay, None
    for the reference; ``description`` one line saying which board this is.
    """

    def __init__(self, kind: str, overlay=None, description: str = ""):
        self.kind = kind
        self.overlay = overlay
        self.description = description
        self._acc = None

    @property
    def accelerator(self):
        """The :class:`~rtlcnn.board.accelerator.Accelerator` on the overlay (None for the reference)."""
        if self._acc is None and self.overlay is not None:
            from .accelerator import Accelerator

            self._acc = Accelerator(self.overlay)
        return self._acc

    def load(self, program: Program):
        """A Network (or, on the reference board, a :class:`ReferenceNet`) running ``program``."""
        if self.kind == "reference":
            return ReferenceNet(program)
        return self.accelerator.load(program)

    def build(self) -> Optional[Dict[str, int]]:
        """Build parameters read from the engine's registers (None for the reference)."""
        if self.kind == "reference":
            return None
        return engine_build(self.overlay)

    def clock_mhz(self) -> float:
        """The overlay's clock (PS FCLK0), else the engine's hint, else the spec's default."""
        if self.kind == "mock":
            return float(self.overlay.clock_mhz)
        from . import ip

        return ip.pl_clock_mhz(self.overlay if self.kind == "pynq" else None)

    def close(self) -> None:
        """Stop the mock board's simulator; a pynq overlay stays loaded on the FPGA."""
        close = getattr(self.overlay, "close", None)
        if self.kind == "mock" and close is not None:
            close()

    def __repr__(self):
        return f"Board({self.kind!r}, {self.description!r})"


def reference_board() -> Board:
    """The numpy reference as a board: no accelerator, nothing to open."""
    return Board("reference", None, "rtlcnn.reference (numpy on the CPU, no accelerator)")


def open_pynq(bitfile: Optional[str] = None, progress: Progress = None) -> Board:
    """Load the overlay (``bitfile`` or :func:`find_bitfile`'s) onto the FPGA with ``pynq.Overlay``."""
    path = find_bitfile(bitfile)
    if path is None:
        raise BoardError(f"no overlay bitstream found: put {bitfile_name()} (and its .hwh) in "
                         "the current folder, set RTLCNN_BITFILE, or pass --bitfile")
    try:
        import pynq
    except ImportError as e:
        raise BoardError("--board pynq needs the pynq package (a PYNQ board image has it); "
                         "on a PC use --board mock") from e
    if progress is not None:
        progress(f"loading the overlay {path} onto the FPGA...")
    return Board("pynq", pynq.Overlay(str(path)), f"PYNQ overlay {path}")


def engine_build(overlay) -> Dict[str, Any]:
    """ID, version and build parameters read from the engine's registers (docs/register_map.md)."""
    from ..core import stream
    from . import ip as _ip

    ip, _dma = _ip.find_ips(overlay)
    ident = int(ip.read(stream.REG_ID))
    version = int(ip.read(stream.REG_VERSION))
    out: Dict[str, Any] = {
        "ID": ident.to_bytes(4, "big").decode("ascii", "replace") if ident else "0",
        "VERSION": f"{version >> 16}.{version & 0xFFFF}",
    }
    out.update({k.upper(): v for k, v in _as_dict(stream.Build.from_registers(ip.read)).items()})
    return out


def _as_dict(obj) -> Dict[str, Any]:
    if isinstance(obj, dict):
        return dict(obj)
    if dataclasses.is_dataclass(obj):
        return dataclasses.asdict(obj)
    if hasattr(obj, "_asdict"):
        return dict(obj._asdict())
    return {k: v for k, v in vars(obj).items() if not k.startswith("_")}
