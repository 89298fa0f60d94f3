"""Seeded random Programs for the mock-board and scheduler tests (no training needed)."""

from __future__ import annotations

import numpy as np

from rtlcnn.program import Op, Program


def _requant(rng, o, fan_in):
    # acc ~ sqrt(fan_in) * 60 * 60; aim at outputs of roughly +-60
    k = int(np.clip(np.round(np.log2(np.sqrt(fan_in) * 3600 / 60)) + 30, 1, 62))
    mult = rng.integers(1 << 29, 1 << 30, size=o).astype(np.int32)
    shift = np.full(o, k - 31, np.int32)
    return mult, shift


def conv(rng, c, o, k, stride=1, padding=0, relu=True, pool=None, out_int32=False, name=""):
    w = rng.integers(-127, 128, size=(o, c, k, k)).astype(np.int8)
    bias = rng.integers(-2000, 2000, size=o).astype(np.int32)
    mult, shift = _requant(rng, o, c * k * k)
    acc = np.full(o, 1e-4, np.float32) if out_int32 else None
    return Op("conv2d", name=name, weight=w, bias=bias, mult=mult, shift=shift, stride=stride,
              padding=padding, relu=relu, pool=pool, out_int32=out_int32,
              out_scale=None if out_int32 else 0.05, acc_scale=acc)


def linear(rng, i, o, relu=True, out_int32=False, name=""):
    w = rng.integers(-127, 128, size=(o, i)).astype(np.int8)
    bias = rng.integers(-2000, 2000, size=o).astype(np.int32)
    mult, shift = _requant(rng, o, i)
    acc = np.full(o, 1e-4, np.float32) if out_int32 else None
    return Op("linear", name=name, weight=w, bias=bias, mult=mult, shift=shift, relu=relu,
              out_int32=out_int32, out_scale=None if out_int32 else 0.05, acc_scale=acc)


def pool(kind):
    return Op(kind, name=kind)


def lenet5(seed=0, out_int32=True):
    """A LeNet-5-shaped program (1x28x28 input, pad 2) with random weights."""
    rng = np.random.default_rng(seed)
    ops = [conv(rng, 1, 6, 5, padding=2, pool="max", name="conv1"),
           conv(rng, 6, 16, 5, pool="max", name="conv2"),
           linear(rng, 400, 120, name="fc1"),
           linear(rng, 120, 84, name="fc2"),
           linear(rng, 84, 10, relu=False, out_int32=out_int32, name="fc3")]
    return Program(input_shape=(1, 28, 28), input_scale=1 / 127, ops=ops, name="lenet5-random").check()


def random_program(seed: int, mix: str = "mixed") -> Program:
    """Small random networks of several op mixes."""
    rng = np.random.default_rng(seed)
    if mix == "mixed":
        c, h = int(rng.integers(1, 6)), int(rng.integers(9, 17))
        ops = [conv(rng, c, int(rng.integers(3, 11)), int(rng.choice([1, 3, 5])),
                    padding=int(rng.integers(0, 2)), pool=rng.choice([None, "max", "avg"]))]
        c2 = ops[0].weight.shape[0]
        ops.append(conv(rng, c2, int(rng.integers(4, 13)), 3, stride=int(rng.choice([1, 2])),
                        padding=1, relu=bool(rng.integers(0, 2))))
        ops.append(pool(str(rng.choice(["maxpool", "avgpool"]))))
        prog = Program((c, h, h), 1 / 64, ops, name=f"mixed{seed}")
        feat = int(np.prod(prog.shapes()[-1]))
        ops.append(linear(rng, feat, int(rng.integers(5, 21)), relu=False,
                          out_int32=bool(rng.integers(0, 2))))
    elif mix == "wide":  # many channels: output-channel slices and several input groups
        c = int(rng.integers(6, 14))
        ops = [conv(rng, c, int(rng.integers(20, 40)), 3, padding=1, pool="max"),
               pool("avgpool")]
        prog = Program((c, 8, 8), 1 / 64, ops, name=f"wide{seed}")
        feat = int(np.prod(prog.shapes()[-1]))
        ops.append(linear(rng, feat, int(rng.integers(20, 40)), relu=True))
        ops.append(linear(rng, ops[-1].weight.shape[0], 7, relu=False, out_int32=True))
    elif mix == "tall":  # a map taller than the input buffer: row bands with halo
        c = int(rng.integers(1, 4))
        h = int(rng.integers(20, 36))
        w = int(rng.integers(8, 14))
        ops = [conv(rng, c, 5, int(rng.choice([3, 5])), stride=int(rng.choice([1, 2])),
                    padding=1, pool=rng.choice([None, "max"])),
               conv(rng, 5, 6, 3, padding=1, relu=False)]
        prog = Program((c, h, w), 1 / 64, ops, name=f"tall{seed}")
    else:
        raise ValueError(mix)
    return prog.check()


def images(prog: Program, n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, size=(n,) + tuple(prog.input_shape)).astype(np.float32)
