"""rtlcnn.reference against independent computations.

The accumulators are checked against torch (float64 convolutions, exact for these
magnitudes) or plain Python loops; requant, rounding and saturation against Python's
unbounded integers, element by element, straight from the contract's formula.
"""

from __future__ import annotations

import numpy as np
import pytest

from rtlcnn import Op, Program
from rtlcnn.core import reference as R

torch = pytest.importorskip("torch")
F = torch.nn.functional


def py_requant(acc: int, m: int, shift: int, relu: bool) -> int:
    """The contract in Python integers: clamp((acc*M + 2^(k-1)) >> k, lo, 127)."""
    k = 31 + shift
    y = (acc * m + (1 << (k - 1))) >> k  # Python's >> on ints is a floor shift
    return max(0 if relu else -128, min(127, y))


def requant_loop(acc, mult, shift, relu):
    out = np.empty(acc.shape, dtype=np.int64)
    for idx in np.ndindex(acc.shape):
        c = idx[1]
        out[idx] = py_requant(int(acc[idx]), int(mult[c]), int(shift[c]), relu)
    return out


def torch_conv_acc(x, w, bias, stride, pads):
    t, b, lft, r = pads
    xt = F.pad(torch.from_numpy(x.astype(np.float64)), (lft, r, t, b))
    acc = F.conv2d(xt, torch.from_numpy(w.astype(np.float64)), stride=stride)
    return acc.numpy().round().astype(np.int64) + bias.astype(np.int64)[None, :, None, None]


def random_layer(rng, c, o, k, scale_bits=10):
    w = rng.integers(-127, 128, (o, c, k, k)).astype(np.int8)
    bias = rng.integers(-(2**14), 2**14, o).astype(np.int32)
    mult = rng.integers(2**30, 2**31 - 1, o).astype(np.int32)
    shift = rng.integers(scale_bits - 3, scale_bits + 3, o).astype(np.int32)
    return w, bias, mult, shift


@pytest.mark.parametrize(
    "c,o,h,w,k,stride,pads",
    [
        (1, 6, 28, 28, 5, 1, (2, 2, 2, 2)),
        (3, 5, 11, 9, 3, 2, (1, 1, 1, 1)),
        (7, 13, 10, 13, 7, 1, (3, 0, 2, 1)),  # asymmetric padding, as row bands use
        (6, 16, 14, 14, 5, 1, (0, 0, 0, 0)),
        (5, 3, 9, 8, 1, 2, (0, 0, 0, 0)),
        (2, 9, 15, 7, 4, 2, (3, 2, 0, 3)),
    ],
)
@pytest.mark.parametrize("relu", [False, True])
def test_conv2d_matches_torch_and_python_requant(rng, c, o, h, w, k, stride, pads, relu):
    x = rng.integers(-128, 128, (2, c, h, w)).astype(np.int8)
    wt, bias, mult, shift = random_layer(rng, c, o, k)
    acc = torch_conv_acc(x, wt, bias, stride, pads)
    got_acc = R.conv2d_int(x, wt, bias, mult, shift, stride, pads, out_int32=True)
    assert got_acc.dtype == np.int32
    np.testing.assert_array_equal(got_acc, acc)
    got = R.conv2d_int(x, wt, bias, mult, shift, stride, pads, relu=relu)
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, requant_loop(acc, mult, shift, relu))


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("h,w", [(4, 4), (5, 7), (2, 3), (9, 2)])
def test_pool_matches_independent(rng, mode, h, w):
    x = rng.integers(-128, 128, (3, 5, h, w)).astype(np.int8)
    got = R.pool2d_int(x, mode)
    xt = torch.from_numpy(x.astype(np.float64))
    if mode == "max":
        want = F.max_pool2d(xt, 2).numpy()
    else:  # mean rounded half up: floor(mean + 1/2), exact in float64 for these values
        want = np.floor(F.avg_pool2d(xt, 2).numpy() + 0.5)
    np.testing.assert_array_equal(got, want.astype(np.int8))


