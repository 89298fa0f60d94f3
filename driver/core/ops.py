"""One op of an rtlcnn program: :class:`Op`, its output shape, MACs and own checks.

A program (:class:`rtlcnn.Program`) is a list of ops in a topological order. Each op reads
the tensors its ``inputs`` name (``"input"``: the program input, any other name: an earlier
op's ``name``); no names (the default) read the previous op's output, the program input
for op 0, which is the chain of file format version 1. ``docs/numerics.md`` defines every
op bit for bit, :mod:`rtlcnn.core.reference` executes them.

The fields added with file format version 2 (:data:`V2_DEFAULTS`) default to what
version 1 meant, so an op that leaves them alone is a version-1 op.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .errors import ProgramFormatError

__all__ = ["Op", "OP_KINDS", "POOL_MODES", "POOL_KINDS", "MAX_KERNEL", "V2_DEFAULTS", "INPUT",
           "pool_out_size", "check_op"]

OP_KINDS = ("conv2d", "linear", "maxpool", "avgpool", "globalavgpool", "add", "concat")
POOL_MODES = (None, "max", "avg")
#: the standalone k x k pools (fused pools of conv2d stay 2x2, stride 2)
POOL_KINDS = ("maxpool", "avgpool")
#: the largest kernel the engine runs (the compiler lowers only these today; programs and
#: the reference take any kernel, the scheduler refuses larger ones)
MAX_KERNEL = 7
K_MIN, K_MAX = 1, 62  # requant shift k = 31 + shift
#: the name of the program input in ``Op.inputs``
INPUT = "input"
#: bound of strides, pool windows and padding (a guard against damaged files, far above
#: any real layer)
MAX_HYPER = 1 << 16
#: the fields of file format version 2 and their defaults (= the version-1 meaning)
V2_DEFAULTS = {"inputs": (), "groups": 1, "pool_kernel": 2, "pool_stride": 2, "pool_padding": 0,
               "ceil_mode": False, "count_include_pad": True, "act_min": -128, "act_max": 127}


def pool_out_size(n: int, k: int, s: int, p: int, ceil_mode: bool) -> int:
    """PyTorch's pooled length: ``floor`` (or ``ceil``) ``((n + 2p - k) / s) + 1``; with
    ``ceil_mode`` a last window that would start in the right padding is dropped."""
    out = (n + 2 * p - k + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


@dataclass
class Op:
    """One op of a program.

    Parameters
    ----------
    kind : {"conv2d", "linear", "maxpool", "avgpool", "globalavgpool", "add", "concat"}
        ``maxpool``/``avgpool``: standalone k x k pools of an int8 map (default 2x2,
        stride 2); ``globalavgpool``: (C, H, W) -> (C, 1, 1); ``add``: two tensors of one
        shape, each rescaled by its own multiplier; ``concat``: maps along channels.
    name : str
        Unique (and not ``"input"``) where another op reads it by name.
    weight : ndarray of int8, optional
        (O, I/groups, K, K) for conv2d, (O, I) for linear, values in [-127, 127].
    bias, mult, shift : ndarray, optional
        conv2d and linear, per output channel: int32 bias (in accumulator units), int32
        requant multiplier ``M`` and int32 shift (``k = 31 + shift``, ``1 <= k <= 62``).
        add: ``mult`` = (Ma, Mb), each in [0, 2**31), ``shift`` of shape (1,).
    stride, padding : int
        Convolution stride (>= 1) and symmetric zero padding (0..K-1).
    relu : bool
        Clamp the requantized output at 0 instead of -128.
    pool : {None, "max", "avg"}
        conv2d: 2x2 stride-2 pool after requant and ReLU.
    out_int32 : bool
        Emit the int32 accumulators (bias included, no requant). Last op only.
    out_scale : float, optional
        Scale of the int8 output (real = q * out_scale). None with ``out_int32`` and for
        the pools; a concat's is None or its inputs' scale.
    acc_scale : ndarray of float32, optional
        Per output channel ``s_in * s_w[c]``: the scale of the accumulator. Required
        with ``out_int32``.
    inputs : tuple of str
        The tensors the op reads (add: 2, concat: 2 or more, others: 1); empty: the
        previous op's output.
    groups : int
        conv2d: input and output channels fall in ``groups`` groups (depthwise:
        ``groups`` = input channels).
    pool_kernel, pool_stride, pool_padding, ceil_mode, count_include_pad
        maxpool/avgpool: PyTorch's ``kernel_size``, ``stride``, ``padding`` (at most
        half the window; max pooling pads with -128), ``ceil_mode`` and (avgpool)
        ``count_include_pad``.
    act_min, act_max : int
        conv2d, linear and add: the requant saturates to ``[max(act_min, 0 if relu else
        -128), act_max]`` (ReLU6, Hardtanh and clamp as integer bounds).
    """

    kind: str
    name: str = ""
    weight: Optional[np.ndarray] = None
    bias: Optional[np.ndarray] = None
    mult: Optional[np.ndarray] = None
    shift: Optional[np.ndarray] = None
    stride: int = 1
    padding: int = 0
    relu: bool = False
    pool: Optional[str] = None
    out_int32: bool = False
    out_scale: Optional[float] = None
    acc_scale: Optional[np.ndarray] = None
    inputs: tuple = ()
    groups: int = V2_DEFAULTS["groups"]
    pool_kernel: int = V2_DEFAULTS["pool_kernel"]
    pool_stride: int = V2_DEFAULTS["pool_stride"]
    pool_padding: int = V2_DEFAULTS["pool_padding"]
    ceil_mode: bool = V2_DEFAULTS["ceil_mode"]
    count_include_pad: bool = V2_DEFAULTS["count_include_pad"]
    act_min: int = V2_DEFAULTS["act_min"]
    act_max: int = V2_DEFAULTS["act_max"]

    @property
    def has_weights(self) -> bool:
        return self.kind in ("conv2d", "linear")

    @property
    def kernel(self) -> int:
        """Kernel size (the window of a standalone pool, 1 for the others)."""
        if self.kind == "conv2d":
            return int(self.weight.shape[2])
        return int(self.pool_kernel) if self.kind in POOL_KINDS else 1

    @property
    def out_channels(self) -> Optional[int]:
        return int(self.weight.shape[0]) if self.has_weights else None

    @property
    def bounds(self) -> tuple:
        """(lo, hi) the requant saturates to: ``max(act_min, 0 if relu else -128)``, ``act_max``."""
        return max(int(self.act_min), 0 if self.relu else -128), int(self.act_max)

    def v2_fields(self) -> list:
        """Names of the version-2 fields this op sets to other than their default."""
        return [f for f, d in V2_DEFAULTS.items() if _differs(getattr(self, f), d)]

    def out_shape(self, *in_shapes: Sequence[int]) -> tuple:
        """Output shape of this op for inputs of shapes ``in_shapes`` (no batch axis)."""
        where = f"op {self.name or self.kind!r}"
        n = len(in_shapes)
        if not (n >= 2 if self.kind == "concat" else n == (2 if self.kind == "add" else 1)):
            raise ProgramFormatError(f"{where}: {self.kind} cannot take {n} inputs")
        shapes = [tuple(int(v) for v in s) for s in in_shapes]
        if self.kind == "linear":
            return (int(self.weight.shape[0]),)
        if self.kind == "add":
            if shapes[0] != shapes[1]:
                raise ProgramFormatError(f"{where}: add needs two inputs of one shape, got "
                                         f"{shapes[0]} and {shapes[1]}")
            return shapes[0]
        for s in shapes:
            if len(s) != 3:
                raise ProgramFormatError(f"{where}: {self.kind} needs a (C, H, W) input, got shape {s}")
        if self.kind == "concat":
            if len({s[1:] for s in shapes}) != 1:
                raise ProgramFormatError(f"{where}: concat needs inputs of one height and width, "
                                         f"got {', '.join(map(str, shapes))}")
            return (sum(s[0] for s in shapes),) + shapes[0][1:]
        c, h, w = shapes[0]
        if self.kind == "globalavgpool":
            return (c, 1, 1)
        if self.kind in POOL_KINDS:
            k, s, p, cm = (int(self.pool_kernel), int(self.pool_stride), int(self.pool_padding),
                           bool(self.ceil_mode))
            return (c, pool_out_size(h, k, s, p, cm), pool_out_size(w, k, s, p, cm))
        oh, ow = self._conv_out(h, w)
        if self.pool is not None:
            oh, ow = oh // 2, ow // 2
        return (int(self.weight.shape[0]), oh, ow)

    def _conv_out(self, h: int, w: int) -> tuple:
        k, s, p = self.kernel, int(self.stride), int(self.padding)
        return (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1

    def macs(self, *in_shapes: Sequence[int]) -> int:
        """Multiply-accumulates of this op for one input (0 but for conv2d and linear; a
        grouped conv: O * C/groups * K*K per output pixel)."""
        if self.kind == "linear":
            return int(self.weight.size)
        if self.kind != "conv2d":
            return 0
        _, h, w = (int(v) for v in in_shapes[0])
        oh, ow = self._conv_out(h, w)
        if self.pool is not None:  # the engine computes only the rows/cols a pool keeps
            oh, ow = oh // 2 * 2, ow // 2 * 2
        return oh * ow * int(self.weight.size)


def _differs(v, default) -> bool:
    if isinstance(default, tuple):
        return tuple(v) != default if isinstance(v, (tuple, list)) else True
    return type(v) is not type(default) and not _same_kind(v, default) or v != default


def _same_kind(v, default) -> bool:
    if isinstance(default, bool):
        return isinstance(v, (bool, np.bool_))
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _int(where: str, f: str, v, lo: int, hi: int) -> int:
    if not _same_kind(v, 0):
        raise ProgramFormatError(f"{where}: {f} must be an integer, got {v!r}")
    if not lo <= int(v) <= hi:
        raise ProgramFormatError(f"{where}: {f} {int(v)} outside {lo}..{hi}")
    return int(v)


def _arrays(where: str, op: Op, need: tuple) -> None:
    for f in ("weight", "bias", "mult", "shift", "acc_scale"):
        if (getattr(op, f) is not None) != (f in need):
            raise ProgramFormatError(f"{where}: {op.kind} {'needs' if f in need else 'has no'} {f}")


def _int32(where: str, op: Op, f: str, shape: tuple) -> None:
    a = getattr(op, f)
    if a.shape != shape:
        raise ProgramFormatError(f"{where}: {f} must have shape {shape}, got {a.shape}")
    if a.dtype != np.int32:
        raise ProgramFormatError(f"{where}: {f} dtype must be int32, got {a.dtype}")


def _k_range(where: str, shift: np.ndarray) -> None:
    k = shift.astype(np.int64) + 31
    if k.min() < K_MIN or k.max() > K_MAX:
        raise ProgramFormatError(f"{where}: shift gives k = 31 + shift outside {K_MIN}..{K_MAX}")


def check_op(i: int, op: Op, last: bool) -> None:
    """The checks of one op on its own (ProgramFormatError naming op ``i``); the graph,
    shapes and scales are :meth:`rtlcnn.Program.check`'s."""
    where = f"op {i} ({op.name or op.kind})"
    if op.kind not in OP_KINDS:
        raise ProgramFormatError(f"{where}: unknown kind {op.kind!r}; expected one of {OP_KINDS}")
    if not isinstance(op.name, str):
        raise ProgramFormatError(f"{where}: name must be a string, got {op.name!r}")
    if not isinstance(op.inputs, (tuple, list)) or not all(isinstance(v, str) and v for v in op.inputs):
        raise ProgramFormatError(f"{where}: inputs must be a tuple of tensor names, got {op.inputs!r}")
    n_in = len(op.inputs)
    if op.kind == "add" and n_in != 2 or op.kind == "concat" and n_in < 2 or \
            op.kind not in ("add", "concat") and n_in > 1:
        want = {"add": "2", "concat": "2 or more"}.get(op.kind, "0 (the previous op) or 1")
        raise ProgramFormatError(f"{where}: {op.kind} reads {want} named inputs, got {n_in}")
    if op.pool not in POOL_MODES:
        raise ProgramFormatError(f"{where}: pool must be None, 'max' or 'avg', got {op.pool!r}")
    if op.pool is not None and op.kind != "conv2d":
        raise ProgramFormatError(f"{where}: only conv2d has a fused pool")
    if op.out_int32 and not last:
        raise ProgramFormatError(f"{where}: only the last op may have int32 outputs")
    if op.out_int32 and not op.has_weights:
        raise ProgramFormatError(f"{where}: only conv2d and linear have int32 outputs")
    for f in ("ceil_mode", "count_include_pad"):
        if not isinstance(getattr(op, f), (bool, np.bool_)):
            raise ProgramFormatError(f"{where}: {f} must be True or False, got {getattr(op, f)!r}")
    _int(where, "groups", op.groups, 1, 1 << 31)
    lo = _int(where, "act_min", op.act_min, -128, 127)
    hi = _int(where, "act_max", op.act_max, -128, 127)
    for f in ("pool_kernel", "pool_stride"):
        _int(where, f, getattr(op, f), 1, MAX_HYPER)
    _int(where, "pool_padding", op.pool_padding, 0, MAX_HYPER)
    if op.kind not in POOL_KINDS:
        extra = [f for f in ("pool_kernel", "pool_stride", "pool_padding", "ceil_mode", "count_include_pad")
                 if _differs(getattr(op, f), V2_DEFAULTS[f])]
        if extra:
            raise ProgramFormatError(f"{where}: {', '.join(extra)} belong to maxpool and avgpool only")
    if op.kind != "conv2d" and int(op.groups) != 1:
        raise ProgramFormatError(f"{where}: only conv2d has groups")
    if op.kind not in ("conv2d", "linear", "add"):
        if op.relu or op.out_int32 or (lo, hi) != (-128, 127):
            raise ProgramFormatError(f"{where}: a {op.kind} has no relu, activation bounds or "
                                     "int32 output")
    elif max(lo, 0 if op.relu else -128) > hi:
        raise ProgramFormatError(f"{where}: activation bounds [{max(lo, 0 if op.relu else -128)}, "
                                 f"{hi}] are empty")
    elif op.out_int32 and (lo, hi) != (-128, 127):
        raise ProgramFormatError(f"{where}: int32 outputs have no activation bounds")
    if op.kind in POOL_KINDS:
        k, p = int(op.pool_kernel), int(op.pool_padding)
        if 2 * p > k:
            raise ProgramFormatError(f"{where}: pool_padding {p} is more than half the window {k} "
                                     "(PyTorch's limit)")
        return
    if op.kind in ("globalavgpool", "concat"):
        _arrays(where, op, ())
        return
    if op.kind == "add":
        _arrays(where, op, ("mult", "shift"))
        _int32(where, op, "mult", (2,))
        _int32(where, op, "shift", (1,))
        if int(op.mult.min()) < 0:
            raise ProgramFormatError(f"{where}: add multipliers must lie in [0, 2**31)")
        _k_range(where, op.shift)
        if op.out_scale is None or not float(op.out_scale) > 0:
            raise ProgramFormatError(f"{where}: an add needs a positive out_scale")
        return
    _check_weighted(where, op)


