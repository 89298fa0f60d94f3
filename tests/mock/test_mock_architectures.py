"""Published architectures of tests/zoo.py that the engine runs today, compiled unchanged and run
through rtlcnn.Accelerator on the mock board (the default engine's RTL), bit for bit equal to
rtlcnn.reference: the PyTorch MNIST example (its log_softmax on the host), FINN's CNV
(BatchNorm1d folded, Hardtanh as the engine's activation bounds, 2x - 1 as the input
normalization), ResNet-20 (adds, option-A copies, the global pool head), MobileNetV2
(depthwise convs, ReLU6) and SqueezeNet 1.1 (concats, 3x3/s2 ceil_mode max pools).
tests/test_architectures.py runs all seven on the numpy engine model."""

import sys
from pathlib import Path

import numpy as np
import pytest

import rtlcnn
import rtlcnn.core.stream
from rtlcnn import reference
from rtlcnn.core import schedule as SC

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import zoo  # noqa: E402


def _compiled(model, shape, n=32, seed=0):
    import torch

    torch.manual_seed(seed)
    model = zoo.randomize_batchnorm(model, seed)
    x = np.random.default_rng(seed).random((n,) + shape, dtype=np.float32)
    return rtlcnn.compile(model, x), x


@pytest.mark.slow
@pytest.mark.parametrize("make,shape", [(lambda: zoo.MnistExample(), (1, 28, 28)),
                                        (lambda: zoo.CNV(width=0.25), (3, 32, 32))],
                         ids=["pytorch-mnist-example", "finn-cnv"])
def test_published_models_run_on_the_mock_board(default_board, make, shape):
    from rtlcnn.board.accelerator import Accelerator

    prog, x = _compiled(make(), shape)
    # the MNIST example's second conv is ~83k engine cycles in one job: on a loaded 2-core
    # machine the simulation can exceed the mock's default 120 s job deadline
    net = Accelerator(default_board, timeout=900.0).load(prog)
    # float outputs equal to the last bit: the same integers, dequantized and the output_fn
    # (log_softmax) applied the same way
    np.testing.assert_array_equal(net.predict(x[:1]), reference.run(prog, x[:1]))


@pytest.mark.parametrize("make,shape", [
    (lambda: zoo.MobileNetV2(width_mult=0.25, setting=[[1, 8, 1, 1], [6, 8, 2, 2]]), (3, 12, 12)),
    (lambda: zoo.SqueezeNet11(width=0.125), (3, 40, 40)),
], ids=["mobilenet-v2", "squeezenet-1.1"])
def test_depthwise_and_concat_networks_run_on_the_mock_board(default_acc, make, shape):
    """MobileNetV2 (depthwise convs in chunks of groups, ReLU6 bounds, adds, the adaptive
    pool) and SqueezeNet 1.1 (concats, 3x3/s2 ceil_mode max pools on the host) at reduced
    widths and input sizes, bit for bit equal to rtlcnn.reference."""
    prog, x = _compiled(make(), shape, n=4)
    net = default_acc.load(prog)
    np.testing.assert_array_equal(net.predict(x[:1]), reference.run(prog, x[:1]))


@pytest.mark.parametrize("option", ["A", "B"])
def test_resnet20_runs_on_the_mock_board(default_acc, option):
    """ResNet-20 (one block per stage, width 8, 3x16x16) compiled from its published
    definition: convs, option-A copies or option-B 1x1 projections, the residual adds (the
    ADD op, 1.4) and the global average pool head (a 1x1 conv over the transposed map,
    its requant the rounded mean), all on the engine, bit for bit equal to rtlcnn.reference."""
    prog, x = _compiled(zoo.resnet20(option, width=8, blocks=1), (3, 16, 16), n=8)
    net = default_acc.load(prog)
    assert sum(lp.kind == "add" for lp in net.plan.layers) == 3
    gap = [lp for lp in net.plan.layers if lp.kind == "globalavgpool"]
    assert gap and gap[0].layout == "pixels" and gap[0].opcode == rtlcnn.core.stream.OPCODE_CONV
    assert all(lp.opcode != SC.OPCODE_HOST for lp in net.plan.layers)
    np.testing.assert_array_equal(net.predict(x[:2]), reference.run(prog, x[:2]))


def test_resnet_blocks_with_row_bands_run_on_the_tiny_engine(tiny_acc):
    """A ResNet-style program whose adds run in row bands on the tiny engine (IBUF 256)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from test_add_engine import resnet_like

    prog = resnet_like(np.random.default_rng(4), c=4, hw=(20, 16), blocks=2, bounds=dict(act_max=100))
    net = tiny_acc.load(prog)
    adds = [lp for lp in net.plan.layers if lp.kind == "add"]
    assert len(adds) == 2 and all(len(lp.bands) > 1 for lp in adds)
    x = np.random.default_rng(1).uniform(-1, 1, (2,) + tuple(prog.input_shape)).astype(np.float32)
    np.testing.assert_array_equal(net.predict(x), reference.run(prog, x))
