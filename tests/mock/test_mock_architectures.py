"""Published architectures of tests/zoo.py that the engine runs today, compiled unchanged and run
through rtlcnn.Accelerator on the mock board (the default engine's RTL), bit for bit equal to
rtlcnn.reference: the PyTorch MNIST example (its log_softmax on the host) and FINN's CNV
(BatchNorm1d folded, Hardtanh as the engine's activation bounds, 2x - 1 as the input
normalization). The others need engine ops that come later (residual add, depthwise conv,
3x3/s2 pools): Accelerator.load names the op it refuses."""

import sys
from pathlib import Path

import numpy as np
import pytest

import rtlcnn
from rtlcnn import reference
from rtlcnn.core.errors import LayerNotSupported

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
def test_published_models_run_on_the_mock_board(default_acc, make, shape):
    prog, x = _compiled(make(), shape)
    net = default_acc.load(prog)
    # float outputs equal to the last bit: the same integers, dequantized and the output_fn
    # (log_softmax) applied the same way
    np.testing.assert_array_equal(net.predict(x[:2]), reference.run(prog, x[:2]))


def test_what_the_engine_cannot_run_yet_is_named(default_acc):
    prog, _ = _compiled(zoo.resnet20("A", width=4, blocks=1), (3, 16, 16), n=4)
    with pytest.raises(LayerNotSupported, match=r"\(add, add\): the engine has no add op yet"):
        default_acc.load(prog)
