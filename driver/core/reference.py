"""The bit-exact reference model: executes an :class:`rtlcnn.Program` in numpy integers.

Every result of rtlcnn is defined here. The RTL (under cocotb), the mock board and the
real board must reproduce :func:`run_int` bit for bit; ``docs/numerics.md`` states the
same contract in prose.

The per-op functions take and return integer numpy arrays with a batch axis:
feature maps are (N, C, H, W), vectors (N, F). Products are summed exactly (float64
matrix products of int8 values are exact while every partial sum stays below 2**53,
which the int32 accumulator bound guarantees), then requantized in int64.
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np

from .program import Op, Program

__all__ = [
    "run",
    "run_int",
    "run_all_int",
    "conv_acc",
    "requant",
    "conv2d_int",
    "linear_int",
    "pool2d_int",
    "op_int",
]


def requant(acc, mult, shift, relu: bool = False, axis: int = 1) -> np.ndarray:
    """Requantize int32 accumulators to int8.

    ``y = clamp((acc * M + 2**(k-1)) >> k, lo, 127)`` with ``k = 31 + shift``, a 64-bit
    product, an arithmetic (floor) shift, and ``lo = 0`` with ReLU, else -128.

    Parameters
    ----------
    acc : ndarray of int
        Accumulators; the channel axis is ``axis``.
    mult, shift : ndarray of int, shape (C,)
        Per-channel multiplier M and shift.
    relu : bool
    axis : int
        Channel axis of ``acc``.
    """
    acc = np.asarray(acc, dtype=np.int64)
    shape = [1] * acc.ndim
    shape[axis] = -1
    m = np.asarray(mult, dtype=np.int64).reshape(shape)
    k = np.asarray(shift, dtype=np.int64).reshape(shape) + 31
    y = (acc * m + (np.int64(1) << (k - 1))) >> k
    return np.clip(y, 0 if relu else -128, 127).astype(np.int8)


def _pads(padding) -> tuple:
    if isinstance(padding, (int, np.integer)):
        p = int(padding)
        return (p, p, p, p)
    t, b, lft, r = (int(v) for v in padding)
    return (t, b, lft, r)


def conv_acc(x: np.ndarray, w: np.ndarray, bias: np.ndarray, stride: int, padding) -> np.ndarray:
    """int64 accumulators (N, O, OH, OW) = bias + conv(x, w), zero padding; ``w`` is
    (O, C, K, KW) (the engine model of :mod:`rtlcnn.core.unfold` uses K != KW)."""
    x = np.asarray(x)
    w = np.asarray(w)
    n, c, h, wd = x.shape
    o, ci, k, kw = w.shape
    if ci != c:
        raise ValueError(f"conv2d: input has {c} channels, weight is {w.shape}")
    t, b, lft, r = _pads(padding)
    xp = np.zeros((n, c, h + t + b, wd + lft + r), dtype=np.float64)
    xp[:, :, t : t + h, lft : lft + wd] = x
    oh = (h + t + b - k) // stride + 1
    ow = (wd + lft + r - kw) // stride + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"conv2d: output would be empty ({oh}x{ow})")
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, kw), axis=(2, 3))
    win = win[:, :, : (oh - 1) * stride + 1 : stride, : (ow - 1) * stride + 1 : stride]
    # (N, C, OH, OW, K, KW) -> (N, OH, OW, C*K*KW) @ (C*K*KW, O)
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * k * kw)
    acc = cols @ w.reshape(o, c * k * kw).astype(np.float64).T
    acc = np.rint(acc).astype(np.int64).reshape(n, oh, ow, o).transpose(0, 3, 1, 2)
    return acc + np.asarray(bias, dtype=np.int64).reshape(1, -1, 1, 1)


def pool2d_int(x, mode: str) -> np.ndarray:
    """2x2, stride-2 pool of int8 maps (N, C, H, W); a last odd row/column is dropped.

    ``mode="max"`` takes the maximum; ``mode="avg"`` is ``(a+b+c+d+2) >> 2`` (the mean,
    rounded half up).
    """
    x = np.asarray(x)
    n, c, h, w = x.shape
    h2, w2 = h // 2, w // 2
    if h2 < 1 or w2 < 1:
        raise ValueError(f"pool2d: input {h}x{w} is smaller than 2x2")
    v = x[:, :, : 2 * h2, : 2 * w2].astype(np.int32).reshape(n, c, h2, 2, w2, 2)
    if mode == "max":
        y = v.max(axis=(3, 5))
    elif mode == "avg":
        y = (v.sum(axis=(3, 5)) + 2) >> 2
    else:
        raise ValueError(f"pool mode must be 'max' or 'avg', got {mode!r}")
    return y.astype(np.int8)


def conv2d_int(
    x,
    w,
    bias,
    mult,
    shift,
    stride: int = 1,
    padding: Union[int, Sequence[int]] = 0,
    relu: bool = False,
    pool: Optional[str] = None,
    out_int32: bool = False,
) -> np.ndarray:
    """Integer convolution layer: conv + bias, requant, ReLU, optional 2x2 pool.

    Parameters
    ----------
    x : ndarray of int8 (N, C, H, W)
    w : ndarray of int8 (O, C, K, K)
    bias, mult, shift : ndarray (O,)
    stride : int
    padding : int or (top, bottom, left, right)
        Zero padding.
    relu : bool
    pool : {None, "max", "avg"}
    out_int32 : bool
        Return the int32 accumulators (bias included) instead of requantized int8.

    Returns
    -------
    ndarray (N, O, OH, OW): int8, or int32 with ``out_int32``.
    """
    w = np.asarray(w)
    if w.ndim != 4 or w.shape[2] != w.shape[3]:
        raise ValueError(f"conv2d: input has {np.shape(x)[1]} channels, weight is {w.shape}")
    acc = conv_acc(x, w, bias, int(stride), padding)
    if out_int32:
        if relu or pool:
            raise ValueError("int32 outputs have no relu or pool")
        return _to_int32(acc)
    y = requant(acc, mult, shift, relu)
    return pool2d_int(y, pool) if pool else y


def linear_int(x, w, bias, mult, shift, relu: bool = False, out_int32: bool = False) -> np.ndarray:
    """Integer fully connected layer: (N, I) int8 and (O, I) int8 weights to (N, O)."""
    x = np.asarray(x)
    x = x.reshape(x.shape[0], -1)
    w = np.asarray(w)
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"linear: input has {x.shape[1]} features, weight is {w.shape}")
    acc = np.rint(x.astype(np.float64) @ w.astype(np.float64).T).astype(np.int64)
    acc += np.asarray(bias, dtype=np.int64)[None, :]
    if out_int32:
        return _to_int32(acc)
    return requant(acc, mult, shift, relu)


def _to_int32(acc: np.ndarray) -> np.ndarray:
    if acc.size and (acc.max() > 2**31 - 1 or acc.min() < -(2**31)):
        raise OverflowError("accumulator left the int32 range")
    return acc.astype(np.int32)


def op_int(op: Op, x: np.ndarray) -> np.ndarray:
    """Execute one program op on a batch of integer inputs."""
    if op.kind == "conv2d":
        return conv2d_int(
            x, op.weight, op.bias, op.mult, op.shift, op.stride, op.padding, op.relu, op.pool, op.out_int32
        )
    if op.kind == "linear":
        return linear_int(x, op.weight, op.bias, op.mult, op.shift, op.relu, op.out_int32)
    if op.kind == "maxpool":
        return pool2d_int(x, "max")
    if op.kind == "avgpool":
        return pool2d_int(x, "avg")
    raise ValueError(f"unknown op kind {op.kind!r}")


#: working memory a chunk of images may take in the largest op (im2col columns, padded
#: map and accumulators, float64): bounds reference.run's peak memory whatever the batch
CHUNK_BYTES = 64 << 20


def image_bytes(program: Program) -> int:
    """Peak working memory of one image in the reference's largest op (bytes)."""
    peak, shape = 0, tuple(int(v) for v in program.input_shape)
    for op in program.ops:
        out = op.out_shape(shape)
        if op.kind == "conv2d":
            c, h, w = shape
            o, _, k, kw = op.weight.shape
            p = int(op.padding)
            oh, ow = (h + 2 * p - k) // int(op.stride) + 1, (w + 2 * p - kw) // int(op.stride) + 1
            need = 8 * (oh * ow * c * k * kw + c * (h + 2 * p) * (w + 2 * p) + 3 * o * oh * ow)
        else:
            need = 8 * (int(np.prod(shape)) + 3 * int(np.prod(out)))
        peak = max(peak, need)
        shape = out
    return peak


