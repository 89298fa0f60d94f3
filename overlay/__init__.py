"""The built rtlcnn overlay, shipped with the package when it was built before packaging.

``overlay/rtlcnn.bit`` and ``overlay/rtlcnn.hwh`` are written by the Vivado build
(``fusesoc run --target=pynq_z2 rtlcnn``, docs/board.md) and installed here as package
data when present. This package is registered as a ``pynq.overlays`` entry point, so on a
board ``pynq.Overlay("rtlcnn.bit")`` finds them from any folder. The block-design Tcl
beside them is not installed.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["bitfile"]


def bitfile() -> Path:
    """Path of the installed ``rtlcnn.bit`` (its ``rtlcnn.hwh`` lies beside it).

    Raises
    ------
    FileNotFoundError
        The package was built without an overlay: build it with Vivado (docs/board.md),
        then reinstall, or pass the path of a built ``rtlcnn.bit`` to ``pynq.Overlay``.
    """
    here = Path(__file__).resolve().parent
    bit, hwh = here / "rtlcnn.bit", here / "rtlcnn.hwh"
    missing = [p.name for p in (bit, hwh) if not p.exists()]
    if missing:
        raise FileNotFoundError(
            f"{', '.join(missing)} not installed in {here}: build the overlay with Vivado "
            f"(docs/board.md), copy rtlcnn.bit and rtlcnn.hwh to overlay/ and reinstall rtlcnn"
        )
    return bit
