"""rtlcnn.qat: the QAT model's forward is the program's integer result, and it trains."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import rtlcnn  # noqa: E402
from rtlcnn.compile import qat  # noqa: E402
from rtlcnn.core import reference  # noqa: E402

torch.set_num_threads(1)  # fastest for these tiny nets on a shared machine


def net(seed=0, last_relu=False) -> nn.Module:
    torch.manual_seed(seed)
    layers = [
        ("conv1", nn.Conv2d(1, 6, 3, padding=1)),
        ("bn1", nn.BatchNorm2d(6)),
        ("relu1", nn.ReLU()),
        ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(6, 8, 3, stride=2, padding=1)),
        ("relu2", nn.ReLU()),
        ("pool2", nn.AvgPool2d(2)),
        ("pool3", nn.MaxPool2d(2)),  # standalone
        ("flat", nn.Flatten()),
        ("fc1", nn.Linear(8, 16)),
        ("relu3", nn.ReLU()),
        ("fc2", nn.Linear(16, 4)),
    ]
    if last_relu:
        layers.append(("relu4", nn.ReLU()))  # int8 outputs instead of int32
    m = nn.Sequential(OrderedDict(layers))
    with torch.no_grad():
        m.bn1.running_mean.uniform_(-0.3, 0.3)
        m.bn1.running_var.uniform_(0.5, 2.0)
    return m.eval()


def _x(n=32, seed=0):
    return np.random.default_rng(seed).random((n, 1, 16, 16), dtype=np.float32)


@pytest.mark.parametrize("last_relu", [False, True], ids=["int32-out", "int8-out"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_forward_equals_the_program_bit_for_bit(mode, last_relu):
    x = _x()
    qm = qat.prepare(net(1, last_relu), x)
    qm.train(mode == "train")
    prog = qat.convert(qm)
    assert prog.ops[-1].out_int32 is (not last_relu)
    got = qm(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_array_equal(got, reference.run(prog, x))


def test_every_layer_equals_the_reference_integers():
    x = _x(8)
    qm = qat.prepare(net(2), x)
    prog = qm.convert()
    h = qm.quantize_input(torch.from_numpy(x))
    for layer, want in zip(qm.layers, reference.run_all_int(prog, x)):
        h = layer(h)
        if want.dtype == np.int32:  # the last layer returns its dequantized accumulators
            want = prog.dequantize_output(want)
        np.testing.assert_array_equal(h.detach().numpy(), want.astype(np.float32))


def test_fine_tuning_changes_weights_and_stays_exact():
    x = _x(16, seed=3)
    y = torch.from_numpy(np.random.default_rng(4).integers(0, 4, 16))
    qm = qat.prepare(net(3), x)
    opt = torch.optim.Adam(qm.parameters(), lr=3e-3)
    losses = []
    for _ in range(10):
        loss = F.cross_entropy(qm(torch.from_numpy(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in qm.parameters())
    assert losses[-1] < losses[0]
    prog = rtlcnn.compile(qm)  # compile() of a QAT model is its convert()
    np.testing.assert_array_equal(qm(torch.from_numpy(x)).detach().numpy(), reference.run(prog, x))


def test_prepare_leaves_the_model_alone_and_folds_batchnorm():
    m = net(5)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    qm = qat.prepare(m, _x())
    for k, v in m.state_dict().items():
        assert torch.equal(v, before[k])
    assert [type(layer).__name__ for layer in qm.layers] == [
        "QuantLayer",
        "QuantLayer",
        "QuantPool",
        "QuantLayer",
        "QuantLayer",
    ]
    assert qm.layers[0].sources == ["conv1: Conv2d", "bn1: BatchNorm2d", "relu1: ReLU", "pool1: MaxPool2d"]


def test_wide_layers_accumulate_exactly_in_float64():
    """Beyond 2**24 the float32 sum would round; the QAT layer then accumulates in float64."""
    torch.manual_seed(0)
    m = nn.Sequential(nn.Flatten(), nn.Linear(4096, 3)).eval()
    with torch.no_grad():
        m[1].weight.uniform_(0.5, 1.0)
    x = np.random.default_rng(0).random((4, 1, 64, 64), dtype=np.float32)
    qm = qat.prepare(m, x)
    prog = qm.convert()
    assert np.abs(prog.ops[0].weight.astype(np.int64)).sum(1).max() * 128 >= 2**24
    np.testing.assert_array_equal(qm(torch.from_numpy(x)).detach().numpy(), reference.run(prog, x))
