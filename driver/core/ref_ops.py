"""The per-op integer functions of the reference model (re-exported by :mod:`rtlcnn.core.reference`).

They take and return integer numpy arrays with a batch axis: feature maps are
(N, C, H, W), vectors (N, F). Products are summed exactly (float64 matrix products of
int8 values are exact while every partial sum stays below 2**53, which the int32
accumulator bound guarantees), then requantized in int64. docs/numerics.md states each
formula in prose, with worked examples.
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np

from .ops import pool_out_size

__all__ = ["requant", "conv_acc", "conv2d_int", "linear_int", "pool2d_int", "pool_int",
           "pool_divisors", "mean_half_up", "globalavgpool_int", "add_int", "concat_int"]


def _lo_hi(relu: bool, act_min: int, act_max: int) -> tuple:
    return max(int(act_min), 0 if relu else -128), int(act_max)


def requant(acc, mult, shift, relu: bool = False, axis: int = 1, act_min: int = -128,
            act_max: int = 127) -> np.ndarray:
    """Requantize int32 accumulators to int8.

    ``y = clamp((acc * M + 2**(k-1)) >> k, lo, hi)`` with ``k = 31 + shift``, a 64-bit
    product, an arithmetic (floor) shift, ``lo = max(act_min, 0 if relu else -128)`` and
    ``hi = act_max``.

    Parameters
    ----------
    acc : ndarray of int
        Accumulators; the channel axis is ``axis``.
    mult, shift : ndarray of int, shape (C,)
        Per-channel multiplier M and shift.
    relu : bool
    axis : int
        Channel axis of ``acc``.
    act_min, act_max : int
        Saturation bounds (ReLU6 and the like), within [-128, 127].
    """
    acc = np.asarray(acc, dtype=np.int64)
    shape = [1] * acc.ndim
    shape[axis] = -1
    m = np.asarray(mult, dtype=np.int64).reshape(shape)
    k = np.asarray(shift, dtype=np.int64).reshape(shape) + 31
    y = (acc * m + (np.int64(1) << (k - 1))) >> k
    return np.clip(y, *_lo_hi(relu, act_min, act_max)).astype(np.int8)


def _pads(padding) -> tuple:
    if isinstance(padding, (int, np.integer)):
        p = int(padding)
        return (p, p, p, p)
    t, b, lft, r = (int(v) for v in padding)
    return (t, b, lft, r)


def conv_acc(x: np.ndarray, w: np.ndarray, bias: np.ndarray, stride: int, padding,
             groups: int = 1) -> np.ndarray:
    """int64 accumulators (N, O, OH, OW) = bias + conv(x, w), zero padding; ``w`` is
    (O, C/groups, K, KW) (the engine model of :mod:`rtlcnn.core.unfold` uses K != KW);
    group g's outputs O/groups * g ... read input channels C/groups * g ..."""
    x = np.asarray(x)
    w = np.asarray(w)
    n, c, h, wd = x.shape
    o, ci, k, kw = w.shape
    g = int(groups)
    if ci * g != c or o % g:
        raise ValueError(f"conv2d: input has {c} channels, weight is {w.shape}, groups {g}")
    t, b, lft, r = _pads(padding)
    xp = np.zeros((n, c, h + t + b, wd + lft + r), dtype=np.float64)
    xp[:, :, t : t + h, lft : lft + wd] = x
    oh = (h + t + b - k) // stride + 1
    ow = (wd + lft + r - kw) // stride + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"conv2d: output would be empty ({oh}x{ow})")
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, kw), axis=(2, 3))
    win = win[:, :, : (oh - 1) * stride + 1 : stride, : (ow - 1) * stride + 1 : stride]
    if g == 1:
        # (N, C, OH, OW, K, KW) -> (N, OH, OW, C*K*KW) @ (C*K*KW, O)
        cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * k * kw)
        acc = cols @ w.reshape(o, c * k * kw).astype(np.float64).T
    else:  # per group: (G, N*OH*OW, C/G*K*KW) @ (G, C/G*K*KW, O/G)
        cols = win.reshape(n, g, ci, oh, ow, k, kw).transpose(1, 0, 3, 4, 2, 5, 6)
        cols = cols.reshape(g, n * oh * ow, ci * k * kw)
        wg = w.reshape(g, o // g, ci * k * kw).astype(np.float64).transpose(0, 2, 1)
        acc = np.matmul(cols, wg).transpose(1, 0, 2).reshape(n * oh * ow, o)
    acc = np.rint(acc).astype(np.int64).reshape(n, oh, ow, o).transpose(0, 3, 1, 2)
    return acc + np.asarray(bias, dtype=np.int64).reshape(1, -1, 1, 1)


def mean_half_up(total, n) -> np.ndarray:
    """``floor((2*total + n) / (2*n))``: the mean ``total / n`` rounded half up (towards
    +infinity), exactly in int64; for ``n = 4`` it is ``(total + 2) >> 2``."""
    total = np.asarray(total, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    return (2 * total + n) // (2 * n)


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


def pool_divisors(n: int, kernel: int, stride: int, padding: int, ceil_mode: bool,
                  count_include_pad: bool) -> np.ndarray:
    """Per output position along one axis of length ``n``, the number of positions an
    average counts (PyTorch's): with ``count_include_pad`` the window clipped to the
    padded input, else its real elements. A 2-D window's divisor is the product of its
    row's and its column's."""
    out = pool_out_size(n, kernel, stride, padding, ceil_mode)
    start = np.arange(out, dtype=np.int64) * stride - padding
    end = np.minimum(start + kernel, n + padding)
    if count_include_pad:
        return end - start
    return np.minimum(end, n) - np.maximum(start, 0)


def pool_int(x, mode: str, kernel: int = 2, stride: int = 2, padding: int = 0,
             ceil_mode: bool = False, count_include_pad: bool = True) -> np.ndarray:
    """k x k pool of int8 maps (N, C, H, W) with PyTorch's stride, padding and ceil_mode.

    ``mode="max"``: the maximum of the window, padding counting as -128 (every window
    holds a real element, so this is PyTorch's -inf padding); ``mode="avg"``: the
    window's sum (padding counts 0) over its divisor :func:`pool_divisors`, rounded half
    up (:func:`mean_half_up`). The defaults are :func:`pool2d_int`.
    """
    x = np.asarray(x)
    k, s, p = int(kernel), int(stride), int(padding)
    if (k, s, p) == (2, 2, 0) and not ceil_mode:
        return pool2d_int(x, mode)
    if mode not in ("max", "avg"):
        raise ValueError(f"pool mode must be 'max' or 'avg', got {mode!r}")
    n, c, h, w = x.shape
    oh, ow = pool_out_size(h, k, s, p, ceil_mode), pool_out_size(w, k, s, p, ceil_mode)
    if oh < 1 or ow < 1 or 2 * p > k:
        raise ValueError(f"pool: {k}x{k} s{s} p{p} of a {h}x{w} map gives {oh}x{ow}")
    hp, wp = (oh - 1) * s + k, (ow - 1) * s + k  # rows -p .. hp-p-1 of the input
    xp = np.full((n, c, hp, wp), -128 if mode == "max" else 0, np.int64)
    hu, wu = min(h, hp - p), min(w, wp - p)
    xp[:, :, p:p + hu, p:p + wu] = x[:, :, :hu, :wu]
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s]
    if mode == "max":
        return win.max(axis=(4, 5)).astype(np.int8)
    div = (pool_divisors(h, k, s, p, ceil_mode, count_include_pad)[:, None]
           * pool_divisors(w, k, s, p, ceil_mode, count_include_pad)[None, :])
    return mean_half_up(win.sum(axis=(4, 5)), div).astype(np.int8)


def globalavgpool_int(x) -> np.ndarray:
    """(N, C, H, W) int8 to (N, C, 1, 1): the mean over H*W values, rounded half up."""
    x = np.asarray(x)
    n, c, h, w = x.shape
    total = x.astype(np.int64).sum(axis=(2, 3), keepdims=True)
    return mean_half_up(total, h * w).astype(np.int8)


def add_int(a, b, mult, shift, relu: bool = False, act_min: int = -128, act_max: int = 127) -> np.ndarray:
    """Residual add of two int8 tensors of one shape, each with its own multiplier:
    ``clamp((a*Ma + b*Mb + 2**(k-1)) >> k, lo, hi)`` in int64, ``(Ma, Mb) = mult``,
    ``k = 31 + shift[0]``, one rounding (half up); ``lo``, ``hi`` as :func:`requant`."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"add: inputs of shapes {a.shape} and {b.shape}")
    ma, mb = (int(v) for v in np.asarray(mult).reshape(2))
    k = int(np.asarray(shift).reshape(1)[0]) + 31
    y = (a.astype(np.int64) * ma + b.astype(np.int64) * mb + (1 << (k - 1))) >> k
    return np.clip(y, *_lo_hi(relu, act_min, act_max)).astype(np.int8)


def concat_int(*xs) -> np.ndarray:
    """Maps (N, C_i, H, W) concatenated along the channels, in order (a copy)."""
    return np.concatenate([np.asarray(x) for x in xs], axis=1)


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
    groups: int = 1,
    act_min: int = -128,
    act_max: int = 127,
) -> np.ndarray:
    """Integer convolution layer: conv + bias, requant, ReLU and bounds, optional 2x2 pool.

    Parameters
    ----------
    x : ndarray of int8 (N, C, H, W)
    w : ndarray of int8 (O, C/groups, K, K)
    bias, mult, shift : ndarray (O,)
    stride : int
    padding : int or (top, bottom, left, right)
        Zero padding.
    relu : bool
    pool : {None, "max", "avg"}
    out_int32 : bool
        Return the int32 accumulators (bias included) instead of requantized int8.
    groups : int
    act_min, act_max : int
        Saturation bounds of the requant (:func:`requant`).

    Returns
    -------
    ndarray (N, O, OH, OW): int8, or int32 with ``out_int32``.
    """
    w = np.asarray(w)
    if w.ndim != 4 or w.shape[2] != w.shape[3]:
        raise ValueError(f"conv2d: input has {np.shape(x)[1]} channels, weight is {w.shape}")
    acc = conv_acc(x, w, bias, int(stride), padding, groups)
    if out_int32:
        if relu or pool:
            raise ValueError("int32 outputs have no relu or pool")
        return _to_int32(acc)
    y = requant(acc, mult, shift, relu, act_min=act_min, act_max=act_max)
    return pool2d_int(y, pool) if pool else y


def linear_int(x, w, bias, mult, shift, relu: bool = False, out_int32: bool = False,
               act_min: int = -128, act_max: int = 127) -> np.ndarray:
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
    return requant(acc, mult, shift, relu, act_min=act_min, act_max=act_max)


def _to_int32(acc: np.ndarray) -> np.ndarray:
    if acc.size and (acc.max() > 2**31 - 1 or acc.min() < -(2**31)):
        raise OverflowError("accumulator left the int32 range")
    return acc.astype(np.int32)
