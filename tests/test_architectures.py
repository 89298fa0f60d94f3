"""The networks users bring compile unchanged (tests/zoo.py: seven public architectures as their
authors publish them), and the int8 program the compiler makes computes what the model does:
``rtlcnn.reference`` within a few quantization steps of the float model's output, the same
top-1 on almost every input.

Weights are random (BatchNorm statistics too), widths reduced where the published width would
only make the test slow; the layer structure and ``forward`` code are the published ones. How
far the int8 program is from the float model after *training* is reported for the shipped
models (README); here the point is that nothing is refused, and nothing is wrong.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import zoo

import rtlcnn
from rtlcnn import reference
from rtlcnn.compile.lowering import float_forward, lower_graph


@pytest.fixture(autouse=True)
def _seeded():
    """Every model's random weights come from one seed: the figures are reproducible."""
    torch.manual_seed(0)


def _images(n, shape, seed=0):
    return np.random.default_rng(seed).random((n,) + tuple(shape), dtype=np.float32)


def _compile_and_compare(model, shape, n_cal=64, n_test=64, seed=0, top1=0.95, tol=0.05):
    model = zoo.randomize_batchnorm(model, seed).eval()
    x = _images(n_cal + n_test, shape, seed)
    prog = rtlcnn.compile(model, x[:n_cal])
    prog.check()
    with torch.no_grad():
        want = model(torch.from_numpy(x[n_cal:])).double().numpy()
    got = reference.run(prog, x[n_cal:]).astype(np.float64).reshape(want.shape)
    span = np.abs(want).max()
    err = np.abs(got - want).max() / span
    agree = float((got.argmax(1) == want.argmax(1)).mean())
    assert err < tol, f"largest error {err:.3f} of the output range"
    assert agree >= top1, f"top-1 agreement {agree:.2f}"
    print(f"{type(model).__name__}: {len(prog.ops)} ops, largest error {err:.4f} of the output range, "
          f"top-1 agreement {agree:.3f}")
    return prog, got, want


def _kinds(prog) -> set:
    return {op.kind for op in prog.ops}


def test_pytorch_mnist_example_with_log_softmax():
    prog, got, want = _compile_and_compare(zoo.MnistExample(), (1, 28, 28))
    assert prog.output_fn == "log_softmax"
    assert np.allclose(np.exp(got).sum(1), 1.0, atol=1e-5)  # predict returns what forward returns


def test_finn_cnv_with_batchnorm1d_and_input_scaling():
    prog, _, _ = _compile_and_compare(zoo.CNV(width=0.25), (3, 32, 32))
    assert prog.input_norm == ((0.5,) * 3, (0.5,) * 3)  # 2x - 1 in forward
    assert [op.kind for op in prog.ops].count("linear") == 3


@pytest.mark.parametrize("option", ["A", "B"])
def test_resnet20_cifar(option):
    prog, _, _ = _compile_and_compare(zoo.resnet20(option, width=8), (3, 32, 32))
    adds = [op for op in prog.ops if op.kind == "add"]
    assert len(adds) == 9 and all(op.relu for op in adds)
    # the engine's ADD multiplies by unsigned 16 bit: the larger multiplier in [2**15, 2**16)
    assert all(2**15 <= int(max(op.mult)) < 2**16 and int(min(op.mult)) >= 0 for op in adds)
    assert "globalavgpool" in _kinds(prog)
    if option == "A":  # the strided subsample + channel padding: exact copies (1x1, weights 0/1)
        copies = [op for op in prog.ops if op.kind == "conv2d" and op.weight.shape[2:] == (1, 1)]
        assert len(copies) == 2 and all(set(np.unique(op.weight)) <= {0, 1} for op in copies)


