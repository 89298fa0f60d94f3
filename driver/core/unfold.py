"""Host-side layouts that let the engine run convs with few input channels at full speed.

A conv with ``C`` input channels uses ``ceil(C/P_IC)`` of the MAC array's input-lane
groups per kernel tap: LeNet's conv2 (C = 6) fills 6 of 8 lanes, conv1 (C = 1) one. Two
layouts fix that without sending more data than a few times the map (stride 1 only):

``kx``: the engine's input pixel ``(iy, ox)`` holds the K taps of one kernel row,
``channel t*C + c = x[c, iy, ox - pad + t]``, and the engine runs a K x 1 kernel over it
(rows still padded by the engine): ``K * ceil(K*C / P_IC)`` MAC steps per conv pixel
instead of ``K * K * ceil(C / P_IC)``. Weights ``W'[o, t*C + c, ky, 0] = W[o, c, ky, t]``.

``pair`` (2x2 max pool, OUT_C <= P_OC/2, every requant multiplier >= 0): input pixel
``(iy, j)`` holds the K + 1 taps that conv pixels ``(., 2j)`` and ``(., 2j + 1)`` share,
``channel t*C + c = x[c, iy, 2j - pad + t]``; the engine's PAIR job computes the left
pixel in lanes ``0..`` (weights ``W[o, c, ky, t]``) and the right one in lanes
``P_OC/2..`` (weights ``W[o, c, ky, t - 1]``), takes the maximum of the two lanes and of
two conv rows on the int32 accumulators, and requantizes once per pooled pixel. That
equals requantize-then-pool because the requant is non-decreasing when its multiplier is
not negative; :func:`pair_exact` says whether it is. Half the MAC steps of ``kx``, and a
quarter of the requant work.

``im2col``: the engine's input pixel holds all K*K*C taps of a conv pixel and the engine
runs a 1x1 conv (any stride; streams K*K times the map, so the cost model rarely picks it).

Every function is exact integer reordering: the engine's results equal
``rtlcnn.reference`` bit for bit (``tests/rtl``, ``tests/test_unfold.py``).
"""

from __future__ import annotations

import numpy as np

from . import reference as R

__all__ = ["kx_input", "taps_hwc", "kx_weights", "pair_input", "pair_weights", "pair_exact",
           "conv_width", "layer_job", "engine_conv_int", "im2col"]


def conv_width(w: int, k: int, pad: int) -> int:
    """Columns of a stride-1 conv output."""
    return w + 2 * pad - k + 1


def _row_taps(x: np.ndarray, k: int, pad: int, ncols: int, step: int, taps: int) -> np.ndarray:
    """(N, C, H, W) -> (N, taps*C, H, ncols): channel t*C + c = xpad[c, :, j*step + t]."""
    n, c, h, w = x.shape
    need = (ncols - 1) * step + taps
    xp = np.zeros((n, c, h, max(need, w + 2 * pad)), dtype=x.dtype)
    xp[:, :, :, pad:pad + w] = x
    win = np.lib.stride_tricks.sliding_window_view(xp[:, :, :, :need], taps, axis=3)
    win = win[:, :, :, ::step]                       # (N, C, H, ncols, taps)
    return np.ascontiguousarray(win.transpose(0, 4, 1, 2, 3).reshape(n, taps * c, h, ncols))


