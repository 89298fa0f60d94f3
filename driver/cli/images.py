"""Image files for ``rtlcnn run`` (and PNG calibration images for ``rtlcnn compile``):
PNG and NPY decoding, checked against the program's input shape (docs/cli.md)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Sequence

import numpy as np

from .common import CliError

__all__ = ["IMAGE_FORMATS_HELP", "png_to_array", "read_images"]

IMAGE_FORMATS_HELP = """\
Image files:
  *.png           one image; grayscale for 1-channel programs, RGB for 3-channel ones;
                  pixel values 0-255 are divided by 255. Its size must equal the
                  program's input (no resizing: resize it yourself first).
  *.npy           float arrays are real input values: (N, C, H, W), (C, H, W), or for
                  1-channel programs (N, H, W) and (H, W). uint8 arrays in the same
                  shapes are divided by 255. int8 arrays are taken as already quantized
                  with the program's input scale.
  a folder        its .png and .npy files, in name order.
"""


def png_to_array(path: Path, channels: int) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError as e:
        raise CliError("reading PNG files needs pillow (pip install pillow); or pass .npy arrays") from e
    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            a = np.asarray(im, dtype=np.uint8)
    except (OSError, ValueError) as e:
        raise CliError(f"{path}: not a readable PNG image ({e})") from e
    return a


def _png_batch(path: Path, want: tuple) -> np.ndarray:
    c, h, w = want
    a = png_to_array(path, c)
    if a.shape[:2] != (h, w):
        raise CliError(f"{path} is {a.shape[1]}x{a.shape[0]} pixels but the program expects {w}x{h} "
                       f"images; resize it first (no resizing is done for you)")
    if c == 1:
        return a[None, None]
    if c == 3:
        return a.transpose(2, 0, 1)[None]
    raise CliError(f"{path}: PNG files can feed 1- or 3-channel programs, this one has {c} "
                   "channels; pass an .npy array")


def _normalize_array(a: np.ndarray, want: tuple, source: str) -> np.ndarray:
    c, h, w = want
    shape_text = f"({c}, {h}, {w})"
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / np.float32(255.0)
    elif a.dtype == np.int8:
        pass
    elif np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float32)
    else:
        raise CliError(f"{source}: array dtype {a.dtype} is not accepted; use float32 real values, "
                       "uint8 pixels (divided by 255) or int8 quantized values")
    if a.ndim == 2 and c == 1:
        a = a[None, None]
    elif a.ndim == 3 and tuple(a.shape) == want:
        a = a[None]
    elif a.ndim == 3 and c == 1:
        a = a[:, None]
    if a.ndim != 4 or tuple(a.shape[1:]) != want:
        raise CliError(
            f"{source}: image shape {tuple(a.shape)} does not match the program's input {shape_text}"
            f"{f' ({h}x{w} pixels)' if c == 1 else ''}; resize or reshape the images to {h}x{w} first"
        )
    return a


def _check_finite(a: np.ndarray, path: Path) -> None:
    """A float array from ``path`` must hold only finite values: say which file, how many, where."""
    if not np.issubdtype(a.dtype, np.floating) or np.all(np.isfinite(a)):
        return
    bad = ~np.isfinite(a)
    count, first = int(bad.sum()), tuple(int(i) for i in np.argwhere(bad)[0])
    raise CliError(f"{path}: the array holds {count} NaN or infinite value{'s' if count > 1 else ''} "
                   f"(first at index {first} of its shape {a.shape}); images must be finite numbers")


def read_images(paths: Sequence[str], input_shape: Sequence[int]):
    """Read PNG/NPY files (or folders of them) into one batch for a program with ``input_shape``.

    Returns ``(images, names)``: float32 (or int8) (N, C, H, W) and one name per image.
    Raises :class:`CliError` naming the file on a missing file, bad format or wrong shape.
    """
    want = tuple(int(v) for v in input_shape)
    batches, names = [], []
    files: List[Path] = []
    for p in paths:  # a folder stands for its .png and .npy files, in name order
        path = Path(p)
        if path.is_dir():
            found = sorted(f for f in path.iterdir() if f.suffix.lower() in (".png", ".npy"))
            if not found:
                raise CliError(f"folder {p} has no .png or .npy files")
            files.extend(found)
        else:
            files.append(path)
    for path in files:
        if not path.is_file():
            raise CliError(f"image file {path} does not exist")
        suffix = path.suffix.lower()
        if suffix == ".png":
            a = _normalize_array(_png_batch(path, want), want, str(path))
            batch_names = [path.name]
        elif suffix == ".npy":
            try:
                a = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise CliError(f"{path}: not a readable .npy array ({e})") from e
            _check_finite(a, path)
            a = _normalize_array(a, want, str(path))
            batch_names = [path.name] if len(a) == 1 else [f"{path.name}[{i}]" for i in range(len(a))]
        else:
            raise CliError(f"{path}: unknown image file type {suffix or '(none)'!r}; "
                           "pass .png or .npy files (see 'rtlcnn run --help')")
        batches.append(a)
        names.extend(batch_names)
    if not batches:
        raise CliError("no images given")
    dtypes = {b.dtype for b in batches}
    if len(dtypes) > 1:
        raise CliError("do not mix int8 (quantized) arrays with float or uint8 images in one call")
    return np.concatenate(batches), names