def test_avgpool_rounds_half_up():
    # sums 2, -2, 6, -6 -> means 0.5, -0.5, 1.5, -1.5 -> half up: 1, 0, 2, -1
    x = np.array([[1, 1, 0, 0], [-1, -1, 0, 0], [2, 2, 1, 1], [-2, -2, -1, -1]], dtype=np.int8)
    x = x.reshape(4, 1, 2, 2)
    assert R.pool2d_int(x, "avg").ravel().tolist() == [1, 0, 2, -1]


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("i,o", [(400, 120), (84, 10), (1, 1), (37, 23)])
def test_linear_matches_torch(rng, i, o, relu):
    x = rng.integers(-128, 128, (4, i)).astype(np.int8)
    w = rng.integers(-127, 128, (o, i)).astype(np.int8)
    bias = rng.integers(-(2**16), 2**16, o).astype(np.int32)
    mult = rng.integers(2**30, 2**31 - 1, o).astype(np.int32)
    shift = rng.integers(5, 12, o).astype(np.int32)
    acc = F.linear(torch.from_numpy(x.astype(np.float64)), torch.from_numpy(w.astype(np.float64)))
    acc = acc.numpy().round().astype(np.int64) + bias
    np.testing.assert_array_equal(R.linear_int(x, w, bias, mult, shift, out_int32=True), acc)
    np.testing.assert_array_equal(
        R.linear_int(x, w, bias, mult, shift, relu=relu), requant_loop(acc, mult, shift, relu)
    )


def test_requant_rounding_ties_go_up():
    # M = 2^30, k = 31: y = round_half_up(acc / 2)
    acc = np.array([[1, -1, 3, -3, 2, -2, 0]], dtype=np.int64)
    m = np.full(7, 2**30, np.int32)
    s = np.zeros(7, np.int32)
    y = R.requant(acc.reshape(1, 7), m, s)
    assert y.ravel().tolist() == [1, 0, 2, -1, 1, -1, 0]


def test_requant_saturation_and_relu():
    acc = np.array([[10**9, -(10**9), 300, -300, 0]], dtype=np.int64)
    m = np.full(5, 2**30, np.int32)
    s = np.full(5, -1, np.int32)  # k = 30: y = acc
    assert R.requant(acc, m, s).ravel().tolist() == [127, -128, 127, -128, 0]
    assert R.requant(acc, m, s, relu=True).ravel().tolist() == [127, 0, 127, 0, 0]


def test_requant_extreme_products_and_shifts(rng):
    # Largest magnitudes: |acc| up to 2^31-1, M up to 2^31-1, k from 1 to 62.
    acc = np.array([[2**31 - 1, -(2**31), 12345, -12345, 2**31 - 1, -(2**31)]], dtype=np.int64)
    m = np.array([2**31 - 1, 2**31 - 1, 2**30, 2**31 - 1, 1, 2**31 - 1], dtype=np.int32)
    s = np.array([31, 31, -30, 0, -30, -30], dtype=np.int32)
    want = [py_requant(int(a), int(mm), int(ss), False) for a, mm, ss in zip(acc[0], m, s)]
    assert R.requant(acc, m, s).ravel().tolist() == want
    # random values over the whole legal range, against Python integers
    acc = rng.integers(-(2**31), 2**31, (1, 500)).astype(np.int64)
    m = rng.integers(-(2**31), 2**31, 500).astype(np.int32)
    s = rng.integers(-30, 32, 500).astype(np.int32)
    for relu in (False, True):
        np.testing.assert_array_equal(R.requant(acc, m, s, relu), requant_loop(acc, m, s, relu))


def make_program(rng, with_pool_ops=True):
    """A small random program touching every op kind."""
    w1, b1, m1, s1 = random_layer(rng, 3, 5, 3, scale_bits=9)
    w2, b2, m2, s2 = random_layer(rng, 5, 7, 3, scale_bits=10)
    n_flat = 7 * 2 * 2
    w3 = rng.integers(-127, 128, (11, n_flat)).astype(np.int8)
    ops = [
        Op("conv2d", "c1", w1, b1, m1, s1, stride=1, padding=1, relu=True, pool="max", out_scale=0.05),
        Op("conv2d", "c2", w2, b2, m2, s2, stride=1, padding=1, relu=False, pool="avg", out_scale=0.05),
    ]
    if with_pool_ops:
        ops.append(Op("maxpool", "p3"))
    else:
        n_flat = 7 * 4 * 4
        w3 = rng.integers(-127, 128, (11, n_flat)).astype(np.int8)
    ops.append(
        Op(
            "linear",
            "fc",
            w3,
            rng.integers(-999, 999, 11).astype(np.int32),
            np.full(11, 2**30, np.int32),
            np.full(11, 5, np.int32),
            out_int32=True,
            acc_scale=np.linspace(0.001, 0.002, 11).astype(np.float32),
        )
    )
    return Program((3, 17, 16), 1 / 64, ops, name="rand")