def test_resnet20_head_spellings_all_compile():
    """F.avg_pool2d(out, out.size()[3]) (which crashed the compiler), AdaptiveAvgPool2d(1) and
    x.mean((2, 3)) are the same global average pool."""
    base = zoo.resnet20("A", width=4, blocks=1)

    class Adaptive(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net, self.pool = base, torch.nn.AdaptiveAvgPool2d(1)

        def forward(self, x):
            n = self.net
            out = F.relu(n.bn1(n.conv1(x)))
            out = n.layer3(n.layer2(n.layer1(out)))
            return n.linear(torch.flatten(self.pool(out), 1))

    class Mean(Adaptive):
        def forward(self, x):
            n = self.net
            out = F.relu(n.bn1(n.conv1(x)))
            out = n.layer3(n.layer2(n.layer1(out)))
            return n.linear(out.mean((2, 3)))

    for model in (base, Adaptive(), Mean()):
        prog, _, _ = _compile_and_compare(model, (3, 16, 16), n_test=32)
        assert "globalavgpool" in _kinds(prog)


def test_mobilenet_v2():
    setting = [[1, 8, 1, 1], [6, 12, 2, 1], [6, 16, 2, 2], [6, 24, 2, 2]]
    prog, _, _ = _compile_and_compare(zoo.MobileNetV2(width_mult=0.5, setting=setting), (3, 32, 32))
    dw = [op for op in prog.ops if op.kind == "conv2d" and op.groups > 1]
    assert dw and all(op.groups == op.weight.shape[0] and op.weight.shape[1] == 1 for op in dw)
    assert "add" in _kinds(prog)
    # ReLU6 as saturation bounds: nothing above 6 (to the half step) is representable
    assert all(op.relu and op.out_scale * op.act_max <= 6 + op.out_scale / 2 for op in dw)


def test_squeezenet_1_1():
    prog, _, _ = _compile_and_compare(zoo.SqueezeNet11(width=0.25), (3, 64, 64))
    cats = [op for op in prog.ops if op.kind == "concat"]
    assert len(cats) == 8
    pools = [op for op in prog.ops if op.kind == "maxpool"]
    assert pools and all(op.ceil_mode and op.pool_kernel == 3 and op.pool_stride == 2 for op in pools)


@pytest.mark.slow
def test_alexnet_at_its_published_input_size():
    """Kernel 11 stride 4, 3x3/s2 max pools and AdaptiveAvgPool2d((6, 6)) on 224x224 inputs, with
    reduced widths (the published widths only make it slower)."""
    prog, _, _ = _compile_and_compare(zoo.AlexNet(num_classes=10, width=0.125), (3, 224, 224),
                                      n_cal=16, n_test=16, top1=0.85)
    first = prog.ops[0]
    assert first.weight.shape[2:] == (11, 11) and first.stride == 4


def test_refused_model_names_the_layer_and_says_what_instead():
    model = zoo.resnet20("A", width=4, blocks=1)
    model.layer2[0].bn2 = torch.nn.GroupNorm(2, 8)
    want = r"layer2\.0\.bn2: GroupNorm.*BatchNorm2d after the conv"
    with pytest.raises(rtlcnn.LayerNotSupported, match=want):
        rtlcnn.compile(model.eval(), _images(4, (3, 16, 16)))


def test_lowered_graph_runs_like_the_model_in_float():
    """The float graph (BatchNorm folded, activations fused) equals the model to float rounding."""
    for model, shape in ((zoo.resnet20("A", width=4, blocks=1), (3, 16, 16)),
                         (zoo.SqueezeNet11(width=0.125), (3, 48, 48)),
                         (zoo.MnistExample(), (1, 28, 28))):
        model = zoo.randomize_batchnorm(model).eval()
        lo = lower_graph(model, shape)
        x = torch.from_numpy(_images(4, shape))
        with torch.no_grad():
            want = model(x)
            got = float_forward(lo.stages, x).reshape(want.shape)
        if lo.output_fn == "log_softmax":
            got = F.log_softmax(got, 1)
        assert torch.allclose(got, want, atol=1e-4, rtol=1e-4)


ENGINE_ZOO = {  # name: (model, input shape): the seven, at widths and sizes the test can afford
    "pytorch-mnist-example": (lambda: zoo.MnistExample(), (1, 28, 28)),
    "finn-cnv": (lambda: zoo.CNV(width=0.25), (3, 32, 32)),
    "resnet20-A": (lambda: zoo.resnet20("A", width=8), (3, 32, 32)),
    "resnet20-B": (lambda: zoo.resnet20("B", width=8, blocks=1), (3, 32, 32)),
    "mobilenet-v2": (lambda: zoo.MobileNetV2(width_mult=0.5, setting=[[1, 8, 1, 1], [6, 12, 2, 1],
                                                                    [6, 16, 2, 2]]), (3, 32, 32)),
    "squeezenet-1.1": (lambda: zoo.SqueezeNet11(width=0.25), (3, 64, 64)),
    "alexnet": (lambda: zoo.AlexNet(num_classes=10, width=0.125), (3, 224, 224)),
}


@pytest.mark.parametrize("name", list(ENGINE_ZOO))
def test_every_architecture_runs_on_the_engine_model_bit_exact(name):
    """Each compiled architecture scheduled for the default engine and run on the numpy
    engine model (job streams, tiling, chunks of groups, host pools): every op's output
    equals rtlcnn.reference's. tests/mock runs some of them on the RTL."""
    from rtlcnn.core import schedule as SC
    from rtlcnn.core.stream import Build
    from rtlcnn.sim.engine_model import EngineModel

    make, shape = ENGINE_ZOO[name]
    model = zoo.randomize_batchnorm(make(), 0).eval()
    x = _images(18, shape)
    prog = rtlcnn.compile(model, x[:16])
    pl = SC.plan(prog, Build())
    outs = SC.execute(pl, prog.quantize_input(x[16:]), EngineModel(pl.build), SC.Residency(), "n")
    for i, (got, want) in enumerate(zip(outs, reference.run_all_int(prog, x[16:]))):
        assert np.array_equal(got, want), f"op {i} ({prog.ops[i].name}, {prog.ops[i].kind})"
    host = {lp.kind for lp in pl.layers if lp.opcode == SC.OPCODE_HOST}
    assert host <= {"concat", "maxpool", "avgpool"}, host  # arithmetic runs on the engine
