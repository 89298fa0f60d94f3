"""The data sets rtlcnn trains and evaluates on (numpy only; no torch).

MNIST
    :func:`load_mnist` reads the standard IDX files from a directory (gzipped or not):
    ``t10k-images-idx3-ubyte`` / ``t10k-labels-idx1-ubyte`` and, if present,
    ``train-images-idx3-ubyte`` / ``train-labels-idx1-ubyte``. The t10k images come
    first, so indices 0-9999 always mean the MNIST test split. :func:`mnist_splits`
    applies the project's rule: t10k images 0-7999 (plus the 60,000 train images where
    the directory has them) for training and validation, t10k images 8000-9999 held out
    and used only to report accuracy.

digits
    :func:`load_digits` takes scikit-learn's bundled 8x8 digits (1797 images, no
    download). The last :data:`DIGITS_HELDOUT` images (indices 1437-1796) are held out;
    the file is ordered roughly by writer, so the held-out images are mostly by writers
    the training images do not contain.

The default MNIST directory is ``$RTLCNN_MNIST_DIR`` or, in a source checkout,
``../shared/data/mnist`` beside the project root. Never copy the data into the repository.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..core.resources import project_root

__all__ = [
    "Splits",
    "mnist_dir",
    "load_mnist",
    "mnist_splits",
    "load_digits",
    "MNIST_HELDOUT",
    "DIGITS_HELDOUT",
    "MNIST_CLASSES",
    "DIGITS_CLASSES",
]

#: t10k indices of the held-out MNIST images (never train, calibrate or tune on them).
MNIST_HELDOUT = range(8000, 10000)
#: how many of the last sklearn digits images are held out.
DIGITS_HELDOUT = 360
MNIST_CLASSES = [str(d) for d in range(10)]
DIGITS_CLASSES = [str(d) for d in range(10)]

_IDX_MAGIC = {3: 0x00000803, 1: 0x00000801}  # unsigned byte data, 3 or 1 dimensions


class Splits(NamedTuple):
    """Training and held-out images, float32 (N, 1, H, W) in [0, 1], labels int64 (N,)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    heldout_images: np.ndarray
    heldout_labels: np.ndarray


def mnist_dir() -> Path:
    """Default MNIST directory: ``$RTLCNN_MNIST_DIR``, else ``<project root>/../shared/data/mnist``."""
    env = os.environ.get("RTLCNN_MNIST_DIR")
    if env:
        return Path(env)
    return project_root().parent / "shared" / "data" / "mnist"


