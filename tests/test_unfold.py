"""The host layouts of rtlcnn.unfold and the engine's KW / PAIR jobs, checked in numpy
against rtlcnn.reference (the RTL runs the same jobs in tests/rtl)."""

import numpy as np
import pytest

from rtlcnn.core import reference as R
from rtlcnn.core import stream as S
from rtlcnn.core import unfold as U


def _layer(rng, c, o, k, h, w):
    x = rng.integers(-128, 128, (2, c, h, w)).astype(np.int8)
    wt = rng.integers(-128, 128, (o, c, k, k)).astype(np.int8)
    bias = rng.integers(-3000, 3000, o).astype(np.int32)
    mult = rng.integers(2**29, 2**31 - 1, o).astype(np.int32)
    shift = rng.integers(-12, -2, o).astype(np.int32)
    return x, wt, bias, mult, shift


@pytest.mark.parametrize("seed", range(12))
def test_kx_layout_equals_reference(seed):
    rng = np.random.default_rng(seed)
    c, o, k = int(rng.integers(1, 7)), int(rng.integers(1, 20)), int(rng.choice([1, 3, 5, 7]))
    p = int(rng.integers(0, k))
    h, w = int(rng.integers(k, k + 9)), int(rng.integers(k + 1, k + 9))
    pool = [None, "max", "avg"][seed % 3]
    relu = bool(seed % 2)
    x, wt, bias, mult, shift = _layer(rng, c, o, k, h, w)
    want = R.conv2d_int(x, wt, bias, mult, shift, 1, p, relu, pool)
    got = U.engine_conv_int(U.kx_input(x, k, p), U.kx_weights(wt), bias, mult, shift, 1,
                            (p, p, 0, 0), relu, pool)
    assert np.array_equal(got, want)


@pytest.mark.parametrize("seed", range(12))
def test_pair_layout_equals_reference(seed):
    rng = np.random.default_rng(100 + seed)
    c, o, k = int(rng.integers(1, 4)), int(rng.integers(1, 9)), int(rng.choice([1, 3, 5, 7]))
    p = int(rng.integers(0, k))
    # odd sizes too: the pool drops a last odd conv row / column
    h, w = int(rng.integers(k + 1, k + 10)), int(rng.integers(k + 1, k + 10))
    x, wt, bias, mult, shift = _layer(rng, c, o, k, h, w)
    relu = bool(seed % 2)
    assert U.pair_exact(mult)
    want = R.conv2d_int(x, wt, bias, mult, shift, 1, p, relu, "max")
    xin = U.pair_input(x, k, p)
    assert xin.shape == (2, (k + 1) * c, h, U.conv_width(w, k, p) // 2)
    got = U.engine_conv_int(xin, U.pair_weights(wt), bias, mult, shift, 1, (p, p, 0, 0),
                            relu, "max", pair=True)
    assert np.array_equal(got, want)


def test_pair_is_not_exact_with_a_negative_multiplier():
    rng = np.random.default_rng(7)
    x, wt, bias, mult, shift = _layer(rng, 1, 4, 3, 8, 8)
    mult[1] = -mult[1]
    assert not U.pair_exact(mult)
    want = R.conv2d_int(x, wt, bias, mult, shift, 1, 1, False, "max")
    got = U.engine_conv_int(U.pair_input(x, 3, 1), U.pair_weights(wt), bias, mult, shift, 1,
                            (1, 1, 0, 0), False, "max", pair=True)
    assert np.array_equal(got[:, [0, 2, 3]], want[:, [0, 2, 3]])
    assert not np.array_equal(got[:, 1], want[:, 1])  # pooled before a decreasing requant


def test_lenet_conv1_in_pair_layout_is_cheap():
    b = S.Build()
    cfg = S.JobConfig(op=S.OPCODE_CONV, in_c=6, in_h=28, in_w=14, out_c=6, kernel=5, kernel_w=1,
                      pad=(2, 2, 0, 0), relu=True, pool=S.POOL_MAX, pair=True)
    assert cfg.check(b) == S.CFG_OK
    assert (cfg.out_h, cfg.out_w) == (14, 14)
    assert cfg.mac_steps(b) == 14 * 14 * 2 * 5          # 1960: 2.5 per conv pixel
    assert cfg.registers()[S.REG_KERNEL] == 5 | (1 << 8)
    assert cfg.op_word() & S.OP_PAIR
    conv2 = S.JobConfig(op=S.OPCODE_CONV, in_c=30, in_h=14, in_w=10, out_c=16, kernel=5, kernel_w=1,
                        relu=True, pool=S.POOL_MAX)
    assert conv2.check(b) == S.CFG_OK and conv2.mac_steps(b) == 100 * 5 * 4


@pytest.mark.parametrize("change, code", [
    (dict(pool=S.POOL_NONE), S.CFG_PAIR),
    (dict(pool=S.POOL_AVG), S.CFG_PAIR),
    (dict(out_c=9), S.CFG_PAIR),
    (dict(op=S.OPCODE_LINEAR, in_h=1, in_w=1, kernel=1, kernel_w=0, pad=(0, 0, 0, 0),
          pool=0), S.CFG_PAIR),
    (dict(kernel_w=8), S.CFG_CONV),
    (dict(pad=(2, 2, 1, 0)), S.CFG_CONV),   # left pad >= KW = 1
    (dict(pad=(5, 2, 0, 0)), S.CFG_CONV),   # top pad >= K = 5
])
def test_kw_and_pair_checks(change, code):
    cfg = S.JobConfig(op=S.OPCODE_CONV, in_c=6, in_h=28, in_w=14, out_c=6, kernel=5, kernel_w=1,
                      pad=(2, 2, 0, 0), relu=False, pool=S.POOL_MAX, pair=True).replace(**change)
    assert cfg.check(S.Build()) == code


def test_pair_weights_land_in_both_lane_halves():
    b = S.Build(p_oc=4, p_ic=4)
    w = np.arange(2 * 2 * 3 * 2 * 1).reshape(2, 2, 3, 2, 1).astype(np.int8)
    lanes = S.pair_lanes(w, b.p_oc)
    assert np.array_equal(lanes[0:2], w[0]) and np.array_equal(lanes[2:4], w[1])
    with pytest.raises(ValueError, match="P_OC/2"):
        S.pair_lanes(np.zeros((2, 3, 3, 2, 1)), b.p_oc)