def test_run_chains_ops_and_dequantizes(rng):
    prog = make_program(rng).check()
    images = rng.random((3, 3, 17, 16), dtype=np.float32) * 2 - 1
    outs = R.run_all_int(prog, images)
    assert [o.shape for o in outs] == [(3,) + s for s in prog.shapes()]
    # chain by hand, flattening in (C, H, W) order before the linear op
    x = np.clip(np.rint(images.astype(np.float64) * 64), -128, 127).astype(np.int8)
    np.testing.assert_array_equal(prog.quantize_input(images), x)
    op1, op2, _, op4 = prog.ops
    y = R.conv2d_int(x, op1.weight, op1.bias, op1.mult, op1.shift, 1, 1, True, "max")
    y = R.conv2d_int(y, op2.weight, op2.bias, op2.mult, op2.shift, 1, 1, False, "avg")
    y = R.pool2d_int(y, "max").reshape(3, -1)
    acc = y.astype(np.int64) @ op4.weight.astype(np.int64).T + op4.bias
    np.testing.assert_array_equal(outs[-1], acc)
    np.testing.assert_array_equal(R.run_int(prog, images), acc)
    np.testing.assert_array_equal(R.run_int(prog, images, layer=1), outs[1])
    out = R.run(prog, images)
    assert out.dtype == np.float32 and out.shape == (3, 11)
    np.testing.assert_allclose(out, acc * op4.acc_scale[None, :], rtol=1e-6)


def test_quantize_input_rounds_half_even_and_saturates():
    prog = make_program(np.random.default_rng(1))
    x = np.zeros((1, 3, 17, 16), np.float32)
    x[0, 0, 0, :6] = np.array([0.5, 1.5, -0.5, 2.5, 1000, -1000]) / 64
    q = prog.quantize_input(x)[0, 0, 0, :6]
    assert q.tolist() == [0, 2, 0, 2, 127, -128]


def test_int8_images_are_taken_as_quantized(rng):
    prog = make_program(rng)
    q = rng.integers(-128, 128, (2, 3, 17, 16)).astype(np.int8)
    np.testing.assert_array_equal(R.run_int(prog, q, 0), R.run_int(prog, q.astype(np.float32) / 64, 0))


@pytest.mark.parametrize(
    "shape,dtype,match",
    [
        ((3, 17, 16), np.float32, "pass a batch"),
        ((2, 3, 16, 17), np.float32, r"expects \(N, 3, 17, 16\)"),
        ((2, 3, 17, 16), np.uint8, "dtype uint8"),
    ],
)
def test_bad_images_are_rejected_with_a_clear_error(rng, shape, dtype, match):
    from rtlcnn import InputError

    prog = make_program(rng)
    with pytest.raises(InputError, match=match):
        R.run(prog, np.zeros(shape, dtype))


def test_run_matches_float_fake_quant_model(rng):
    """An independent float path: torch ops on dequantized values, rounding as specified."""
    prog = make_program(rng, with_pool_ops=False).check()
    images = rng.random((2, 3, 17, 16), dtype=np.float32)
    x = torch.from_numpy(prog.quantize_input(images).astype(np.float64))
    for op in prog.ops:
        if op.kind == "linear":
            x = x.reshape(x.shape[0], -1)
            acc = F.linear(x, torch.from_numpy(op.weight.astype(np.float64))) + torch.from_numpy(
                op.bias.astype(np.float64)
            )
        else:
            acc = F.conv2d(
                x, torch.from_numpy(op.weight.astype(np.float64)), stride=op.stride, padding=op.padding
            ) + torch.from_numpy(op.bias.astype(np.float64)).reshape(1, -1, 1, 1)
        if op.out_int32:
            x = acc
            break
        shape = (1, -1) + (1,) * (acc.ndim - 2)
        real_m = torch.from_numpy(op.mult.astype(np.float64) / 2.0 ** (31 + op.shift)).reshape(shape)
        y = torch.floor(acc * real_m + 0.5)  # exact here: the products stay below 2^53
        x = torch.clamp(y, 0 if op.relu else -128, 127)
        if op.pool == "max":
            x = F.max_pool2d(x, 2)
        elif op.pool == "avg":
            x = torch.floor(F.avg_pool2d(x, 2) + 0.5)
    np.testing.assert_array_equal(R.run_int(prog, images), x.numpy().astype(np.int64))


