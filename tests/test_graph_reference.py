"""The reference's new ops (file format version 2) against independent oracles.

torch's float64 ops on integer values (exact here: every sum stays far below 2**53) give
the sums, maxima and divisors; the rounding and saturation are computed element by
element in Python integers, straight from docs/numerics.md's formulas.
"""

from __future__ import annotations

import numpy as np
import pytest

from rtlcnn.core import reference as R
from rtlcnn.core.ops import pool_out_size

torch = pytest.importorskip("torch")
F = torch.nn.functional


def t64(x):
    return torch.from_numpy(np.asarray(x).astype(np.float64))


def py_mean(total: int, n: int) -> int:
    """total / n rounded half up, in Python integers: floor((2 total + n) / (2 n))."""
    return (2 * total + n) // (2 * n)


def py_requant(acc: int, m: int, shift: int, lo: int, hi: int) -> int:
    k = 31 + shift
    return max(lo, min(hi, (acc * m + (1 << (k - 1))) >> k))


def test_mean_half_up_is_the_old_2x2_rounding_for_every_sum():
    """For n = 4 the general rounding equals (sum + 2) >> 2 over every sum of four int8."""
    sums = np.arange(-4 * 128, 4 * 127 + 1)
    assert np.array_equal(R.mean_half_up(sums, 4), (sums + 2) >> 2)
    assert all(py_mean(int(s), 4) == (int(s) + 2) >> 2 for s in sums)
    # and through the general pool path (ceil_mode on even maps: the same windows), with
    # windows that reach every sum
    rng = np.random.default_rng(0)
    x = np.empty((len(sums), 1, 2, 2), np.int64)
    for j, s in enumerate(sums):
        q, r = divmod(int(s), 4)
        x[j, 0] = np.array([q + (i < r) for i in rng.permutation(4)]).reshape(2, 2)
    assert x.sum(axis=(1, 2, 3)).tolist() == sums.tolist() and x.min() >= -128 and x.max() <= 127
    x = x.astype(np.int8)
    general = R.pool_int(x, "avg", 2, 2, 0, ceil_mode=True)
    assert np.array_equal(general, R.pool2d_int(x, "avg"))
    assert general.ravel().tolist() == ((sums + 2) >> 2).tolist()


