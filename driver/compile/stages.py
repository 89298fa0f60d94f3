"""The compiler's float graph: :class:`Stage` objects and :func:`float_forward`.

:func:`rtlcnn.compile.lowering.lower` turns a PyTorch model into a list of stages in
topological order; each stage is one op of the program it becomes, still in float (BatchNorm
folded into the conv or linear before it, activations and 2x2 pools fused into the op
before them). A stage reads the tensors named in :attr:`Stage.inputs` ("input" is the
network input); :func:`float_forward` runs the graph in torch. torch is imported inside the
functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from ..core.ops import V2_DEFAULTS

__all__ = ["Stage", "float_forward", "WEIGHTED", "POOLS", "SCALE_KEEPING"]

#: stage kinds with weights (requantized outputs with their own scale)
WEIGHTED = ("conv2d", "linear")
#: standalone pools
POOLS = ("maxpool", "avgpool", "globalavgpool")
#: kinds whose output has the scale of their input(s)
SCALE_KEEPING = POOLS + ("concat",)


@dataclass
class Stage:
    """One program op in float.

    ``weight`` and ``bias`` are float32 torch tensors with BatchNorm folded in (conv2d
    and linear); ``in_shape`` (the first input's) and ``out_shape`` are per image, without
    the batch axis. ``act_lo``/``act_hi`` are the float bounds of the fused activation
    (ReLU: 0 and inf, ReLU6: 0 and 6, Hardtanh(a, b) and clamp likewise). ``identity``
    marks an exact copy (the strided subsample and channel padding of an option-A shortcut,
    written as a 1x1 conv with 0/1 weights): it keeps its input's scale.
    """

    kind: str
    name: str
    in_shape: tuple
    out_shape: tuple = ()
    weight: Any = None
    bias: Any = None
    stride: int = 1
    padding: int = 0
    relu: bool = False
    pool: Optional[str] = None
    sources: list = field(default_factory=list)
    inputs: list = field(default_factory=list)
    groups: int = V2_DEFAULTS["groups"]
    pool_kernel: int = V2_DEFAULTS["pool_kernel"]
    pool_stride: int = V2_DEFAULTS["pool_stride"]
    pool_padding: int = V2_DEFAULTS["pool_padding"]
    ceil_mode: bool = V2_DEFAULTS["ceil_mode"]
    count_include_pad: bool = V2_DEFAULTS["count_include_pad"]
    act_lo: float = -math.inf
    act_hi: float = math.inf
    identity: bool = False

    def __post_init__(self):
        if self.relu:
            self.act_lo = max(self.act_lo, 0.0)

    @property
    def has_weights(self) -> bool:
        return self.kind in WEIGHTED

    def set_act(self, lo: float, hi: float) -> None:
        """Narrow the fused activation's bounds to [lo, hi]."""
        self.act_lo, self.act_hi = max(self.act_lo, lo), min(self.act_hi, hi)
        self.relu = self.act_lo >= 0

    def bounds(self) -> tuple:
        """(lo, hi) of the fused activation, ``relu`` included (-inf/inf: unbounded)."""
        return (max(self.act_lo, 0.0) if self.relu else self.act_lo), self.act_hi

    @property
    def bounded(self) -> bool:
        lo, hi = self.bounds()
        return lo > -math.inf or hi < math.inf


def _pool(st: Stage, x):
    import torch.nn.functional as F

    if st.kind == "globalavgpool":
        return x.mean(dim=(2, 3), keepdim=True)
    k, s, p = st.pool_kernel, st.pool_stride, st.pool_padding
    if st.kind == "maxpool":
        return F.max_pool2d(x, k, s, p, ceil_mode=st.ceil_mode)
    return F.avg_pool2d(x, k, s, p, ceil_mode=st.ceil_mode, count_include_pad=st.count_include_pad)


def float_forward(stages: list, images, collect: bool = False):
    """Run the float graph (torch, float32) on a batch of (already normalized) images.

    Returns the last stage's output, or with ``collect`` a list with, per stage, its output
    (after the activation and pooling) and, for stages with a fused pool, the map before
    the pool.
    """
    import torch
    import torch.nn.functional as F

    x = (torch.as_tensor(np.asarray(images, dtype=np.float32)) if not torch.is_tensor(images)
         else images.float())
    env = {"input": x}
    outs = []
    prev = "input"
    for st in stages:
        args = [env[n] for n in (st.inputs or [prev])]
        pre = None
        if st.kind == "conv2d":
            y = F.conv2d(args[0], st.weight, st.bias, st.stride, st.padding, groups=st.groups)
        elif st.kind == "linear":
            y = F.linear(args[0].reshape(args[0].shape[0], -1), st.weight, st.bias)
        elif st.kind == "add":
            y = args[0] + args[1]
        elif st.kind == "concat":
            y = torch.cat(args, dim=1)
        elif st.kind in POOLS:
            y = _pool(st, args[0])
        else:
            raise ValueError(f"unknown stage kind {st.kind!r}")
        if st.bounded:
            lo, hi = st.bounds()
            y = y.clamp(min=None if lo == -math.inf else lo, max=None if hi == math.inf else hi)
        if st.pool:
            pre = y
            y = F.max_pool2d(y, 2) if st.pool == "max" else F.avg_pool2d(y, 2)
        env[st.name] = y
        outs.append((y, pre))
        prev = st.name
    return outs if collect else outs[-1][0]