def test_worked_example_of_docs_numerics():
    """docs/numerics.md's worked example, with its numbers as printed there."""
    x = np.array([3, -7, 12], np.int8).reshape(1, 3)
    w = np.array([25, -4, 90], np.int8).reshape(1, 3)
    bias = np.array([100], np.int32)
    assert R.linear_int(x, w, bias, None, None, out_int32=True).item() == 1283
    m, shift = np.array([1690499128], np.int32), np.array([6], np.int32)
    assert m.item() == round(0.0123 * 2**37) and 2**30 <= m.item() < 2**31
    assert R.linear_int(x, w, bias, m, shift).item() == 16
    assert R.requant(np.array([[-1283]]), m, shift).item() == -16
    assert R.requant(np.array([[20000]]), m, shift).item() == 127
    assert R.requant(np.array([[-1283]]), m, shift, relu=True).item() == 0
    pool = R.pool2d_int(np.array([40, 41, 40, 41, -3, -4, -3, -4], np.int8).reshape(2, 1, 2, 2), "avg")
    assert pool.ravel().tolist() == [41, -3]


def _peak_rss_mb(n: int) -> float:
    import os
    import subprocess
    import sys

    code = (
        "import resource, numpy as np\n"
        "from rtlcnn.core import reference as R\n"
        "from rtlcnn.core.random_programs import mnist_example\n"
        "p = mnist_example()\n"
        f"x = np.random.default_rng(0).integers(-128, 128, ({n}, 1, 28, 28), dtype=np.int8)\n"
        "R.run(p, x[:1])\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "y = R.run(p, x)\n"
        "assert y.shape == (len(x), 10)\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    return float(out.stdout.strip())


def test_reference_memory_is_bounded_by_a_chunk_not_by_the_batch():
    """The PyTorch MNIST example's layers need 2.3 MB per image in the reference; a batch
    runs in chunks, so 1,200 images take no more memory than 300 (before: 2.35 MB/image)."""
    from rtlcnn.core.random_programs import mnist_example

    p = mnist_example()
    assert R.image_bytes(p) > 2_000_000 and R.chunk_size(p) < 300
    small, big = _peak_rss_mb(300), _peak_rss_mb(1200)
    assert big < small + 40, (small, big)  # the outputs and inputs grow; the work does not
    assert big < 400


def test_empty_batches_give_empty_results():
    from rtlcnn.core.random_programs import lenet5

    p = lenet5()
    x = np.zeros((0, 1, 28, 28), np.float32)
    assert R.run(p, x).shape == (0, 10) and R.run(p, x).dtype == np.float32
    assert R.run_int(p, x, 0).shape == (0, 6, 14, 14)
    assert [a.shape[0] for a in R.run_all_int(p, x)] == [0] * 5


def test_chunked_runs_equal_one_chunk(monkeypatch):
    from rtlcnn.core.random_programs import lenet5

    p = lenet5(seed=4)
    x = np.random.default_rng(1).random((37, 1, 28, 28), dtype=np.float32)
    whole, all_whole = R.run_int(p, x), R.run_all_int(p, x)
    monkeypatch.setattr(R, "CHUNK_BYTES", 5 * R.image_bytes(p))  # chunks of 5 images
    assert R.chunk_size(p) == 5
    assert np.array_equal(R.run_int(p, x), whole)
    assert all(np.array_equal(a, b) for a, b in zip(R.run_all_int(p, x), all_whole, strict=True))