def _check_weighted(where: str, op: Op) -> None:
    w = op.weight
    if w is None or op.bias is None or op.mult is None or op.shift is None:
        raise ProgramFormatError(f"{where}: weight, bias, mult and shift are all required")
    if w.dtype != np.int8:
        raise ProgramFormatError(f"{where}: weight dtype must be int8, got {w.dtype}")
    if int(w.min(initial=0)) < -127:
        raise ProgramFormatError(f"{where}: weights must lie in [-127, 127] (found -128)")
    want_nd = 4 if op.kind == "conv2d" else 2
    if w.ndim != want_nd:
        raise ProgramFormatError(f"{where}: weight must have {want_nd} dimensions, got shape {w.shape}")
    if min(w.shape) < 1:
        raise ProgramFormatError(f"{where}: weight has an empty shape {w.shape}")
    if op.kind == "conv2d":
        if w.shape[2] != w.shape[3]:
            raise ProgramFormatError(f"{where}: kernel must be square, got {w.shape[2]}x{w.shape[3]}")
        _int(where, "stride", op.stride, 1, MAX_HYPER)
        if not 0 <= int(op.padding) < w.shape[2]:
            raise ProgramFormatError(f"{where}: padding {op.padding} must be in 0..kernel-1")
        if w.shape[0] % int(op.groups):
            raise ProgramFormatError(f"{where}: {w.shape[0]} output channels do not divide into "
                                     f"{op.groups} groups")
    o = w.shape[0]
    for f in ("bias", "mult", "shift"):
        _int32(where, op, f, (o,))
    _k_range(where, op.shift)
    if op.out_int32:
        if op.relu or op.pool:
            raise ProgramFormatError(f"{where}: int32 outputs cannot have relu or pool")
        if op.acc_scale is None or np.shape(op.acc_scale) != (o,):
            raise ProgramFormatError(f"{where}: int32 outputs need acc_scale of shape ({o},)")
    elif op.out_scale is None or not float(op.out_scale) > 0:
        raise ProgramFormatError(f"{where}: int8 outputs need a positive out_scale")
    worst = np.abs(w.astype(np.int64)).reshape(o, -1).sum(axis=1) * 128 + np.abs(op.bias.astype(np.int64))
    if worst.max() >= 2**31:
        raise ProgramFormatError(f"{where}: worst-case accumulator overflows int32")
