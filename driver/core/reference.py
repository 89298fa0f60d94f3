"""The bit-exact reference model: executes an :class:`rtlcnn.Program` in numpy integers.

Every result of rtlcnn is defined here. The RTL (under cocotb), the mock board and the
real board must reproduce :func:`run_int` bit for bit; ``docs/numerics.md`` states the
same contract in prose.

The per-op functions (:mod:`rtlcnn.core.ref_ops`, re-exported here) take and return
integer numpy arrays with a batch axis: feature maps are (N, C, H, W), vectors (N, F).
Products are summed exactly (float64 matrix products of int8 values are exact while every
partial sum stays below 2**53, which the int32 accumulator bound guarantees), then
requantized in int64. A program is a graph: :func:`run_int` keeps a table of the tensors
still to be read and frees each after its last reader.
"""

from __future__ import annotations

import numpy as np

from .ops import POOL_KINDS, Op
from .program import Program
from .ref_ops import (
    _to_int32,  # noqa: F401 - rtlcnn.core.unfold uses it
    add_int,
    concat_int,
    conv2d_int,
    conv_acc,
    globalavgpool_int,
    linear_int,
    mean_half_up,
    pool2d_int,
    pool_divisors,
    pool_int,
    requant,
)

__all__ = [
    "run",
    "run_int",
    "run_all_int",
    "conv_acc",
    "requant",
    "conv2d_int",
    "linear_int",
    "pool2d_int",
    "pool_int",
    "pool_divisors",
    "mean_half_up",
    "globalavgpool_int",
    "add_int",
    "concat_int",
    "op_int",
    "image_bytes",
    "chunk_size",
]


def op_int(op: Op, x: np.ndarray, *more: np.ndarray) -> np.ndarray:
    """Execute one program op on a batch of integer inputs (``x``, and for add and concat
    the further inputs in the order of ``op.inputs``)."""
    if op.kind == "conv2d":
        return conv2d_int(x, op.weight, op.bias, op.mult, op.shift, op.stride, op.padding, op.relu,
                          op.pool, op.out_int32, int(op.groups), int(op.act_min), int(op.act_max))
    if op.kind == "linear":
        return linear_int(x, op.weight, op.bias, op.mult, op.shift, op.relu, op.out_int32,
                          int(op.act_min), int(op.act_max))
    if op.kind in POOL_KINDS:
        return pool_int(x, "max" if op.kind == "maxpool" else "avg", int(op.pool_kernel),
                        int(op.pool_stride), int(op.pool_padding), bool(op.ceil_mode),
                        bool(op.count_include_pad))
    if op.kind == "globalavgpool":
        return globalavgpool_int(x)
    if op.kind == "add":
        return add_int(x, *more, op.mult, op.shift, op.relu, int(op.act_min), int(op.act_max))
    if op.kind == "concat":
        return concat_int(x, *more)
    raise ValueError(f"unknown op kind {op.kind!r}")


#: working memory a chunk of images may take in the largest op (im2col columns, padded
#: map and accumulators, float64): bounds reference.run's peak memory whatever the batch
CHUNK_BYTES = 64 << 20


def _last_uses(sources: list, upto: int) -> dict:
    """Tensor index (-1: the input) -> the last op up to ``upto`` that reads it."""
    last = {}
    for i, src in enumerate(sources[:upto + 1]):
        for j in src:
            last[j] = i
    return last


