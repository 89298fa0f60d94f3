"""The mock board: the rtlcnn overlay on a cocotb-simulated board (see docs/mock_board.md).

>>> from rtlcnn.mock import MockOverlay          # doctest: +SKIP
>>> with MockOverlay("verilator") as ol:          # doctest: +SKIP
...     acc = rtlcnn.Accelerator(ol)

>>> from rtlcnn.mock import open_board           # doctest: +SKIP
>>> with open_board("auto", progress=print) as board:   # doctest: +SKIP
...     net = board.load(program)

:func:`~rtlcnn.mock.session.open_board` opens any board: pynq, mock or the numpy reference.
The names load on first use, so importing this package needs nothing and ``open_board``
opens the reference board without pynq. The mock board itself needs pynq (not cocotb); its
simulator process needs cocotb and Verilator or Icarus (the ``sim`` extra).
"""

from __future__ import annotations

import importlib

__all__ = ["MockOverlay", "MockDevice", "SimulatorError", "build_model", "layout", "open_board"]

_LAZY = {
    "MockOverlay": "overlay",
    "build_model": "overlay",
    "layout": "overlay",
    "MockDevice": "device",
    "SimulatorError": "device",
    "open_board": "session",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