def taps_hwc(x: np.ndarray, k: int, pad: int, layout: str, width=None) -> np.ndarray:
    """The ``kx`` or ``pair`` layout of a batch ``(N, C, H, W)`` in the engine's pixel order,
    as a strided view of one padded copy: ``(N, H, OW', taps, C)``, channel ``t*C + c`` of
    pixel ``(iy, j)`` at ``[:, iy, j, t, c]`` (what :func:`kx_input` / :func:`pair_input`
    give, transposed; for writing straight into a command stream's slots). ``width``: x is
    padded already (``pad`` 0), its first ``width`` columns the padded map: the view is of
    ``x`` itself, so writing a new map into ``x`` changes it."""
    n, c, h, w = x.shape
    if width is None:
        ow = conv_width(w, k, pad)
        ncols, step, taps = (ow, 1, k) if layout == "kx" else (ow // 2, 2, k + 1)
        need = (ncols - 1) * step + taps
        xp = np.zeros((n, c, h, max(need, w + 2 * pad)), dtype=x.dtype)
        xp[:, :, :, pad:pad + w] = x
    else:
        ow = conv_width(width, k, 0)
        ncols, step, taps = (ow, 1, k) if layout == "kx" else (ow // 2, 2, k + 1)
        need = (ncols - 1) * step + taps
        if need > w:
            raise ValueError(f"taps_hwc: the padded map has {w} columns, its taps reach {need}")
        xp = x
    win = np.lib.stride_tricks.sliding_window_view(xp[:, :, :, :need], taps, axis=3)[:, :, :, ::step]
    return win.transpose(0, 2, 3, 4, 1)


def kx_input(x: np.ndarray, k: int, pad: int) -> np.ndarray:
    """The ``kx`` layout of a batch ``(N, C, H, W)``: ``(N, K*C, H, OW)``."""
    ow = conv_width(x.shape[3], k, pad)
    return _row_taps(x, k, pad, ow, 1, k)


def kx_weights(w: np.ndarray) -> np.ndarray:
    """``(O, C, K, K)`` -> ``(O, K*C, K, 1)``: channel ``t*C + c`` is kernel column t."""
    o, c, kh, kw = w.shape
    return np.ascontiguousarray(w.transpose(0, 3, 1, 2).reshape(o, kw * c, kh, 1))


def pair_input(x: np.ndarray, k: int, pad: int) -> np.ndarray:
    """The ``pair`` layout of a batch ``(N, C, H, W)``: ``(N, (K+1)*C, H, OW // 2)``."""
    ow = conv_width(x.shape[3], k, pad)
    if ow < 2:
        raise ValueError(f"pair layout needs a conv output at least 2 wide, got {ow}")
    return _row_taps(x, k, pad, ow // 2, 2, k + 1)


def pair_weights(w: np.ndarray) -> np.ndarray:
    """``(O, C, K, K)`` -> ``(2, O, (K+1)*C, K, 1)``: the left and right pixel's filters."""
    o, c, kh, kw = w.shape
    out = np.zeros((2, o, kw + 1, c, kh), dtype=w.dtype)
    cols = w.transpose(0, 3, 1, 2)                   # (O, KW, C, KH)
    out[0, :, :kw] = cols
    out[1, :, 1:] = cols
    return np.ascontiguousarray(out.reshape(2, o, (kw + 1) * c, kh, 1))


def layer_job(layer, layout: str, x: np.ndarray, w: np.ndarray):
    """One whole conv ``layer`` (a :class:`rtlcnn.core.stream.JobConfig`, stride 1, symmetric
    padding) with input ``x (C, H, W)`` and weights ``w (O, C, K, K)`` in the ``layout``
    "kx" or "pair": the engine's JobConfig, input map and weights. (The schedule builds
    the same jobs band by band.)"""
    k, p = int(layer.kernel), int(layer.pad[0])
    if layout == "kx":
        xe, we = kx_input(x[None], k, p)[0], kx_weights(w)
    elif layout == "pair":
        xe, we = pair_input(x[None], k, p)[0], pair_weights(w)
    else:
        raise ValueError(f"unknown layout {layout!r}: kx or pair")
    cfg = layer.replace(in_c=xe.shape[0], in_w=xe.shape[2], kernel_w=1, pad=(p, p, 0, 0),
                        pair=layout == "pair")
    return cfg, xe, we


def pair_exact(mult) -> bool:
    """True when pooling the accumulators equals pooling the requantized values (M >= 0)."""
    return bool(np.all(np.asarray(mult) >= 0))


def engine_conv_int(x, w, bias, mult, shift, stride: int = 1, pad=(0, 0, 0, 0),
                    relu: bool = False, pool=None, out_int32: bool = False,
                    pair: bool = False, act_min: int = -128, act_max: int = 127) -> np.ndarray:
    """What one engine CONV job computes (register_map.md), in numpy: rectangular kernels
    ``w (O, C, K, KW)`` and, with ``pair``, ``w (2, O, C, K, KW)`` (PAIR: the maximum of
    the two filters' accumulators and of two conv rows, then the requant); ``act_min``,
    ``act_max``: the requant's bounds (the ACT register), before the pool. Clamping is
    non-decreasing, so PAIR's pool on the accumulators stays exact with bounds."""
    x = np.asarray(x)
    w = np.asarray(w)
    if pair:
        if pool != "max" or out_int32:
            raise ValueError("PAIR jobs pool max and give int8")
        # max(a + bias, b + bias) = max(a, b) + bias: the bias rides along
        acc = np.maximum(R.conv_acc(x, w[0], bias, stride, pad), R.conv_acc(x, w[1], bias, stride, pad))
        h2 = acc.shape[2] // 2
        acc = acc[:, :, :2 * h2].reshape(acc.shape[0], acc.shape[1], h2, 2, acc.shape[3]).max(axis=3)
        return R.requant(acc, mult, shift, relu, act_min=act_min, act_max=act_max)
    acc = R.conv_acc(x, w, bias, stride, pad)
    if out_int32:
        return R._to_int32(acc)
    y = R.requant(acc, mult, shift, relu, act_min=act_min, act_max=act_max)
    return R.pool2d_int(y, pool) if pool else y


def im2col(x: np.ndarray, k: int, s: int, p: int) -> np.ndarray:
    """(N, C, H, W) int8 -> (N, C*K*K, OH, OW): channel ``c*K*K + ky*K + kx``."""
    n, c, h, w = x.shape
    xp = np.zeros((n, c, h + 2 * p, w + 2 * p), dtype=x.dtype)
    xp[:, :, p:p + h, p:p + w] = x
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))
    win = win[:, :, :(oh - 1) * s + 1:s, :(ow - 1) * s + 1:s]  # (N, C, OH, OW, K, K)
    return np.ascontiguousarray(win.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * k * k, oh, ow))
