"""Ops the engine runs as other ops: an average as a conv whose requant is the mean, a
grouped op as block-diagonal dense ops on chunks of groups (pure numpy).

:mod:`rtlcnn.core.schedule` plans them: :func:`avg_as_conv` turns an average pool whose
windows share one divisor into a depthwise conv, :func:`gap_as_conv` a global average
pool into a 1x1 conv over the transposed map, both with weights 4, bias 1 and the
multiplier :func:`mean_requant` finds,
whose output is the reference's rounded mean (:func:`rtlcnn.core.ref_ops.mean_half_up`)
exactly; :func:`chunk_op` makes groups g0..g1-1 of a grouped op one dense op.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Optional

import numpy as np

from .ops import Op, pool_out_size
from .ref_ops import mean_half_up, pool_divisors

__all__ = ["AVG_WEIGHT", "mean_requant", "avg_as_conv", "gap_as_conv", "chunk_op"]

#: an average as a requant: weights AVG_WEIGHT, bias 1, so the accumulator is 4*sum + 1
AVG_WEIGHT = 4


@functools.lru_cache(maxsize=None)
def mean_requant(n: int) -> Optional[tuple]:
    """(M, shift) such that ``requant(4*t + 1, M, shift)`` equals the reference's mean
    ``mean_half_up(t, n)`` for every sum ``t`` of ``n`` int8 values, or None if no such
    pair is found (the host then averages).

    Why it holds: the mean is ``floor((4t + 2n) / 4n)``; ``4t + 2n`` is even, so adding 1
    keeps it at least 1/(4n) away from every multiple of 4n, and ``M / 2**k`` (k = 31 +
    shift) is ``1/(4n)`` within ``2**-k / 2``, an error below that margin for
    ``|4t + 1| <= 512n + 1`` once ``2**k`` is well above ``1024 n**2``. Every ``t`` of the
    range is checked here all the same (at most 255n values)."""
    n = int(n)
    if n < 1 or n > 1 << 16:
        return None
    t = np.arange(-128 * n, 127 * n + 1, dtype=np.int64)
    want = mean_half_up(t, n)
    acc = AVG_WEIGHT * t + 1
    # the most precise multiplier: the largest k whose M = round(2**k / 4n) is below 2**31
    k = next(k for k in range(62, 0, -1) if (2 ** k + 2 * n) // (4 * n) < 1 << 31)
    m = (2 ** k + 2 * n) // (4 * n)
    if m < 1 or not np.array_equal((acc * m + (1 << (k - 1))) >> k, want):
        return None
    return int(m), k - 31


def gap_as_conv(op, in_shape: tuple):
    """A global average pool as one 1x1 conv in the "pixels" layout: the map (C, H, W) is
    given to the engine transposed, as H*W channels of a C x 1 map (pixel p of channel c at
    row c, channel p), and one output channel with weights 4, bias 1 and
    :func:`mean_requant`'s multiplier sums each row: output row c is channel c's rounded
    mean. Its weights are H*W/P_IC words, not the block-diagonal C x C*H*W of a grouped
    LINEAR. None if no multiplier is exact."""
    c, h, w = in_shape
    mq = mean_requant(h * w)
    if mq is None:
        return None
    return Op("conv2d", name=op.name, weight=np.full((1, h * w, 1, 1), AVG_WEIGHT, np.int8),
              bias=np.ones(1, np.int32), mult=np.full(1, mq[0], np.int32),
              shift=np.full(1, mq[1], np.int32), out_scale=op.out_scale)


def avg_as_conv(op, in_shape: tuple):
    """An average pool the engine can run as a depthwise conv with weights 4, bias 1 and
    :func:`mean_requant`'s multiplier: every window must have one divisor (no clipped
    padding counted apart, no ceil_mode window cut short). None if it cannot."""
    c, h, w = in_shape
    k, s, p = int(op.pool_kernel), int(op.pool_stride), int(op.pool_padding)
    divs = [pool_divisors(v, k, s, p, bool(op.ceil_mode), bool(op.count_include_pad)) for v in (h, w)]
    same = [pool_out_size(v, k, s, p, bool(op.ceil_mode)) == (v + 2 * p - k) // s + 1 for v in (h, w)]
    if not all(same) or any((d != k).any() for d in divs) or p >= k:
        return None
    mq = mean_requant(k * k)
    if mq is None:
        return None
    return Op("conv2d", name=op.name, weight=np.full((c, 1, k, k), AVG_WEIGHT, np.int8),
              bias=np.ones(c, np.int32), mult=np.full(c, mq[0], np.int32),
              shift=np.full(c, mq[1], np.int32), stride=s, padding=p, groups=c,
              out_scale=op.out_scale)


def chunk_op(op, g0: int, g1: int, cin: int, cout: int):
    """Groups g0..g1-1 of a grouped op as one dense op: a block-diagonal weight (the
    other groups' taps zero), the chunk's bias and requant."""
    m = g1 - g0
    w = np.zeros((m * cout, m * cin) + op.weight.shape[2:], np.int8)
    for j in range(m):
        w[j * cout:(j + 1) * cout, j * cin:(j + 1) * cin] = op.weight[(g0 + j) * cout:(g0 + j + 1) * cout]
    oc = slice(g0 * cout, g1 * cout)
    return dataclasses.replace(op, name=f"{op.name or op.kind}[{g0 * cout}:{g1 * cout}]", weight=w,
                               bias=op.bias[oc], mult=op.mult[oc], shift=op.shift[oc], groups=1,
                               inputs=())
