"""rtlcnn.compile: lowering, folding, fusion, quantization, and the layers it refuses."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import rtlcnn  # noqa: E402
from rtlcnn.compile import compiler  # noqa: E402
from rtlcnn.core import reference  # noqa: E402
from rtlcnn.core.errors import LayerNotSupported  # noqa: E402

torch.set_num_threads(1)  # fastest for these tiny nets on a shared machine


def _randomize_bn(bn: nn.BatchNorm2d, seed: int) -> nn.BatchNorm2d:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        bn.running_mean.copy_(torch.rand(bn.num_features, generator=g) - 0.5)
        bn.running_var.copy_(torch.rand(bn.num_features, generator=g) * 2 + 0.3)
        if bn.affine:
            bn.weight.copy_(torch.rand(bn.num_features, generator=g) + 0.5)
            bn.bias.copy_(torch.rand(bn.num_features, generator=g) - 0.5)
    return bn


def small_net(seed: int = 0, bn: bool = True, bias: bool = True) -> nn.Module:
    torch.manual_seed(seed)
    layers = [("conv1", nn.Conv2d(1, 8, 3, padding=1, bias=bias))]
    if bn:
        layers.append(("bn1", _randomize_bn(nn.BatchNorm2d(8), seed)))
    layers += [
        ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(8, 12, 3, stride=2, padding=1, bias=bias)),
        ("relu2", nn.ReLU(inplace=True)),
        ("pool2", nn.AvgPool2d(2)),
        ("conv3", nn.Conv2d(12, 16, 1, bias=bias)),
        ("relu3", nn.ReLU()),
        ("pool3", nn.MaxPool2d(2)),
        ("flat", nn.Flatten()),
        ("drop", nn.Dropout(0.5)),
        ("fc1", nn.Linear(64, 32)),
        ("relu4", nn.ReLU()),
        ("fc2", nn.Linear(32, 10, bias=bias)),
    ]
    return nn.Sequential(OrderedDict(layers)).eval()


def _images(n=64, shape=(1, 16, 16), seed=1) -> np.ndarray:
    return np.random.default_rng(seed).random((n,) + shape, dtype=np.float32)


# ------------------------------------------------------------------------ lowering


def test_sequential_fuses_relu_and_pool_into_ops():
    prog = rtlcnn.compile(small_net(), _images(), name="small")
    kinds = [(op.kind, op.name, op.relu, op.pool, op.out_int32) for op in prog.ops]
    assert kinds == [
        ("conv2d", "conv1", True, None, False),
        ("conv2d", "conv2", True, "avg", False),
        ("conv2d", "conv3", True, "max", False),
        ("linear", "fc1", True, None, False),
        ("linear", "fc2", False, None, True),
    ]
    assert prog.ops[1].stride == 2 and prog.ops[1].padding == 1
    assert prog.name == "small" and prog.input_shape == (1, 16, 16)
    assert prog.ops[-1].out_scale is None and prog.ops[-1].acc_scale.shape == (10,)
    for op in prog.ops:
        assert op.weight.dtype == np.int8 and int(np.abs(op.weight.astype(int)).max()) == 127
        assert op.mult.min() >= 2**30 and op.mult.max() < 2**31 or op.out_int32
    assert "bn1: BatchNorm2d" in prog.meta["compiler"]["source"]


def test_batchnorm_folding_matches_the_float_model():
    for affine in (True, False):
        m = small_net(seed=3)
        m.bn1 = _randomize_bn(nn.BatchNorm2d(8, affine=affine), 5).eval()
        x = torch.from_numpy(_images())
        stages = compiler.lower(m, (1, 16, 16))
        assert len(stages) == 5  # bn folded into conv1
        with torch.no_grad():
            np.testing.assert_allclose(compiler.float_forward(stages, x).numpy(), m(x).numpy(), atol=1e-5)


def test_bias_free_convs_compile_with_zero_bias():
    m = small_net(seed=2, bn=False, bias=False)
    prog = rtlcnn.compile(m, _images())
    assert not prog.ops[0].bias.any() and not prog.ops[-1].bias.any()
    x = _images(32, seed=9)
    with torch.no_grad():
        want = m(torch.from_numpy(x)).numpy()
    got = reference.run(prog, x)
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()


class TracedNet(nn.Module):
    """The same layers as small_net, in a hand-written forward with functionals."""

    def __init__(self, seq: nn.Sequential):
        super().__init__()
        self.conv1, self.bn1, self.conv2, self.conv3 = seq.conv1, seq.bn1, seq.conv2, seq.conv3
        self.fc1, self.fc2 = seq.fc1, seq.fc2

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.avg_pool2d(torch.relu(self.conv2(x)), 2)
        x = F.max_pool2d(self.conv3(x).relu(), kernel_size=2)
        x = x.view(x.size(0), -1)
        x = F.dropout(x, 0.5, self.training)
        x = F.relu(self.fc1(x))
        return self.fc2(torch.flatten(x, 1))


def test_fx_traced_forward_gives_the_same_program_as_sequential():
    seq = small_net(seed=4)
    a = rtlcnn.compile(seq, _images())
    b = rtlcnn.compile(TracedNet(seq).eval(), _images())
    assert len(a.ops) == len(b.ops)
    for x, y in zip(a.ops, b.ops):
        assert (x.kind, x.relu, x.pool, x.stride, x.padding) == (y.kind, y.relu, y.pool, y.stride, y.padding)
        for f in ("weight", "bias", "mult", "shift"):
            np.testing.assert_array_equal(getattr(x, f), getattr(y, f))


def test_standalone_pools_become_ops():
    torch.manual_seed(0)
    m = nn.Sequential(
        OrderedDict(
            pre=nn.MaxPool2d(2),  # on the input: nothing to fuse into
            conv=nn.Conv2d(2, 4, 3, padding=1),
            relu=nn.ReLU(),
            pool1=nn.MaxPool2d(2),  # fused
            pool2=nn.AvgPool2d(2),  # standalone
            flat=nn.Flatten(),
            fc=nn.Linear(16, 3),
        )
    ).eval()
    x = _images(16, (2, 16, 16))
    prog = rtlcnn.compile(m, x)
    assert [(op.kind, op.name, op.pool) for op in prog.ops] == [
        ("maxpool", "pre", None),
        ("conv2d", "conv", "max"),
        ("avgpool", "pool2", None),
        ("linear", "fc", None),
    ]
    with torch.no_grad():
        want = m(torch.from_numpy(x)).numpy()
    assert np.abs(reference.run(prog, x) - want).max() < 0.05 * np.abs(want).max()


def test_relu_after_maxpool_moves_before_it():
    m = nn.Sequential(nn.Conv2d(1, 4, 3), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(144, 2)).eval()
    prog = rtlcnn.compile(m, _images(8, (1, 14, 14)))
    assert prog.ops[0].relu and prog.ops[0].pool == "max"


def test_relu_on_the_last_layer_gives_int8_outputs():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), nn.ReLU()).eval()
    x = _images(32, (1, 8, 8))
    prog = rtlcnn.compile(m, x)
    last = prog.ops[-1]
    assert not last.out_int32 and last.relu and last.out_scale > 0
    with torch.no_grad():
        want = m(torch.from_numpy(x)).numpy()
    assert np.abs(reference.run(prog, x) - want).max() <= 2 * last.out_scale


# ------------------------------------------------------------------------ error bounds


def _layer_bound(op, x_real: np.ndarray, s_in: float) -> np.ndarray:
    """Per-channel bound on |int op output - float stage output| for the same int8 input.

    Weight rounding moves each product by at most s_in*|x_q|*s_w/2; requant rounds to
    half an output step; bias rounding adds half an accumulator step; M approximates the
    multiplier to 2**-30 relative.
    """
    s_w = op.acc_scale.astype(np.float64) / s_in
    x_abs = np.abs(x_real.reshape(len(x_real), -1) if op.kind == "linear" else x_real)
    if op.kind == "conv2d":
        k = op.kernel
        ones = torch.ones(1, x_abs.shape[1], k, k, dtype=torch.float64)
        s = F.conv2d(torch.from_numpy(x_abs.astype(np.float64)), ones, padding=op.padding, stride=op.stride)
        worst_sum = float(s.max())
    else:
        worst_sum = float(x_abs.sum(axis=1).max())
    return worst_sum * s_w / 2 + op.acc_scale * 0.5 + 1e-6


def test_per_op_error_is_within_rounding_bounds():
    """Each op, fed the dequantized int8 output of the op before it, stays within the bound of
    its weight/bias/requant rounding (a few output steps) of the folded float layer."""
    m = small_net(seed=7)
    x = _images(48, seed=11)
    prog = rtlcnn.compile(m, x)
    stages = compiler.lower(m, (1, 16, 16))
    outs = reference.run_all_int(prog, x)
    x_in = prog.quantize_input(x).astype(np.float64) * prog.input_scale
    s_in = prog.input_scale
    for i, (op, stage, q) in enumerate(zip(prog.ops, stages, outs)):
        with torch.no_grad():
            want = compiler.float_forward([stage], torch.from_numpy(x_in.astype(np.float32))).numpy()
        if op.out_int32:
            got = prog.dequantize_output(q)
            step = float(np.max(op.acc_scale))
        else:
            got = q.astype(np.float64) * op.out_scale
            step = op.out_scale
        err = np.abs(got - want)
        bound = _layer_bound(op, x_in, s_in).max() + (0 if op.out_int32 else 0.5 * step)
        if op.pool == "avg":
            bound += 0.5 * step  # (a+b+c+d+2) >> 2 rounds once more
        assert err.max() <= bound, f"op {i} ({op.name}): error {err.max():.4g} > bound {bound:.4g}"
        if not op.out_int32:
            assert err.max() <= 4 * step, f"op {i} ({op.name}): error {err.max() / step:.2f} steps"
        x_in, s_in = got, (s_in if op.out_int32 else op.out_scale)


def test_end_to_end_logits_close_to_float():
    m = small_net(seed=8)
    x = _images(200, seed=12)
    prog = rtlcnn.compile(m, x[:100])
    with torch.no_grad():
        want = m(torch.from_numpy(x)).numpy()
    got = reference.run(prog, x)
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()


def test_percentile_calibration_gives_finer_scales():
    m = small_net(seed=9)
    x = _images(64)
    a = rtlcnn.compile(m, x)
    b = rtlcnn.compile(m, x, activation="percentile", percentile=99.0)
    assert all(ob.out_scale < oa.out_scale for oa, ob in zip(a.ops[:-1], b.ops[:-1]))
    assert b.meta["compiler"]["activation"] == "percentile"


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=2.0**-40, max_value=2.0**29, allow_nan=False, allow_infinity=False))
def test_requant_params_represent_the_multiplier(m):
    mult, shift = compiler.requant_params(np.array([m]))
    k = int(shift[0]) + 31
    assert 1 <= k <= 62
    if k < 62:
        assert 2**30 <= int(mult[0]) < 2**31
        assert abs(int(mult[0]) * 2.0**-k - m) <= m * 2.0**-31
    else:
        assert abs(int(mult[0]) * 2.0**-62 - m) <= 2.0**-63


def test_calibration_is_required_and_checked():
    with pytest.raises(ValueError, match="calibration"):
        rtlcnn.compile(small_net(), None)
    with pytest.raises(ValueError, match="shape"):
        rtlcnn.compile(small_net(), _images(), input_shape=(1, 8, 8))


# ------------------------------------------------------------------------ refusals


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        y = self.conv1(x)
        return self.conv2(y) + y


class Concat(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)

    def forward(self, x):
        return torch.cat([self.conv(x), x], 1)


class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)

    def forward(self, x):
        if x.sum() > 0:
            return self.conv(x)
        return x


class Branch(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 4, 3)
        self.b = nn.Conv2d(1, 4, 3)

    def forward(self, x):
        self.b(x)
        return self.a(x)


class Subtract(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(1, 4, 3), nn.Conv2d(1, 4, 3)

    def forward(self, x):
        return self.a(x) - self.b(x)


class Gate(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(1, 4, 3), nn.Conv2d(1, 4, 3)

    def forward(self, x):
        return self.a(x) * self.b(x)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.attn = nn.MultiheadAttention(4, 1)

    def forward(self, x):
        y = self.conv(x).flatten(1)
        return self.attn(y, y, y)[0]


class CatDim2(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(1, 4, 3), nn.Conv2d(1, 4, 3)

    def forward(self, x):
        return torch.cat([self.a(x), self.b(x)], 2)


class BroadcastAdd(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(1, 4, 3), nn.Conv2d(1, 4, 10)

    def forward(self, x):
        return self.a(x) + self.b(x)


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.gain = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return self.conv(x) * self.gain


class Interp(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)

    def forward(self, x):
        return F.interpolate(self.conv(x), scale_factor=2.0)


def _seq(bad, pre=None, post=None):
    layers = [("stem", pre)] if pre is not None else []
    layers.append(("bad", bad))
    if post is not None:
        layers.append(("post", post))
    return nn.Sequential(OrderedDict(layers))


CONV = nn.Conv2d(1, 4, 3, padding=1)
HEAD = nn.Sequential(nn.Flatten(), nn.Linear(144, 4))
UNSUPPORTED = [
    ("dilation", _seq(nn.Conv2d(1, 4, 3, dilation=2)), (1, 12, 12), ["bad", "Conv2d", "dilation"]),
    ("nonsquare", _seq(nn.Conv2d(1, 4, (3, 5))), (1, 12, 12), ["bad", "Conv2d", "(3, 5)"]),
    ("reflect", _seq(nn.Conv2d(1, 4, 3, padding=1, padding_mode="reflect")), (1, 12, 12), ["bad", "reflect"]),
    ("asym-pad", _seq(nn.Conv2d(1, 4, 3, padding=(1, 0))), (1, 12, 12), ["bad", "padding=(1, 0)"]),
    ("pad>=k", _seq(nn.Conv2d(1, 4, 1, padding=1)), (1, 12, 12), ["bad", "padding=1"]),
    ("sigmoid", _seq(nn.Sigmoid(), CONV), (1, 12, 12), ["bad", "Sigmoid"]),
    ("lstm", _seq(nn.LSTM(12, 4), CONV), (1, 12, 12), ["bad", "LSTM"]),
    ("bn-after-relu", _seq(nn.BatchNorm2d(4), nn.Sequential(CONV, nn.ReLU())), (1, 12, 12), ["BatchNorm2d"]),
    ("relu-on-input", _seq(nn.ReLU(), None, CONV), (1, 12, 12), ["bad", "ReLU", "input"]),
    ("avg-then-relu", _seq(nn.ReLU(), nn.Sequential(CONV, nn.AvgPool2d(2))), (1, 12, 12), ["bad", "average"]),
    ("linear-on-map", _seq(nn.Linear(12, 4), CONV), (1, 12, 12), ["bad", "Linear", "flatten"]),
    ("flatten-dim2", _seq(nn.Flatten(2), CONV), (1, 12, 12), ["bad", "Flatten", "start_dim=2"]),
    ("conv-after-flatten", _seq(nn.Conv2d(1, 4, 1), nn.Flatten()), (1, 12, 12), ["bad", "Conv2d", "Flatten"]),
    ("untraceable", DataDependent(), (1, 12, 12), ["DataDependent", "torch.fx"]),
    ("parameter", Scaled(), (1, 12, 12), ["gain", "normalization"]),
    ("softmax-inside", _seq(nn.Softmax(1), CONV, HEAD), (1, 12, 12), ["post", "softmax", "last step"]),
    ("bn1d-after-relu", _seq(nn.BatchNorm1d(4), nn.Sequential(HEAD, nn.ReLU())), (1, 12, 12),
     ["bad", "BatchNorm1d", "Linear right before"]),
    ("subtract", Subtract(), (1, 12, 12), ["sub", "subtraction of two tensors"]),
    ("gate", Gate(), (1, 12, 12), ["mul", "product of two tensors"]),
    ("silu", _seq(nn.SiLU(), CONV), (1, 12, 12), ["bad: SiLU", "ReLU or ReLU6"]),
    ("leaky", _seq(nn.LeakyReLU(), CONV), (1, 12, 12), ["bad: LeakyReLU", "write ReLU"]),
    ("attention", Attention(), (1, 12, 12), ["attn: MultiheadAttention", "convolutional block"]),
    ("cat-dim2", CatDim2(), (1, 12, 12), ["cat", "dim 2"]),
    ("broadcast-add", BroadcastAdd(), (1, 12, 12), ["add", "broadcasting"]),
    ("interpolate", Interp(), (1, 12, 12), ["interpolate"]),
    ("no-weights", _seq(nn.MaxPool2d(2)), (1, 12, 12), ["no Conv2d or Linear"]),
]  # fmt: skip


@pytest.mark.parametrize(
    "model, shape, needles", [c[1:] for c in UNSUPPORTED], ids=[c[0] for c in UNSUPPORTED]
)
def test_unsupported_layers_are_named(model, shape, needles):
    with pytest.raises(LayerNotSupported) as e:
        rtlcnn.compile(model.eval(), _images(4, shape))
    msg = str(e.value)
    for needle in needles:
        assert needle in msg, f"{needle!r} not in {msg!r}"


def test_worst_case_overflow_is_refused_with_the_layer_named():
    m = nn.Sequential(OrderedDict(flat=nn.Flatten(), head=nn.Linear(16, 2))).eval()
    with torch.no_grad():
        m.head.weight.fill_(1e-6)
        m.head.bias.fill_(1e3)  # a bias of 1e3 in units of s_in*s_w = (1/127)*(1e-6/127)
    with pytest.raises(LayerNotSupported, match=r"head.*overflow int32"):
        rtlcnn.compile(m, _images(4, (1, 4, 4)))


def test_wide_linear_overflow_is_refused():
    n = 2**31 // (127 * 128) + 1  # all-equal weights quantize to 127: 127*128*n >= 2**31
    m = nn.Sequential(OrderedDict(flat=nn.Flatten(), wide=nn.Linear(n, 1))).eval()
    with torch.no_grad():
        m.wide.weight.fill_(0.01)
    with pytest.raises(LayerNotSupported, match=r"wide.*overflow int32"):
        rtlcnn.compile(m, _images(2, (1, 1, n)))


def test_compile_works_without_torch_on_import():
    """``import rtlcnn`` and the compiler module must not import torch at import time."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import rtlcnn, rtlcnn.compiler, rtlcnn.datasets, rtlcnn.models\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


