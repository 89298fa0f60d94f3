"""The example programs shipped with rtlcnn (numpy only; no torch).

``lenet5_mnist``
    LeNet-5 on MNIST, input float32 (N, 1, 28, 28) = pixel / 255.
``digits``
    A small CNN on scikit-learn's 8x8 digits, input float32 (N, 1, 8, 8) = value / 16.

Each program's ``meta`` records its held-out accuracy (float and int8), the seed, the
command that made it (``python -m rtlcnn.train ...``) and the class labels. See
``docs/quantization.md``.
"""

from __future__ import annotations

from pathlib import Path

from ..core.program import Program

__all__ = ["available", "load", "path"]

_SUFFIX = ".rtlcnn.npz"
_DIR = Path(__file__).resolve().parent


def available() -> list:
    """Names of the shipped programs, sorted."""
    return sorted(p.name[: -len(_SUFFIX)] for p in _DIR.glob("*" + _SUFFIX))


def path(name: str) -> Path:
    """Path of the shipped program ``name``; LookupError listing the available names."""
    p = _DIR / (name + _SUFFIX)
    if not p.is_file():
        raise LookupError(f"no shipped model {name!r}; available: {', '.join(available()) or 'none'}")
    return p


def load(name: str) -> Program:
    """Load the shipped program ``name`` (e.g. ``"lenet5_mnist"``)."""
    return Program.load(path(name))
