"""The mock board: the rtlcnn overlay on a cocotb-simulated board (see docs/mock_board.md).

>>> from rtlcnn.mock import MockOverlay          # doctest: +SKIP
>>> with MockOverlay("verilator") as ol:          # doctest: +SKIP
...     acc = rtlcnn.Accelerator(ol)

Importing this package needs pynq (not cocotb); the simulator process needs cocotb and
Verilator or Icarus (the ``sim`` extra).
"""

from .device import MockDevice, SimulatorError
from .overlay import MockOverlay, build_model, layout

__all__ = ["MockOverlay", "MockDevice", "SimulatorError", "build_model", "layout"]
