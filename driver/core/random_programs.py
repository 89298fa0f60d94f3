"""Seeded random programs with realistic requant scales (numpy only, no training).

One generator for the benchmarks' stand-in when a shipped model is missing and for the
tests: the requant of every layer is scaled to its fan-in, so outputs span the int8
range instead of saturating. :func:`graph` makes random graph programs (file format
version 2: adds with skips across several layers, concat, depthwise and grouped convs,
every pooling variant, global average pooling, activation bounds, big kernels and
strides) for the tests of every part that runs them.
"""

from __future__ import annotations

import numpy as np

from .program import Op, Program

__all__ = ["conv", "linear", "add", "lenet5", "mnist_example", "taps_chain", "graph"]


def _requant(rng, o, fan_in):
    # acc ~ sqrt(fan_in) * 60 * 60; aim at outputs of roughly +-60
    k = int(np.clip(np.round(np.log2(np.sqrt(fan_in) * 3600 / 60)) + 30, 1, 62))
    mult = rng.integers(1 << 29, 1 << 30, size=o).astype(np.int32)
    shift = np.full(o, k - 31, np.int32)
    return mult, shift


def conv(rng, c, o, k, stride=1, padding=0, relu=True, pool=None, out_int32=False, name="",
         groups=1, out_scale=0.05, **extra):
    """A conv2d op with random int8 weights, bias and fan-in-scaled requant (``extra``:
    further Op fields, e.g. ``inputs`` or ``act_max``)."""
    w = rng.integers(-127, 128, size=(o, c // groups, k, k)).astype(np.int8)
    bias = rng.integers(-2000, 2000, size=o).astype(np.int32)
    mult, shift = _requant(rng, o, c // groups * k * k)
    acc = np.full(o, 1e-4, np.float32) if out_int32 else None
    return Op("conv2d", name=name, weight=w, bias=bias, mult=mult, shift=shift, stride=stride,
              padding=padding, relu=relu, pool=pool, out_int32=out_int32,
              out_scale=None if out_int32 else out_scale, acc_scale=acc, groups=groups, **extra)


def add(rng, a: str, b: str, name: str, relu=False, out_scale=0.05, **extra):
    """An add of tensors ``a`` and ``b`` with random multipliers of about 1/2 each."""
    mult = rng.integers(1 << 29, 1 << 30, size=2).astype(np.int32)
    return Op("add", name=name, inputs=(a, b), mult=mult, shift=np.zeros(1, np.int32), relu=relu,
              out_scale=out_scale, **extra)


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


def taps_chain(c=3, seed=3):
    """conv 1->c (3x3, pad 1), conv c->8 (5x5, pad 2, 2x2 max pool, multipliers >= 0: the
    pair layout) and a LINEAR on a 1x16x16 input: on engine 1.6 the second conv builds its
    pair layout from the first's map in the feature buffer (IN_TAPS, TAP_C = c)."""
    rng = np.random.default_rng(seed)
    ops = [conv(rng, 1, c, 3, padding=1, name="c1"), conv(rng, c, 8, 5, padding=2, pool="max", name="c2"),
           linear(rng, 8 * 8 * 8, 10, relu=False, out_int32=True, name="fc")]
    ops[1].mult = np.abs(ops[1].mult)
    return Program(input_shape=(1, 16, 16), input_scale=1 / 127, ops=ops, name=f"taps-{c}").check()


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


def _bounds(rng) -> dict:
    """Random activation bounds a third of the time (ReLU6-like or a clamp)."""
    if rng.random() < 0.67:
        return {}
    hi = int(rng.integers(10, 128))
    return {"act_max": hi, "act_min": int(rng.integers(-128, min(hi, 20)))}


def graph(seed=0, input_shape=(3, 20, 20), blocks=5, classes=10, out_int32=True) -> Program:
    """A seeded random graph program: a stem conv (kernel up to 11, stride up to 4), then
    ``blocks`` random blocks (residual adds over 1..3 convs, optionally with a 1x1
    projection; two- or three-way concats; depthwise and grouped convs; a max or average
    pool of random window, stride, padding, ceil_mode and count_include_pad; a plain
    conv), a global average pool or not, and a linear classifier."""
    rng = np.random.default_rng(seed)
    ops, shape, scale = [], {"input": tuple(input_shape)}, {"input": 1 / 64}
    cur = ["input"]

    def emit(op, srcs):
        prev = ops[-1].name if ops else "input"
        op.name = f"t{len(ops)}_{op.kind}"
        if list(srcs) != [prev] or rng.random() < 0.2:  # named inputs, sometimes even for the chain
            op.inputs = tuple(srcs)
        shape[op.name] = op.out_shape(*[shape[s] for s in srcs])
        scale[op.name] = scale[srcs[0]] if op.out_scale is None else float(op.out_scale)
        ops.append(op)
        cur[0] = op.name
        return op.name

    def same_conv(src, o, k=None, groups=1, **kw):  # shape-keeping conv (odd kernel)
        k = int(rng.choice([1, 3, 5])) if k is None else k
        return emit(conv(rng, shape[src][0], o, k, padding=k // 2, groups=groups,
                         relu=bool(rng.integers(0, 2)), **_bounds(rng), **kw), [src])

    c, h, w = input_shape
    k = int(rng.integers(1, min(11, h) + 1))
    s = int(rng.integers(1, 5))
    while s > 1 and (h + 2 * (k // 2) - k) // s + 1 < 6:
        s -= 1
    emit(conv(rng, c, int(rng.integers(4, 9)), k, stride=s, padding=k // 2, **_bounds(rng)), ["input"])
    for _ in range(blocks):
        x = cur[0]
        c, h, w = shape[x]
        kind = rng.choice(["res", "cat", "pool", "dw", "conv"])
        if kind == "res":
            o = int(rng.choice([c, c + 2]))
            y = x
            for j in range(int(rng.integers(1, 4))):
                y = same_conv(y, o if j else int(rng.integers(3, 9)))
            y = same_conv(y, o)
            skip = x if o == c else same_conv(x, o, k=1)
            emit(add(rng, skip, y, "", relu=bool(rng.integers(0, 2)), **_bounds(rng)),
                 [skip, y] if rng.random() < 0.5 else [y, skip])
        elif kind == "cat":
            parts = [same_conv(x, int(rng.integers(2, 6)), out_scale=scale[x])
                     for _ in range(int(rng.integers(1, 3)))]
            if rng.random() < 0.5:  # a pool branch keeps x's scale
                parts.append(emit(Op("maxpool", pool_kernel=3, pool_stride=1, pool_padding=1), [x]))
            else:
                parts.append(x)
            emit(Op("concat", out_scale=scale[x] if rng.random() < 0.5 else None),
                 list(rng.permutation(parts)))
        elif kind == "pool" and min(h, w) >= 3:
            k = int(rng.integers(1, min(4, h, w) + 1))
            op = Op(str(rng.choice(["maxpool", "avgpool"])), pool_kernel=k,
                    pool_stride=int(rng.integers(1, k + 1)), pool_padding=int(rng.integers(0, k // 2 + 1)),
                    ceil_mode=bool(rng.integers(0, 2)), count_include_pad=bool(rng.integers(0, 2)))
            if min(op.out_shape(shape[x])[1:]) >= 2:
                emit(op, [x])
        elif kind == "dw":
            mult = int(rng.choice([1, 1, 2]))
            same_conv(x, c * mult, k=3, groups=c)
        else:
            g = int(rng.choice([d for d in (1, 2, 3, 4) if c % d == 0]))
            o = g * int(rng.integers(1, 5))
            k = int(rng.integers(1, min(5, h) + 1))
            s = int(rng.integers(1, 4)) if h >= 8 else 1
            op = conv(rng, c, o, k, stride=s, padding=int(rng.integers(0, k)), groups=g,
                      pool=rng.choice([None, "max", "avg"]) if h >= 8 else None, **_bounds(rng))
            if min(op.out_shape(shape[x])[1:]) >= 2:
                emit(op, [x])
    x = cur[0]
    if rng.random() < 0.7:
        x = emit(Op("globalavgpool"), [x])
    feat = int(np.prod(shape[x]))
    emit(linear(rng, feat, classes, relu=False, out_int32=out_int32), [x])
    return Program(tuple(input_shape), 1 / 64, ops, name=f"graph{seed}").check()
