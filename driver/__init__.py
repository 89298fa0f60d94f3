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

from .errors import (
    AcceleratorError,
    DmaTimeout,
    InputError,
    LayerNotSupported,
    ProgramFormatError,
    RtlcnnError,
)
from .program import FORMAT_VERSION, Op, Program

__version__ = "0.1.0"

__all__ = [
    "Program",
    "Op",
    "FORMAT_VERSION",
    "compile",
    "Accelerator",
    "reference",
    "models",
    "mock",
    "RtlcnnError",
    "ProgramFormatError",
    "LayerNotSupported",
    "AcceleratorError",
    "DmaTimeout",
    "InputError",
]

# Heavy or optional parts load on first use, so that `import rtlcnn` needs only numpy
# (the board has no torch, and no cocotb).
_LAZY_ATTRS = {
    "compile": ("compiler", "compile"),
    "Accelerator": ("accelerator", "Accelerator"),
}
_LAZY_MODULES = ("reference", "models", "mock", "qat", "datasets", "stream", "toolchain")


def __getattr__(name):
    if name in _LAZY_ATTRS:
        mod, attr = _LAZY_ATTRS[name]
        return getattr(importlib.import_module(f".{mod}", __name__), attr)
    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'rtlcnn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