# ------------------------------------------------------------------------ the shipped LeNet


def test_shipped_lenet_float_model_and_its_compile_agree(mnist_dir):
    """The float LeNet-5 behind the shipped program, compiled here (post-training) with the
    training images, picks the same class as the float model on >= 99 % of the held-out
    images; so does the shipped (QAT) program."""
    from rtlcnn import models
    from rtlcnn.compile import datasets, train

    model = train.load_float("lenet5_mnist")
    s = datasets.mnist_splits(mnist_dir, train_split=False)
    prog = rtlcnn.compile(model, s.train_images[:2000])
    with torch.no_grad():
        f = model(torch.from_numpy(s.heldout_images)).numpy().argmax(1)
    q = reference.run(prog, s.heldout_images).argmax(1)
    shipped = reference.run(models.load("lenet5_mnist"), s.heldout_images).argmax(1)
    assert (f == q).mean() >= 0.99
    assert (f == shipped).mean() >= 0.99
    meta = models.load("lenet5_mnist").meta
    assert (f == s.heldout_labels).mean() == pytest.approx(meta["accuracy"]["float"], abs=1e-12)


def test_integer_calibration_images_are_converted_as_the_cli_does_or_refused():
    from rtlcnn.core.errors import InputError, InputRangeWarning

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    pixels = np.random.default_rng(0).integers(0, 256, (32, 1, 8, 8)).astype(np.uint8)
    with pytest.warns(InputRangeWarning, match="uint8 pixels: divided by 255"):
        a = rtlcnn.compile(model, pixels)
    b = rtlcnn.compile(model, pixels.astype(np.float32) / 255)
    assert a.input_scale == b.input_scale and np.array_equal(a.ops[0].weight, b.ops[0].weight)
    assert b.input_range == (float(pixels.min()) / 255, float(pixels.max()) / 255)
    with pytest.raises(InputError, match="dtype int64"):
        rtlcnn.compile(model, pixels.astype(np.int64))