def image_bytes(program: Program) -> int:
    """Peak memory of one image in the reference (bytes): over the ops, the op's working
    memory (its inputs and outputs in float64 or int64, a conv's im2col columns and padded
    map) plus the other tensors still alive then (int8; in a chain there are none)."""
    sources, shapes = program.sources(), program.shapes()
    size = {-1: int(np.prod(program.input_shape))}
    size.update({i: int(np.prod(s)) * (4 if op.out_int32 else 1)
                 for i, (op, s) in enumerate(zip(program.ops, shapes))})
    last = _last_uses(sources, len(program.ops) - 1)
    peak = 0
    for i, (op, ins, out) in enumerate(zip(program.ops, program.in_shapes(), shapes)):
        if op.kind == "conv2d":
            c, h, w = ins[0]
            o, _, k, kw = op.weight.shape
            p = int(op.padding)
            oh, ow = (h + 2 * p - k) // int(op.stride) + 1, (w + 2 * p - kw) // int(op.stride) + 1
            need = 8 * (oh * ow * c * k * kw + c * (h + 2 * p) * (w + 2 * p) + 3 * o * oh * ow)
        elif op.kind in POOL_KINDS and (op.pool_kernel, op.pool_stride, op.pool_padding,
                                        op.ceil_mode) != (2, 2, 0, False):  # padded int64 map
            oh, ow = out[1:]
            hp, wp = ((n - 1) * int(op.pool_stride) + int(op.pool_kernel) for n in (oh, ow))
            need = 8 * (int(np.prod(ins[0])) + ins[0][0] * hp * wp + 3 * int(np.prod(out)))
        else:
            need = 8 * (sum(int(np.prod(s)) for s in ins) + 3 * int(np.prod(out)))
        alive = sum(size[j] for j, at in last.items() if j < i and at > i and j not in sources[i])
        peak = max(peak, need + alive)
    return peak


def chunk_size(program: Program) -> int:
    """Images per chunk so that a chunk's working memory stays under :data:`CHUNK_BYTES`."""
    return max(1, CHUNK_BYTES // max(1, image_bytes(program)))


def _chunks(program: Program, x: np.ndarray):
    step = chunk_size(program)
    for i in range(0, len(x), step):
        yield x[i:i + step]


def _empty_outputs(program: Program, upto: int) -> list:
    outs = []
    for op, shape in zip(program.ops[:upto + 1], program.shapes()):
        dtype = np.int32 if op.out_int32 else np.int8
        outs.append(np.zeros((0,) + tuple(shape), dtype))
    return outs


def _run_chunk(program: Program, sources: list, x: np.ndarray, upto: int, keep_all: bool):
    """Ops 0..upto on one chunk: every output (``keep_all``) or op ``upto``'s; a tensor
    leaves the table after its last reader."""
    last = _last_uses(sources, upto)
    table, outs = {-1: x}, []
    for i, op in enumerate(program.ops[:upto + 1]):
        y = op_int(op, *[table[j] for j in sources[i]])
        for j in set(sources[i]):
            if last[j] == i:
                del table[j]
        if i == upto or i in last:
            table[i] = y
        if keep_all:
            outs.append(y)
    return outs if keep_all else table[upto]


def run_all_int(program: Program, images, strict: bool = False) -> list:
    """Raw integer outputs of every op, in order (batch axis first)."""
    x = program.quantize_input(images, strict)
    if len(x) == 0:
        return _empty_outputs(program, len(program.ops) - 1)
    sources = program.sources()
    parts = [_run_chunk(program, sources, xc, len(program.ops) - 1, True) for xc in _chunks(program, x)]
    return [np.concatenate(p) for p in zip(*parts)]


def run_int(program: Program, images, layer: int = -1, strict: bool = False) -> np.ndarray:
    """Raw integer output of op ``layer`` (default: the last) for a batch of images.

    ``images`` are float (quantized with the program's input scale) or int8 (taken as
    already quantized), shape (N, C, H, W). The batch runs in chunks of
    :func:`chunk_size` images, so memory does not grow with it; an empty batch gives an
    empty result. Float images unlike the calibration images (0..255 pixels for a 0..1
    program, say) give an :class:`rtlcnn.InputRangeWarning`, with ``strict`` an
    :class:`rtlcnn.InputError` (:meth:`rtlcnn.Program.input_domain_problem`). The ops
    run in list order, each on the tensors it reads; ``layer`` stops after that op.
    """
    n_ops = len(program.ops)
    stop = layer % n_ops if -n_ops <= layer < n_ops else None
    if stop is None:
        raise IndexError(f"layer {layer} out of range for a program of {n_ops} ops")
    x = program.quantize_input(images, strict)
    if len(x) == 0:
        return _empty_outputs(program, stop)[-1]
    sources = program.sources()
    parts = [_run_chunk(program, sources, xc, stop, False) for xc in _chunks(program, x)]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def run(program: Program, images, strict: bool = False) -> np.ndarray:
    """Dequantized float32 outputs of the program, e.g. (N, classes) logits, or what its
    :attr:`~rtlcnn.Program.output_fn` makes of them (see :func:`run_int`)."""
    return program.dequantize_output(run_int(program, images, strict=strict))
