"""rtlcnn: quantized CNNs on a plain-Verilog int8 accelerator for PYNQ boards.

On a PC::

    import rtlcnn
    program = rtlcnn.compile(model, calibration_images)      # needs torch
    program.save("net.rtlcnn.npz")
    acc = rtlcnn.Accelerator(rtlcnn.mock.MockOverlay())      # cocotb-simulated board

On the board (numpy and pynq only)::

    ol = pynq.Overlay("rtlcnn.bit")
    net = rtlcnn.Accelerator(ol).load("net.rtlcnn.npz")
    probs = net.predict(images)

``rtlcnn.reference.run(program, images)`` defines every result bit for bit.
"""

from __future__ import annotations

import importlib

from . import _moved
from .core.errors import (
    AcceleratorError,
    BoardError,
    DmaTimeout,
    InputError,
    InputRangeWarning,
    LayerNotSupported,
    ProgramFormatError,
    RtlcnnError,
)
from .core.program import FORMAT_VERSION, Op, Program
from .core.version import __version__

__all__ = [
    "__version__",
    "Program",
    "Op",
    "FORMAT_VERSION",
    "compile",
    "Accelerator",
    "read_images",
    "reference",
    "models",
    "mock",
    "RtlcnnError",
    "ProgramFormatError",
    "LayerNotSupported",
    "AcceleratorError",
    "BoardError",
    "DmaTimeout",
    "InputError",
    "InputRangeWarning",
]

# The rooms (docs/architecture.md), lowest first: each imports only the rooms before it.
ROOMS = ("core", "board", "compile", "sim", "mock", "bench", "cli")

# Heavy or optional parts load on first use, so that `import rtlcnn` needs only numpy
# (the board has no torch, and no cocotb).
_LAZY_ATTRS = {
    "Accelerator": ("board.accelerator", "Accelerator"),
    "read_images": ("board.images", "read_images"),
}
_LAZY_MODULES = ROOMS + ("models",)

# the flat layout's module paths (rtlcnn.accelerator, ...) keep working: rtlcnn._moved
_moved.install()


def __getattr__(name):
    if name in _LAZY_ATTRS:
        mod, attr = _LAZY_ATTRS[name]
        return getattr(importlib.import_module(f".{mod}", __name__), attr)
    if name in _LAZY_MODULES:
        # rtlcnn.compile is the package, and called it compiles (rtlcnn.compile(model, images))
        return importlib.import_module(f".{name}", __name__)
    if name in _moved.MOVED:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'rtlcnn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
