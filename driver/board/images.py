"""Image files to a batch for a program: PNG (any bit depth and mode) and NPY, one loader
for ``rtlcnn run``, ``rtlcnn compile`` and Python (``rtlcnn.read_images``).

Pixels are scaled by their real full scale: an 8-bit PNG (and palette, gray+alpha, RGBA)
by 255, a 16-bit PNG by 65535, a 1-, 2- or 4-bit gray PNG by 1, 3 or 15; so the same
picture saved at 8 and at 16 bits gives the same float values (exactly, when the 16-bit
one is the 8-bit one times 257). Pillow decodes PNG (it is on PYNQ images); numpy arrays
need nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Sequence

import numpy as np

from ..core.errors import InputError

__all__ = ["IMAGE_FORMATS_HELP", "read_png", "read_images", "array_images"]

IMAGE_FORMATS_HELP = """\
Image files:
  *.png           one image; grayscale for 1-channel programs, RGB for 3-channel ones
                  (alpha dropped, gray replicated); pixels divided by their full scale:
                  255 for 8-bit images, 65535 for 16-bit, 2**bits - 1 for 1/2/4-bit gray.
                  Its size must equal the program's input (no resizing: resize it first).
  *.npy           float arrays are real input values: (N, C, H, W), (C, H, W), or for
                  1-channel programs (N, H, W) and (H, W). uint8 arrays in the same
                  shapes are divided by 255, uint16 by 65535. int8 arrays are taken as
                  already quantized with the program's input scale.
  a folder        its .png and .npy files, in name order.
"""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_depth(path: Path) -> tuple:
    """(bit depth, colour type) from the PNG's IHDR chunk."""
    with open(path, "rb") as f:
        head = f.read(33)
    if len(head) < 26 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise InputError(f"{path}: not a readable PNG image (no PNG signature and IHDR chunk)")
    return head[24], head[25]


def read_png(path, channels: int) -> np.ndarray:
    """One PNG as float32 (H, W) for 1 channel or (H, W, 3) for 3, in 0..1 of its full scale."""
    path = Path(path)
    try:
        from PIL import Image
    except ImportError as e:
        raise InputError("reading PNG files needs pillow (pip install pillow); or pass .npy arrays") from e
    depth, colour = _png_depth(path)
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):  # 16-bit (or deep) gray
                a = np.asarray(im).astype(np.float64) / float((1 << depth) - 1)
                a = a if channels == 1 else np.repeat(a[:, :, None], 3, axis=2)
            elif im.mode == "L" and colour == 0 and depth < 8:  # 1/2/4-bit gray, values 0..2**d-1
                a = np.asarray(im, dtype=np.float64) / float((1 << depth) - 1)
                a = a if channels == 1 else np.repeat(a[:, :, None], 3, axis=2)
            else:  # 8-bit gray, gray+alpha, palette, RGB(A), mode "1" (L gives 0 / 255), and
                # 16-bit colour, of which Pillow keeps 8 bits (the top byte): all / 255
                a = np.asarray(im.convert("L" if channels == 1 else "RGB"), dtype=np.float64) / 255.0
    except InputError:
        raise
    except Exception as e:  # OSError, ValueError, SyntaxError (PIL), DecompressionBombError, ...
        raise InputError(f"{path}: not a readable PNG image ({e})") from e
    return a.astype(np.float32)


def _png_batch(path: Path, want: tuple) -> np.ndarray:
    c, h, w = want
    if c not in (1, 3):
        raise InputError(f"{path}: PNG files can feed 1- or 3-channel programs, this one has {c} "
                         "channels; pass an .npy array")
    a = read_png(path, c)
    if a.shape[:2] != (h, w):
        raise InputError(f"{path} is {a.shape[1]}x{a.shape[0]} pixels but the program expects {w}x{h} "
                         f"images; resize it first (no resizing is done for you)")
    return a[None, None] if c == 1 else a.transpose(2, 0, 1)[None]