def _pool_cases(rng, n):
    out = []
    while len(out) < n:
        k = int(rng.integers(1, 6))
        s = int(rng.integers(1, 5))
        p = int(rng.integers(0, k // 2 + 1))
        h, w = int(rng.integers(1, 13)), int(rng.integers(1, 13))
        cm = bool(rng.integers(0, 2))
        if min(pool_out_size(h, k, s, p, cm), pool_out_size(w, k, s, p, cm)) >= 1:
            out.append((k, s, p, h, w, cm, bool(rng.integers(0, 2))))
    return out


def test_max_pool_matches_torch_with_padding_and_ceil_mode():
    """-128 padding gives torch's -inf padding on int8 data: every window has a real element."""
    rng = np.random.default_rng(1)
    for k, s, p, h, w, cm, _ in _pool_cases(rng, 200):
        x = rng.integers(-128, 128, (2, 3, h, w)).astype(np.int8)
        x[0, 0] = -128  # all -128: padding must not win or lose
        want = F.max_pool2d(t64(x), k, s, p, ceil_mode=cm).numpy()
        got = R.pool_int(x, "max", k, s, p, cm)
        assert got.dtype == np.int8 and got.shape == want.shape, (k, s, p, h, w, cm)
        np.testing.assert_array_equal(got, want.astype(np.int8))


def test_avg_pool_matches_torch_sums_divisors_and_python_rounding():
    rng = np.random.default_rng(2)
    for k, s, p, h, w, cm, cip in _pool_cases(rng, 200):
        x = rng.integers(-128, 128, (2, 2, h, w)).astype(np.int8)
        kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=cm, count_include_pad=cip)
        total = F.avg_pool2d(t64(x), divisor_override=1, **kw).numpy()
        ones = t64(np.ones((1, 1, h, w)))
        real = F.avg_pool2d(ones, divisor_override=1, **kw).numpy()[0, 0]  # real elements
        div = np.rint(real / F.avg_pool2d(ones, **kw).numpy()[0, 0]).astype(np.int64)  # torch's divisor
        want = np.empty(total.shape, np.int64)
        for idx in np.ndindex(total.shape):
            want[idx] = py_mean(int(round(total[idx])), int(div[idx[2:]]))
        got = R.pool_int(x, "avg", k, s, p, cm, cip)
        assert got.shape == want.shape, (k, s, p, h, w, cm, cip)
        np.testing.assert_array_equal(got, want, err_msg=str((k, s, p, h, w, cm, cip)))
        d = np.outer(R.pool_divisors(h, k, s, p, cm, cip), R.pool_divisors(w, k, s, p, cm, cip))
        np.testing.assert_array_equal(d, div)


def test_global_average_pool_is_adaptive_avg_pool_mean_and_full_window_avg_pool():
    rng = np.random.default_rng(3)
    for _ in range(30):
        h = int(rng.integers(1, 12))
        w = h if rng.random() < 0.5 else int(rng.integers(1, 12))
        x = rng.integers(-128, 128, (3, 4, h, w)).astype(np.int8)
        got = R.globalavgpool_int(x)
        assert got.shape == (3, 4, 1, 1) and got.dtype == np.int8
        total = F.adaptive_avg_pool2d(t64(x), 1).numpy() * (h * w)
        want = np.array([py_mean(int(round(t)), h * w) for t in total.ravel()]).reshape(total.shape)
        np.testing.assert_array_equal(got, want)
        mean = t64(x).mean((2, 3), keepdim=True).numpy() * (h * w)  # x.mean((2, 3))
        np.testing.assert_array_equal(np.rint(mean), np.rint(total))
        if h == w:  # F.avg_pool2d(x, x.size()[-1])
            np.testing.assert_array_equal(R.pool_int(x, "avg", w, w, 0), got)


@pytest.mark.parametrize("case", range(40))
def test_grouped_and_big_convs_match_torch(case):
    rng = np.random.default_rng(100 + case)
    g = int(rng.choice([1, 2, 3, 4]))
    cg, og = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    if case % 4 == 0:  # depthwise, channel multiplier 1 or 2
        cg, g, og = 1, int(rng.integers(2, 9)), int(rng.choice([1, 2]))
    k = int(rng.integers(1, 12)) if case % 5 == 0 else int(rng.integers(1, 6))
    stride = int(rng.integers(1, 5))
    p = int(rng.integers(0, k))
    h = int(rng.integers(max(1, k - 2 * p), k + 12))
    c, o = cg * g, og * g
    x = rng.integers(-128, 128, (2, c, h, h + 1)).astype(np.int8)
    wt = rng.integers(-127, 128, (o, cg, k, k)).astype(np.int8)
    bias = rng.integers(-(2**14), 2**14, o).astype(np.int32)
    mult = rng.integers(2**30, 2**31 - 1, o).astype(np.int32)
    shift = rng.integers(4, 12, o).astype(np.int32)
    acc = F.conv2d(t64(x), t64(wt), t64(bias), stride=stride, padding=p, groups=g).numpy()
    acc = np.rint(acc).astype(np.int64)
    got = R.conv2d_int(x, wt, bias, mult, shift, stride, p, out_int32=True, groups=g)
    np.testing.assert_array_equal(got, acc)
    lo, hi = int(rng.integers(-128, 0)), int(rng.integers(0, 128))
    relu = bool(rng.integers(0, 2))
    got = R.conv2d_int(x, wt, bias, mult, shift, stride, p, relu, groups=g, act_min=lo, act_max=hi)
    lo_eff = max(lo, 0 if relu else -128)
    want = np.empty(acc.shape, np.int64)
    for idx in np.ndindex(acc.shape):
        c_ = idx[1]
        want[idx] = py_requant(int(acc[idx]), int(mult[c_]), int(shift[c_]), lo_eff, hi)
    np.testing.assert_array_equal(got, want)


def test_add_matches_python_integers():
    rng = np.random.default_rng(4)
    for _ in range(60):
        shape = (2, int(rng.integers(1, 5)), int(rng.integers(1, 6)), int(rng.integers(1, 6)))
        a = rng.integers(-128, 128, shape).astype(np.int8)
        b = rng.integers(-128, 128, shape).astype(np.int8)
        mult = rng.integers(0, 2**31, 2).astype(np.int32)
        shift = np.array([rng.integers(-30, 32)], np.int32)
        relu = bool(rng.integers(0, 2))
        lo, hi = int(rng.integers(-128, 10)), int(rng.integers(10, 128))
        got = R.add_int(a, b, mult, shift, relu, lo, hi)
        k = 31 + int(shift[0])
        lo_eff = max(lo, 0 if relu else -128)
        want = [max(lo_eff, min(hi, (int(u) * int(mult[0]) + int(v) * int(mult[1]) + (1 << (k - 1))) >> k))
                for u, v in zip(a.ravel(), b.ravel())]
        assert got.dtype == np.int8 and got.ravel().tolist() == want


def test_add_extremes_of_the_legal_range():
    a = np.array([[127, -128, 127, -128, 1]], np.int8)
    b = np.array([[127, -128, -128, 127, -1]], np.int8)
    m = np.array([2**31 - 1, 2**31 - 1], np.int32)
    for s in (-30, 0, 31):
        got = R.add_int(a, b, m, np.array([s], np.int32))
        k = 31 + s
        want = [max(-128, min(127, (int(u) * (2**31 - 1) + int(v) * (2**31 - 1) + (1 << (k - 1))) >> k))
                for u, v in zip(a[0], b[0])]
        assert got[0].tolist() == want


def test_concat_is_torch_cat():
    rng = np.random.default_rng(5)
    for _ in range(20):
        h, w = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        xs = [rng.integers(-128, 128, (2, int(rng.integers(1, 5)), h, w)).astype(np.int8)
              for _ in range(int(rng.integers(2, 5)))]
        got = R.concat_int(*xs)
        assert got.dtype == np.int8
        np.testing.assert_array_equal(got, torch.cat([torch.from_numpy(x) for x in xs], 1).numpy())


def test_linear_act_bounds_are_requant_bounds():
    rng = np.random.default_rng(6)
    x = rng.integers(-128, 128, (3, 17)).astype(np.int8)
    w = rng.integers(-127, 128, (5, 17)).astype(np.int8)
    bias = rng.integers(-999, 999, 5).astype(np.int32)
    m = rng.integers(2**30, 2**31 - 1, 5).astype(np.int32)
    s = np.full(5, 6, np.int32)
    acc = R.linear_int(x, w, bias, m, s, out_int32=True).astype(np.int64)
    got = R.linear_int(x, w, bias, m, s, relu=True, act_min=-5, act_max=6)  # ReLU6-like
    want = [[py_requant(int(acc[i, j]), int(m[j]), 6, 0, 6) for j in range(5)] for i in range(3)]
    assert got.tolist() == want