def _find(directory: Path, stem: str) -> Path | None:
    """The file for IDX ``stem`` (e.g. ``t10k-images-idx3-ubyte``), gzipped or not.

    Also accepts the common ``t10k-images.idx3-ubyte`` spelling.
    """
    dotted = stem.replace("-idx", ".idx")
    for name in (stem + ".gz", stem, dotted + ".gz", dotted):
        p = directory / name
        if p.is_file():
            return p
    return None


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 + 4 * ndim:
        raise ValueError(f"{path}: too short for an IDX file ({len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    if magic != _IDX_MAGIC[ndim]:
        raise ValueError(
            f"{path}: not an unsigned-byte IDX file with {ndim} dimension(s) "
            f"(magic 0x{magic:08x}, expected 0x{_IDX_MAGIC[ndim]:08x})"
        )
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    start = 4 + 4 * ndim
    count = int(np.prod(dims))
    if len(data) - start != count:
        raise ValueError(f"{path}: header says {dims} ({count} bytes), file holds {len(data) - start}")
    return np.frombuffer(data, dtype=np.uint8, offset=start).reshape(dims).copy()


def _read_pair(directory: Path, prefix: str) -> tuple[np.ndarray, np.ndarray] | None:
    ipath = _find(directory, f"{prefix}-images-idx3-ubyte")
    lpath = _find(directory, f"{prefix}-labels-idx1-ubyte")
    if ipath is None and lpath is None:
        return None
    if ipath is None or lpath is None:
        have = ipath if lpath is None else lpath
        miss = f"{prefix}-labels-idx1-ubyte[.gz]" if lpath is None else f"{prefix}-images-idx3-ubyte[.gz]"
        raise FileNotFoundError(f"{directory}: found {have.name} but not {miss}")
    images = _read_idx(ipath, 3)
    labels = _read_idx(lpath, 1)
    if len(images) != len(labels):
        raise ValueError(f"{directory}: {len(images)} {prefix} images but {len(labels)} labels")
    return images, labels


def load_mnist(directory: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read MNIST from the standard IDX files.

    Parameters
    ----------
    directory : path, optional
        A folder holding ``t10k-images-idx3-ubyte[.gz]`` and ``t10k-labels-idx1-ubyte[.gz]``
        and optionally ``train-images-idx3-ubyte[.gz]`` / ``train-labels-idx1-ubyte[.gz]``.
        Default: :func:`mnist_dir`.

    Returns
    -------
    images : numpy.ndarray
        uint8 (N, 28, 28): the t10k images first (indices 0-9999), then the train images
        if the folder has them.
    labels : numpy.ndarray
        int64 (N,), digits 0-9.

    Raises
    ------
    FileNotFoundError
        The folder or its t10k files are missing; the message names the folder and the
        files looked for.
    """
    d = Path(directory) if directory is not None else mnist_dir()
    looked_for = "t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]"
    if not d.is_dir():
        raise FileNotFoundError(
            f"MNIST folder {d} does not exist: it should hold {looked_for} (and optionally "
            "the train-* files). Pass directory=... or set RTLCNN_MNIST_DIR."
        )
    test = _read_pair(d, "t10k")
    if test is None:
        raise FileNotFoundError(
            f"MNIST folder {d} lacks {looked_for}. Pass directory=... or set RTLCNN_MNIST_DIR."
        )
    parts = [test]
    train = _read_pair(d, "train")
    if train is not None:
        parts.append(train)
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts]).astype(np.int64)
    return images, labels


def _to_float(images: np.ndarray, full_scale: float) -> np.ndarray:
    x = images.astype(np.float32) / np.float32(full_scale)
    return x[:, None, :, :]


def mnist_splits(directory: str | os.PathLike | None = None, *, train_split: bool = True) -> Splits:
    """MNIST in the project's split, as float32 (N, 1, 28, 28) = pixel / 255.

    Training/validation: t10k images 0-7999, followed by the 60,000 train images when the
    folder has them and ``train_split`` is true. Held out: t10k images 8000-9999, only for
    reporting accuracy.
    """
    images, labels = load_mnist(directory)
    n_test = 10000
    if len(images) < n_test:
        raise ValueError(f"expected the 10,000 t10k images, found {len(images)}")
    train_idx = np.r_[0 : MNIST_HELDOUT.start]
    if train_split:
        train_idx = np.r_[train_idx, n_test : len(images)]
    held_idx = np.r_[MNIST_HELDOUT.start : MNIST_HELDOUT.stop]
    return Splits(
        _to_float(images[train_idx], 255.0),
        labels[train_idx],
        _to_float(images[held_idx], 255.0),
        labels[held_idx],
    )


def load_digits() -> Splits:
    """scikit-learn's bundled 8x8 digits as float32 (N, 1, 8, 8) = value / 16, in [0, 1].

    Training: images 0-1436 (1437 images); held out: the last :data:`DIGITS_HELDOUT`
    images, 1437-1796. Needs scikit-learn (no download: the data ships with it).
    """
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("load_digits needs scikit-learn: pip install 'rtlcnn[train]'") from e
    bunch = _sk_load_digits()
    images = np.asarray(bunch.images, dtype=np.float32)
    labels = np.asarray(bunch.target, dtype=np.int64)
    n_train = len(images) - DIGITS_HELDOUT
    x = _to_float(images, 16.0)
    return Splits(x[:n_train], labels[:n_train], x[n_train:], labels[n_train:])
