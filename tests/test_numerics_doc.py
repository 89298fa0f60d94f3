"""docs/numerics.md's worked examples of the format-version-2 ops, recomputed with
rtlcnn.reference, so the page cannot drift from the definition. (The version-1 example
is tests/test_reference.py::test_worked_example_of_docs_numerics.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rtlcnn import Op, Program
from rtlcnn.core import reference as R
from rtlcnn.core.ops import pool_out_size
from rtlcnn.core.program import output_function

DOC = (Path(__file__).resolve().parent.parent / "docs" / "numerics.md").read_text()


def doc_has(*texts):
    for t in texts:
        assert t in " ".join(DOC.split()), f"docs/numerics.md no longer says {t!r}"


def test_pool_output_size_and_the_dropped_last_window():
    doc_has("n = 5, k = 2, s = 2, p = 1 with ceil_mode: `ceil(5 / 2) + 1 = 4`", "so **3**")
    assert pool_out_size(5, 2, 2, 1, True) == 3 and (5 + 2 - 2 + 1) // 2 + 1 == 4
    x = np.zeros((1, 1, 5, 5), np.int8)
    assert R.pool_int(x, "max", 2, 2, 1, ceil_mode=True).shape == (1, 1, 3, 3)


def test_max_pool_corner_with_padding():
    doc_has("`[[-5, -7], [-9, -6]]`", "padding values: **-5**")
    x = np.zeros((1, 1, 5, 5), np.int8)
    x[0, 0, :2, :2] = [[-5, -7], [-9, -6]]
    assert R.pool_int(x, "max", 3, 2, 1)[0, 0, 0, 0] == -5


def test_avg_pool_corner_and_its_divisors():
    doc_has("`[[10, 20], [30, 42]]`", "`10 + 20 + 30 + 42 = 102`",
            "`n = 3 * 3 = 9` and `y = floor((204 + 9) / 18) = 11`",
            "`n = 2 * 2 = 4` and `y = floor((204 + 4) / 8) = 26`", "`n` = 2 per row")
    x = np.zeros((1, 1, 5, 5), np.int8)
    x[0, 0, :2, :2] = [[10, 20], [30, 42]]
    assert int(x.sum()) == 102
    assert R.pool_divisors(5, 3, 2, 1, False, True)[0] == 3
    assert R.pool_divisors(5, 3, 2, 1, False, False)[0] == 2
    assert R.pool_int(x, "avg", 3, 2, 1)[0, 0, 0, 0] == (204 + 9) // 18 == 11
    assert R.pool_int(x, "avg", 3, 2, 1, count_include_pad=False)[0, 0, 0, 0] == (204 + 4) // 8 == 26
    assert R.pool_divisors(6, 3, 2, 0, True, True).tolist() == [3, 3, 2]
    assert R.mean_half_up(np.array([162, -14]), 4).tolist() == [41, -3]  # = (sum + 2) >> 2


def test_global_average_pool_examples():
    doc_has("`floor((2000 + 49) / 98) = 20`", "`floor((-2000 + 49) / 98) = -20`", "`floor(-16 / 8) = -2`")
    x = np.zeros((2, 1, 7, 7), np.int8)
    x[0].flat[:8] = 125
    x[0].flat[8] = 0
    assert int(x[0].sum()) == 1000
    x[1] = -x[0]
    assert R.globalavgpool_int(x).ravel().tolist() == [20, -20]
    y = np.array([-2, -3, -2, -3], np.int8).reshape(1, 1, 2, 2)
    assert R.globalavgpool_int(y).item() == -2
    prog = Program((1, 7, 7), 1.0, [Op("globalavgpool")]).check()
    assert R.run_int(prog, x).ravel().tolist() == [20, -20]


def test_grouped_conv_macs():
    doc_has("`32 * 1 * 9 = 288`", "9,216")
    rng = np.random.default_rng(0)
    from rtlcnn.core.random_programs import conv

    dw = conv(rng, 32, 32, 3, padding=1, groups=32)
    full = conv(rng, 32, 32, 3, padding=1)
    assert dw.macs((32, 1, 1)) == 288 and full.macs((32, 1, 1)) == 9216


def test_alexnet_stem_output_size():
    doc_has("`out = floor((224 + 2 * 2 - 11) / 4) + 1 = 55`")
    w = np.zeros((1, 1, 11, 11), np.int8)
    op = Op("conv2d", weight=w, stride=4, padding=2)
    assert op.out_shape((1, 224, 224)) == (1, 55, 55)


def test_relu6_bound_from_a_scale():
    doc_has("`act_max = round(6 / 0.05) = 120`", "`round(123.0) = 123`, clamped to **120**", "`[-80, 80]`")
    assert round(6 / 0.05) == 120 and (round(-1 / 0.0125), round(1 / 0.0125)) == (-80, 80)
    m, s = np.array([1690499128], np.int32), np.array([6], np.int32)  # the worked example's
    assert R.requant(np.array([[10000]]), m, s).item() == 123
    assert R.requant(np.array([[10000]]), m, s, relu=True, act_max=120).item() == 120


def test_residual_add_example():
    doc_has("`Ma = 1342177280`, `Mb = 536870912`", "`37 * Ma = 49660559360`", "`-51 * Mb = -27380416512`",
            "`22280142848`, `+ 2^29 = 22817013760`, `>> 30` gives **21**",
            "`-22280142848 + 2^29 = -21743271936`, `>> 30` gives **-21**")
    ma, mb = round(1.25 * 2**30), round(0.5 * 2**30)
    assert (ma, mb) == (1342177280, 536870912) and 2**30 <= ma < 2**31
    assert 37 * ma == 49660559360 and -51 * mb == -27380416512
    assert 37 * ma - 51 * mb + 2**29 == 22817013760 and -37 * ma + 51 * mb + 2**29 == -21743271936
    a, b = np.array([37, -37], np.int8), np.array([-51, 51], np.int8)
    mult, shift = np.array([ma, mb], np.int32), np.array([-1], np.int32)
    assert R.add_int(a, b, mult, shift).tolist() == [21, -21]
    assert R.add_int(a, b, mult, shift, relu=True).tolist() == [21, 0]
    assert (0.83 / 0.04) == pytest.approx(20.75)


def test_concat_example():
    doc_has("(2, 4, 4) and (3, 4, 4) give (5, 4, 4)")
    a = np.zeros((1, 2, 4, 4), np.int8)
    b = np.arange(48, dtype=np.int8).reshape(1, 3, 4, 4)
    y = R.concat_int(a, b)
    assert y.shape == (1, 5, 4, 4) and np.array_equal(y[0, 2], b[0, 0])


def test_output_function_example():
    doc_has("`[2.0, 1.0, 0.1]` give softmax `[0.6590, 0.2424, 0.0986]`", "`[-0.4170, -1.4170, -2.3170]`")
    y = np.array([[2.0, 1.0, 0.1]])
    np.testing.assert_allclose(output_function(y, "softmax"), [[0.6590, 0.2424, 0.0986]], atol=5e-5)
    np.testing.assert_allclose(output_function(y, "log_softmax"), [[-0.4170, -1.4170, -2.3170]], atol=5e-5)


def test_the_engine_average_as_a_requant():
    from rtlcnn.core.groups import mean_requant
    from rtlcnn.core.ref_ops import mean_half_up

    doc_has("`n = 9` (a 3x3 window) gives `M = 1908874354`, shift 5 (k = 36)",
            "`(-51 * 1908874354 + 2^35) >> 36 = -1`", "`(161 * 1908874354 + 2^35) >> 36 = 4`")
    assert mean_requant(9) == (1908874354, 5)
    for t, want in ((-13, -1), (40, 4)):
        assert ((4 * t + 1) * 1908874354 + (1 << 35)) >> 36 == want == int(mean_half_up(t, 9))