def test_a_normalized_model_takes_its_images_as_they_come():
    """compile(normalize=...) calibrates on the normalized images and records the
    normalization, so predict/run take pixels / 255 (not re-normalized by hand)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).eval()
    x = np.random.default_rng(0).random((64, 1, 8, 8), dtype=np.float32)
    p = rtlcnn.compile(model, x, normalize=(0.1307, 0.3081))
    assert p.input_norm == ((0.1307,), (0.3081,)) and p.meta["compiler"]["normalize"] == [[0.1307], [0.3081]]
    assert p.input_range == (float(x.min()), float(x.max()))
    with torch.no_grad():
        want = model(torch.from_numpy((x - 0.1307) / 0.3081)).numpy()
    got = reference.run(p, x)
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()
    assert (got.argmax(1) == want.argmax(1)).mean() > 0.9


def test_percentile_calibration_keeps_only_the_tail_and_matches_numpy():
    from rtlcnn.compile import lowering, quantize

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(36, 3)).eval()
    x = np.random.default_rng(0).random((300, 1, 8, 8), dtype=np.float32)
    stages = lowering.lower(model, (1, 8, 8))
    for p in (99.99, 99.0):
        _, scales = quantize.calibrate(stages, x, activation="percentile", percentile=p, batch_size=64)
        with torch.no_grad():
            outs = lowering.float_forward(stages, torch.from_numpy(x), collect=True)
        want = [float(np.percentile(np.abs((pre if pre is not None else o).numpy()), p)) / 127
                for st, (o, pre) in zip(stages, outs) if st.has_weights]
        assert [s for s in scales if s is not None] == pytest.approx(want, rel=1e-12)
