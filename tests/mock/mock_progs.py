"""Seeded random Programs for the mock-board and scheduler tests (no training needed)."""

from __future__ import annotations

import numpy as np

from rtlcnn.core.program import Op, Program
from rtlcnn.core.random_programs import conv, lenet5, linear  # noqa: F401 (the tests use mp.*)


def pool(kind):
    return Op(kind, name=kind)


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


def bounded_program(seed: int = 0) -> Program:
    """Convs and linears with activation bounds that bite (ReLU6-like [0, 100] before a max
    pool, Hardtanh-like [-50, 60] on a conv and a linear), then an int32 head."""
    rng = np.random.default_rng(seed)
    ops = [conv(rng, 3, 6, 3, padding=1, pool="max", act_max=100, name="relu6"),
           conv(rng, 6, 8, 3, padding=1, relu=False, act_min=-50, act_max=60, name="hardtanh")]
    feat = int(np.prod(Program((3, 8, 8), 1 / 64, list(ops)).shapes()[-1]))
    fc = linear(rng, feat, 12, relu=False, name="fc_clamp")
    fc.act_min, fc.act_max = -50, 60
    ops += [fc, linear(rng, 12, 5, relu=False, out_int32=True, name="head")]
    return Program((3, 8, 8), 1 / 64, ops, name=f"bounded{seed}").check()


def without_bounds(prog: Program) -> Program:
    """The same program with every op's bounds at their defaults (-128, 127)."""
    import copy

    twin = copy.deepcopy(prog)
    for op in twin.ops:
        op.act_min, op.act_max = -128, 127
    return twin.check()