def array_images(a: np.ndarray, input_shape: Sequence[int], source: str = "images") -> np.ndarray:
    """An array of images as a batch for ``input_shape``: uint8 / 255, uint16 / 65535,
    float as real values, int8 as quantized values; (H, W), (N, H, W) and (C, H, W) shapes
    made (N, C, H, W)."""
    c, h, w = (int(v) for v in input_shape)
    want = (c, h, w)
    a = np.asarray(a)
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / np.float32(255.0)
    elif a.dtype == np.uint16:
        a = a.astype(np.float32) / np.float32(65535.0)
    elif a.dtype == np.int8:
        pass
    elif np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float32)
        if not np.all(np.isfinite(a)):
            bad = ~np.isfinite(a)
            count, first = int(bad.sum()), tuple(int(i) for i in np.argwhere(bad)[0])
            raise InputError(f"{source}: the array holds {count} NaN or infinite value"
                             f"{'s' if count > 1 else ''} (first at index {first} of its shape {a.shape}); "
                             "images must be finite numbers")
    else:
        raise InputError(f"{source}: array dtype {a.dtype} is not accepted; use float32 real values, "
                         "uint8 / uint16 pixels (divided by 255 / 65535) or int8 quantized values")
    if a.ndim == 2 and c == 1:
        a = a[None, None]
    elif a.ndim == 3 and tuple(a.shape) == want:
        a = a[None]
    elif a.ndim == 3 and c == 1:
        a = a[:, None]
    if a.ndim != 4 or tuple(a.shape[1:]) != want:
        raise InputError(
            f"{source}: image shape {tuple(a.shape)} does not match the program's input ({c}, {h}, {w})"
            f"{f' ({h}x{w} pixels)' if c == 1 else ''}; resize or reshape the images to {h}x{w} first"
        )
    return a


def read_images(paths, input_shape) -> tuple:
    """Read PNG/NPY files (or folders of them) into one batch for a program.

    ``input_shape`` is the program's (C, H, W) (or the :class:`rtlcnn.Program` itself).
    Returns ``(images, names)``: float32 (or int8) (N, C, H, W) and one name per image.
    Raises :class:`rtlcnn.InputError` naming the file on a missing file, bad format or
    wrong shape.
    """
    if hasattr(input_shape, "input_shape"):
        input_shape = input_shape.input_shape
    if isinstance(paths, (str, Path)):
        paths = [paths]
    want = tuple(int(v) for v in input_shape)
    batches, names = [], []
    files: List[Path] = []
    for p in paths:  # a folder stands for its .png and .npy files, in name order
        path = Path(p)
        if path.is_dir():
            found = sorted(f for f in path.iterdir() if f.suffix.lower() in (".png", ".npy"))
            if not found:
                raise InputError(f"folder {p} has no .png or .npy files")
            files.extend(found)
        else:
            files.append(path)
    for path in files:
        if not path.is_file():
            raise InputError(f"image file {path} does not exist")
        suffix = path.suffix.lower()
        if suffix == ".png":
            a = _png_batch(path, want)
            batch_names = [path.name]
        elif suffix == ".npy":
            try:
                raw = np.load(path, allow_pickle=False)
            except Exception as e:  # OSError, ValueError, EOFError, ... on damaged files
                raise InputError(f"{path}: not a readable .npy array ({e})") from e
            a = array_images(raw, want, str(path))
            batch_names = [path.name] if len(a) == 1 else [f"{path.name}[{i}]" for i in range(len(a))]
        else:
            raise InputError(f"{path}: unknown image file type {suffix or '(none)'!r}; "
                             "pass .png or .npy files (see 'rtlcnn run --help')")
        batches.append(a)
        names.extend(batch_names)
    if not batches:
        raise InputError("no images given")
    if len({b.dtype for b in batches}) > 1:
        raise InputError("do not mix int8 (quantized) arrays with float or uint8 images in one call")
    return np.concatenate(batches), names
