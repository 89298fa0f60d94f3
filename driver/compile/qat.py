"""Quantization-aware training (QAT) whose forward is the integer program, bit for bit.

Usage::

    qmodel = rtlcnn.compile.qat.prepare(model, calibration_images)   # BN folded, scales calibrated
    ...fine-tune qmodel for a few epochs (small learning rate)...
    program = rtlcnn.compile.qat.convert(qmodel)                      # or rtlcnn.compile(qmodel)

:func:`prepare` lowers the model exactly as :func:`rtlcnn.compile` does (same tracing,
BatchNorm folding and fusion) and calibrates the activation scales once; during the
fine-tuning the scales stay fixed and only the folded weights and biases learn.

The forward pass computes the very integers of :mod:`rtlcnn.reference`: each layer
quantizes its current weights with the compiler's own functions (per-channel max-abs
scale, round half to even, clamp to [-127, 127]; bias rounded to the accumulator scale),
accumulates the integer-valued tensors (exactly: float32 while the worst-case accumulator
stays below 2**24, float64 otherwise), requantizes with :func:`rtlcnn.reference.requant`
and pools with :func:`rtlcnn.reference.pool2d_int`. Gradients pass straight through
every rounding (the straight-through estimator): the backward pass sees ``w / s_w``,
``b / (s_in * s_w)`` and ``acc * s_in * s_w / s_out`` clamped to the output range
(zero gradient where the output clips).

So the bound between the QAT model and its program is zero: for the same weights,
``qmodel(x)`` (train or eval mode) equals ``rtlcnn.reference.run(convert(qmodel), x)``
exactly (tests/test_qat.py checks it).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..core import reference
from ..core.errors import LayerNotSupported
from ..core.program import Op, Program
from .lowering import Stage, lower
from .quantize import (
    as_numpy_images,
    calibrate,
    chain_problem,
    image_range,
    layer_scales,
    quantize_stage,
    worst_case_accumulator,
)

__all__ = ["prepare", "convert", "QATModel", "QuantLayer", "QuantPool"]

_F32_EXACT = 2**24  # float32 sums of integers are exact below this


def _ste(surrogate: torch.Tensor, exact) -> torch.Tensor:
    """``exact`` in the forward pass, the gradient of ``surrogate`` in the backward pass."""
    exact = torch.as_tensor(exact, dtype=surrogate.dtype)
    return exact + (surrogate - surrogate.detach())


def _channels(v: torch.Tensor, ndim: int) -> torch.Tensor:
    return v.reshape((1, -1) + (1,) * (ndim - 2))


class QuantLayer(nn.Module):
    """A conv2d or linear engine op with trainable float weights and integer forward.

    Takes and returns integer-valued float tensors (int8 units of the input and output
    scales). With ``s_out`` None (int32 outputs: the network's last layer) it returns
    the dequantized accumulators, ``acc * s_in * s_w[c]``, as the host computes them.
    """

    def __init__(self, stage: Stage, s_in: float, s_out):
        super().__init__()
        self.kind, self.name = stage.kind, stage.name
        self.stride, self.padding = int(stage.stride), int(stage.padding)
        self.relu, self.pool = bool(stage.relu), stage.pool
        self.sources = list(stage.sources)
        self.in_shape, self.out_shape = tuple(stage.in_shape), tuple(stage.out_shape)
        self.weight = nn.Parameter(stage.weight.detach().clone().float())
        self.bias = nn.Parameter(stage.bias.detach().clone().float())
        self.register_buffer("s_in", torch.tensor(float(s_in), dtype=torch.float64))
        self.register_buffer(
            "s_out", torch.tensor(np.nan if s_out is None else float(s_out), dtype=torch.float64)
        )

    @property
    def out_int32(self) -> bool:
        return bool(torch.isnan(self.s_out))

    def stage(self) -> Stage:
        """The layer as a compiler stage with its current weights."""
        return Stage(
            self.kind,
            self.name,
            self.in_shape,
            self.out_shape,
            self.weight.detach(),
            self.bias.detach(),
            self.stride,
            self.padding,
            self.relu,
            self.pool,
            list(self.sources),
        )

    def to_op(self) -> Op:
        """The program op of the current weights (the compiler's own quantization)."""
        s_out = None if self.out_int32 else float(self.s_out)
        return quantize_stage(self.stage(), float(self.s_in), s_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        op = self.to_op()
        s_in = float(self.s_in)
        nd = self.weight.ndim
        s_w = torch.from_numpy(op.acc_scale.astype(np.float32)) / s_in  # surrogate scale only
        w_int = _ste(self.weight / s_w.reshape((-1,) + (1,) * (nd - 1)), op.weight.astype(np.float32))
        b_int = _ste(self.bias / (s_in * s_w), op.bias.astype(np.float32))
        worst = worst_case_accumulator(op.weight, op.bias).max()
        dtype = torch.float32 if worst < _F32_EXACT else torch.float64
        xx, ww, bb = x.to(dtype), w_int.to(dtype), b_int.to(dtype)
        if self.kind == "conv2d":
            acc = F.conv2d(xx, ww, bb, self.stride, self.padding)
        else:
            acc = F.linear(xx.reshape(xx.shape[0], -1), ww, bb)
        if op.out_int32:  # the network's output: accumulators times s_in * s_w[c], as the host does
            acc_scale = torch.from_numpy(op.acc_scale).double()
            return (acc.double() * _channels(acc_scale, acc.ndim)).float()
        acc_int = np.rint(acc.detach().cpu().numpy()).astype(np.int64)
        y_int = reference.requant(acc_int, op.mult, op.shift, op.relu)
        m = _channels(s_w * (s_in / float(self.s_out)), acc.ndim).to(dtype)
        lo = 0.0 if op.relu else -128.0
        y = _ste((acc * m).clamp(lo, 127.0).float(), y_int.astype(np.float32))
        if op.pool:
            y = _pool(y, y_int, op.pool)
        return y


def _pool(y: torch.Tensor, y_int, mode: str) -> torch.Tensor:
    """2x2 pool: the engine's integer result, the float pool's gradient."""
    if y_int is None:
        y_int = np.rint(y.detach().cpu().numpy()).astype(np.int8)
    sur = F.max_pool2d(y, 2) if mode == "max" else F.avg_pool2d(y, 2)
    return _ste(sur, reference.pool2d_int(y_int, mode).astype(np.float32))


class QuantPool(nn.Module):
    """A standalone 2x2 max or average pool of an int8 map."""

    def __init__(self, stage: Stage):
        super().__init__()
        self.kind, self.name, self.sources = stage.kind, stage.name, list(stage.sources)

    def to_op(self) -> Op:
        return Op(kind=self.kind, name=self.name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _pool(x, None, "max" if self.kind == "maxpool" else "avg")


class QATModel(nn.Module):
    """The network as engine ops with fake-quantized (exactly integer) forward.

    ``forward(images)`` takes float images (N, C, H, W) and returns the program's
    dequantized outputs (logits), differentiable with respect to the weights.
    """

    def __init__(self, layers: list, input_shape, input_scale: float, input_range=None):
        super().__init__()
        #: (min, max) of the calibration images, recorded in the program
        self.input_range = input_range
        self.layers = nn.ModuleList(layers)
        self.input_shape = tuple(int(v) for v in input_shape)
        self.register_buffer("input_scale", torch.tensor(float(input_scale), dtype=torch.float64))

    def quantize_input(self, images: torch.Tensor) -> torch.Tensor:
        """``clamp(round_half_even(x / s), -128, 127)`` as in :meth:`rtlcnn.Program.quantize_input`."""
        q = torch.round(images.detach().to(torch.float64) / float(self.input_scale))
        return q.clamp(-128, 127).float()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.quantize_input(images)
        for layer in self.layers:
            x = layer(x)
        last = [layer for layer in self.layers if isinstance(layer, QuantLayer)][-1]
        if last.out_int32:
            return x  # already dequantized by the layer
        return (x.double() * float(last.s_out)).float()  # int8 outputs (a pool keeps the scale)

    def convert(self, name: str = "", meta=None) -> Program:
        """The :class:`rtlcnn.Program` of the current weights."""
        ops = [layer.to_op() for layer in self.layers]
        meta = dict(meta or {})
        meta.setdefault("compiler", {"qat": True})
        prog = Program(
            input_shape=self.input_shape, input_scale=float(self.input_scale), ops=ops, name=name, meta=meta,
            input_range=self.input_range,
        )
        return prog.check()


def prepare(
    model: nn.Module,
    calibration,
    *,
    input_shape=None,
    activation: str = "max",
    percentile: float = 99.99,
) -> QATModel:
    """Lower and calibrate ``model`` (as :func:`rtlcnn.compile` does) into a :class:`QATModel`.

    Parameters
    ----------
    model : torch.nn.Module
        A model :func:`rtlcnn.compile` accepts. It is not modified.
    calibration : array-like, float (N, C, H, W)
        Training images that fix the activation scales (kept fixed while fine-tuning).
    input_shape, activation, percentile
        As for :func:`rtlcnn.compile`.
    """
    x = as_numpy_images(calibration)
    shape = tuple(int(v) for v in (input_shape if input_shape is not None else x.shape[1:]))
    stages = lower(model, shape)
    problem = chain_problem(stages)
    if problem:
        raise LayerNotSupported(f"quantization-aware training takes a plain chain of Conv2d, Linear and 2x2 "
                                f"pools ({problem}); compile this model with rtlcnn.compile (post-training)")
    input_scale, scales = calibrate(stages, x, activation=activation, percentile=percentile)
    layers = [
        QuantLayer(st, *io) if io is not None else QuantPool(st)
        for st, io in zip(stages, layer_scales(stages, input_scale, scales))
    ]
    return QATModel(layers, shape, input_scale, image_range(x))


def convert(qat_model: QATModel, *, name: str = "", meta=None) -> Program:
    """The :class:`rtlcnn.Program` of a fine-tuned :class:`QATModel`."""
    return qat_model.convert(name=name, meta=meta)
