"""Seeded random programs with realistic requant scales (numpy only, no training).

One generator for the benchmarks' stand-in when a shipped model is missing and for the
tests: the requant of every layer is scaled to its fan-in, so outputs span the int8
range instead of saturating.
"""

from __future__ import annotations

import numpy as np

from .program import Op, Program

__all__ = ["conv", "linear", "lenet5", "mnist_example"]


def _requant(rng, o, fan_in):
    # acc ~ sqrt(fan_in) * 60 * 60; aim at outputs of roughly +-60
    k = int(np.clip(np.round(np.log2(np.sqrt(fan_in) * 3600 / 60)) + 30, 1, 62))
    mult = rng.integers(1 << 29, 1 << 30, size=o).astype(np.int32)
    shift = np.full(o, k - 31, np.int32)
    return mult, shift


def conv(rng, c, o, k, stride=1, padding=0, relu=True, pool=None, out_int32=False, name=""):
    """A conv2d op with random int8 weights, bias and fan-in-scaled requant."""
    w = rng.integers(-127, 128, size=(o, c, k, k)).astype(np.int8)
    bias = rng.integers(-2000, 2000, size=o).astype(np.int32)
    mult, shift = _requant(rng, o, c * k * k)
    acc = np.full(o, 1e-4, np.float32) if out_int32 else None
    return Op("conv2d", name=name, weight=w, bias=bias, mult=mult, shift=shift, stride=stride,
              padding=padding, relu=relu, pool=pool, out_int32=out_int32,
              out_scale=None if out_int32 else 0.05, acc_scale=acc)


def linear(rng, i, o, relu=True, out_int32=False, name=""):
    """A linear op with random int8 weights, bias and fan-in-scaled requant."""
    w = rng.integers(-127, 128, size=(o, i)).astype(np.int8)
    bias = rng.integers(-2000, 2000, size=o).astype(np.int32)
    mult, shift = _requant(rng, o, i)
    acc = np.full(o, 1e-4, np.float32) if out_int32 else None
    return Op("linear", name=name, weight=w, bias=bias, mult=mult, shift=shift, relu=relu,
              out_int32=out_int32, out_scale=None if out_int32 else 0.05, acc_scale=acc)


def lenet5(seed=0, out_int32=True):
    """A LeNet-5-shaped program (1x28x28 input, pad 2) with random weights."""
    rng = np.random.default_rng(seed)
    ops = [conv(rng, 1, 6, 5, padding=2, pool="max", name="conv1"),
           conv(rng, 6, 16, 5, pool="max", name="conv2"),
           linear(rng, 400, 120, name="fc1"),
           linear(rng, 120, 84, name="fc2"),
           linear(rng, 84, 10, relu=False, out_int32=out_int32, name="fc3")]
    return Program(input_shape=(1, 28, 28), input_scale=1 / 127, ops=ops, name="lenet5-random").check()


def mnist_example(seed=0):
    """The layers of the PyTorch MNIST example (pytorch/examples mnist/main.py: two 3x3 convs
    of 32 and 64 channels, a 2x2 max pool, 9216 -> 128 -> 10), random weights, without its
    dropout and log_softmax: 12 M MACs and 2.3 MB of reference working memory per image."""
    rng = np.random.default_rng(seed)
    ops = [conv(rng, 1, 32, 3, name="conv1"),
           conv(rng, 32, 64, 3, pool="max", name="conv2"),
           linear(rng, 9216, 128, name="fc1"),
           linear(rng, 128, 10, relu=False, out_int32=True, name="fc2")]
    return Program(input_shape=(1, 28, 28), input_scale=1 / 127, ops=ops, name="mnist-example-random").check()