def chunk_size(program: Program) -> int:
    """Images per chunk so that a chunk's working memory stays under :data:`CHUNK_BYTES`."""
    return max(1, CHUNK_BYTES // max(1, image_bytes(program)))


def _chunks(program: Program, x: np.ndarray):
    step = chunk_size(program)
    for i in range(0, len(x), step):
        yield x[i:i + step]


def _empty_outputs(program: Program, upto: int) -> list:
    outs = []
    for op, shape in zip(program.ops[:upto + 1], program.shapes()):
        dtype = np.int32 if op.out_int32 else np.int8
        outs.append(np.zeros((0,) + tuple(shape), dtype))
    return outs


def run_all_int(program: Program, images, strict: bool = False) -> list:
    """Raw integer outputs of every op, in order (batch axis first)."""
    x = program.quantize_input(images, strict)
    if len(x) == 0:
        return _empty_outputs(program, len(program.ops) - 1)
    parts = []
    for xc in _chunks(program, x):
        outs = []
        for op in program.ops:
            xc = op_int(op, xc)
            outs.append(xc)
        parts.append(outs)
    return [np.concatenate(p) for p in zip(*parts)]


def run_int(program: Program, images, layer: int = -1, strict: bool = False) -> np.ndarray:
    """Raw integer output of op ``layer`` (default: the last) for a batch of images.

    ``images`` are float (quantized with the program's input scale) or int8 (taken as
    already quantized), shape (N, C, H, W). The batch runs in chunks of
    :func:`chunk_size` images, so memory does not grow with it; an empty batch gives an
    empty result. Float images unlike the calibration images (0..255 pixels for a 0..1
    program, say) give an :class:`rtlcnn.InputRangeWarning`, with ``strict`` an
    :class:`rtlcnn.InputError` (:meth:`rtlcnn.Program.input_domain_problem`).
    """
    n_ops = len(program.ops)
    stop = layer % n_ops if -n_ops <= layer < n_ops else None
    if stop is None:
        raise IndexError(f"layer {layer} out of range for a program of {n_ops} ops")
    x = program.quantize_input(images, strict)
    if len(x) == 0:
        return _empty_outputs(program, stop)[-1]
    parts = []
    for xc in _chunks(program, x):
        for op in program.ops[: stop + 1]:
            xc = op_int(op, xc)
        parts.append(xc)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def run(program: Program, images, strict: bool = False) -> np.ndarray:
    """Dequantized float32 outputs of the program, e.g. (N, classes) logits (see :func:`run_int`)."""
    return program.dequantize_output(run_int(program, images, strict=strict))
