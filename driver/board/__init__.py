"""rtlcnn.board: running programs on an overlay. numpy and pynq only (no torch, no cocotb).

- :mod:`~rtlcnn.board.overlay_spec`: the overlay description (``overlay_spec.txt``).
- :mod:`~rtlcnn.board.ip`: finding the engine and the DMA in an overlay, pynq's IP driver.
- :mod:`~rtlcnn.board.dma`: the AXI DMA's simple-mode registers (PG021), for the driver and the mock.
- :mod:`~rtlcnn.board.accelerator`: :class:`Accelerator`: jobs and command streams on the engine.
- :mod:`~rtlcnn.board.network`: :class:`Network`, a program loaded on it (``predict``, profiles).
- :mod:`~rtlcnn.board.session`: a board session: find the bitstream, open the overlay,
  read the engine's build (:class:`Board`, :func:`find_bitfile`, :func:`engine_build`);
  ``rtlcnn.mock.session.open_board`` opens any board, the mock board included.
"""

from __future__ import annotations

import importlib

__all__ = ["Accelerator", "Network", "Board", "ReferenceNet", "engine_build", "find_bitfile", "on_board",
           "open_pynq", "reference_board", "pl_clock_mhz"]

_LAZY = {
    "Accelerator": "accelerator",
    "Network": "network",
    "Board": "session",
    "ReferenceNet": "session",
    "open_pynq": "session",
    "reference_board": "session",
    "engine_build": "session",
    "find_bitfile": "session",
    "on_board": "session",
    "pl_clock_mhz": "ip",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
