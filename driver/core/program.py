"""``rtlcnn.Program``: a quantized network as a list of integer ops, and its file format.

A program is what the compiler writes, the reference model executes and the driver
runs on the engine. It holds no floating-point computation except the input
quantization and the output dequantization, both defined here.

File format (``*.rtlcnn.npz``): one numpy ``.npz`` archive, readable with
``allow_pickle=False``; :mod:`rtlcnn.core.programfile` defines it and reads it as
untrusted bytes.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from . import programfile
from .errors import InputError, InputRangeWarning, ProgramFormatError
from .programfile import FORMAT_VERSION

__all__ = ["Op", "Program", "FORMAT_VERSION", "OP_KINDS", "POOL_MODES", "normalize_images"]


OP_KINDS = ("conv2d", "linear", "maxpool", "avgpool")
POOL_MODES = (None, "max", "avg")
MAX_KERNEL = 7
K_MIN, K_MAX = 1, 62  # requant shift k = 31 + shift
_ARRAY_FIELDS = ("weight", "bias", "mult", "shift", "acc_scale")
_SCALAR_FIELDS = ("kind", "name", "stride", "padding", "relu", "pool", "out_int32", "out_scale")


@dataclass
class Op:
    """One layer of a program.

    Parameters
    ----------
    kind : {"conv2d", "linear", "maxpool", "avgpool"}
        ``maxpool``/``avgpool`` are standalone 2x2, stride-2 pools of an int8 map.
    weight : ndarray of int8, optional
        (O, I, K, K) for conv2d, (O, I) for linear, values in [-127, 127].
    bias, mult, shift : ndarray, optional
        Per output channel: int32 bias (in accumulator units), int32 requant multiplier
        ``M`` and int32 shift (``k = 31 + shift``, ``1 <= k <= 62``).
    stride, padding : int
        Convolution stride (1 or 2) and symmetric zero padding.
    relu : bool
        Clamp the requantized output at 0 instead of -128.
    pool : {None, "max", "avg"}
        2x2 stride-2 pool after requant and ReLU.
    out_int32 : bool
        Emit the int32 accumulators (bias included, no requant). Last op only.
    out_scale : float, optional
        Scale of the int8 output (real = q * out_scale). None with ``out_int32``.
    acc_scale : ndarray of float32, optional
        Per output channel ``s_in * s_w[c]``: the scale of the accumulator. Required
        with ``out_int32``.
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

    @property
    def has_weights(self) -> bool:
        return self.kind in ("conv2d", "linear")

    @property
    def kernel(self) -> int:
        """Kernel size (1 for linear, 2 for the standalone pools)."""
        if self.kind == "conv2d":
            return int(self.weight.shape[2])
        return 2 if self.kind in ("maxpool", "avgpool") else 1

    @property
    def out_channels(self) -> Optional[int]:
        return int(self.weight.shape[0]) if self.has_weights else None

    def out_shape(self, in_shape: Sequence[int]) -> tuple:
        """Output shape of this op for one input of shape ``in_shape`` (no batch axis)."""
        if self.kind == "linear":
            return (int(self.weight.shape[0]),)
        if len(in_shape) != 3:
            raise ProgramFormatError(
                f"op {self.name or self.kind!r}: {self.kind} needs a (C, H, W) input, "
                f"got shape {tuple(in_shape)}"
            )
        c, h, w = (int(v) for v in in_shape)
        if self.kind in ("maxpool", "avgpool"):
            return (c, h // 2, w // 2)
        k, s, p = self.kernel, int(self.stride), int(self.padding)
        oh = (h + 2 * p - k) // s + 1
        ow = (w + 2 * p - k) // s + 1
        if self.pool is not None:
            oh, ow = oh // 2, ow // 2
        return (int(self.weight.shape[0]), oh, ow)

    def macs(self, in_shape: Sequence[int]) -> int:
        """Multiply-accumulates of this op for one input (0 for standalone pools)."""
        if self.kind == "linear":
            return int(self.weight.size)
        if self.kind != "conv2d":
            return 0
        c, h, w = (int(v) for v in in_shape)
        k, s, p = self.kernel, int(self.stride), int(self.padding)
        oh = (h + 2 * p - k) // s + 1
        ow = (w + 2 * p - k) // s + 1
        if self.pool is not None:  # the engine computes only the rows/cols a pool keeps
            oh, ow = oh // 2 * 2, ow // 2 * 2
        return oh * ow * int(self.weight.size)


@dataclass
class Program:
    """A quantized network: input quantization, a list of :class:`Op`, output scaling.

    Parameters
    ----------
    input_shape : tuple of int
        (C, H, W) of one image.
    input_scale : float
        Input quantization: ``q = clamp(round_half_even(x / input_scale), -128, 127)``.
    ops : list of Op
    name : str
    meta : dict
        JSON-serializable extras (labels, accuracy, training command...).
    input_range : (float, float), optional
        Smallest and largest value of the calibration images, recorded by the compiler;
        :meth:`check_images` warns about batches far outside it.
    input_norm : ((float, ...), (float, ...)), optional
        Per-channel ``(mean, std)`` (one value, or one per input channel): the images are
        normalized, ``(x - mean[c]) / std[c]``, as the first step of :meth:`quantize_input`
        (docs/numerics.md), so callers pass images as they are (e.g. pixels / 255).
    """

    input_shape: tuple
    input_scale: float
    ops: list
    name: str = ""
    meta: dict = field(default_factory=dict)
    #: (min, max) of the calibration images (None for files that did not record it)
    input_range: Optional[tuple] = None
    #: per-channel (mean, std) the model's inputs are normalized with, applied while
    #: quantizing the input (None: the images are the model's inputs as they are)
    input_norm: Optional[tuple] = None

    # ------------------------------------------------------------------ shapes
    def shapes(self) -> list:
        """Output shape (no batch axis) of every op, in order."""
        shapes, shape = [], tuple(int(v) for v in self.input_shape)
        for op in self.ops:
            if op.kind == "linear":
                n_in = int(np.prod(shape))
                if n_in != op.weight.shape[1]:
                    raise ProgramFormatError(
                        f"op {op.name or 'linear'!r}: linear expects {op.weight.shape[1]} "
                        f"input features but the previous output {shape} has {n_in}"
                    )
            shape = op.out_shape(shape)
            shapes.append(shape)
        return shapes

    @property
    def output_shape(self) -> tuple:
        return self.shapes()[-1]

    def macs(self) -> int:
        """Multiply-accumulates per image."""
        total, shape = 0, tuple(self.input_shape)
        for op in self.ops:
            total += op.macs(shape)
            shape = op.out_shape(shape)
        return total

    # ---------------------------------------------------------- quantization
    def check_images(self, images) -> np.ndarray:
        """Validate a batch of images; return it as float32 or int8 (N, C, H, W).

        Float images are real values (quantized with :attr:`input_scale`); int8 images
        are taken as already quantized.
        """
        x = np.asarray(images)
        want = tuple(int(v) for v in self.input_shape)
        if x.ndim == len(want) and tuple(x.shape) == want:
            raise InputError(
                f"got one image of shape {x.shape}; pass a batch (N, {', '.join(map(str, want))}),"
                f" e.g. images[None]"
            )
        if x.ndim != len(want) + 1 or tuple(x.shape[1:]) != want:
            raise InputError(
                f"images have shape {x.shape}; program {self.name or ''!r} expects "
                f"(N, {', '.join(map(str, want))})"
            )
        if x.dtype == np.int8:
            return x
        if np.issubdtype(x.dtype, np.floating):
            if not np.all(np.isfinite(x)):
                bad = ~np.isfinite(x)
                count, first = int(bad.sum()), tuple(int(i) for i in np.argwhere(bad)[0])
                raise InputError(f"images contain {count} NaN or infinite value{'s' if count > 1 else ''}"
                                 f" (first at index {first})")
            return x.astype(np.float32, copy=False)
        raise InputError(
            f"images have dtype {x.dtype}; pass float32 real values (for MNIST-style models "
            f"pixel / 255) or int8 values already quantized with scale {self.input_scale:g}"
        )

    def input_domain_problem(self, x: np.ndarray) -> Optional[str]:
        """What is wrong with float images ``x`` for this program, or None.

        - integer-valued pixels above 2 for a program whose inputs stay within +-2
          (0..255 or 0..65535 images not scaled to 0..1);
        - more than 1 % of the values beyond what the input quantization represents
          (+-127.5 * input_scale): they saturate;
        - with a recorded :attr:`input_range` (lo, hi): values more than its width
          beyond it.
        """
        return self._domain_problem(x, self.normalize(x) / float(self.input_scale))

    def _domain_problem(self, x: np.ndarray, y: np.ndarray) -> Optional[str]:
        """:meth:`input_domain_problem` given ``y = normalize(x) / input_scale``, the values
        the quantization rounds (so :meth:`quantize_input` computes them once)."""
        if x.size == 0:
            return None
        s = float(self.input_scale)
        bound = 127.5 * s
        lo, hi = (float(v) for v in self.input_range) if self.input_range is not None else (-bound, bound)
        xmin, xmax = float(x.min()), float(x.max())
        what = f"program {self.name!r}" if self.name else "the program"
        if xmax > 2 and max(abs(lo), abs(hi)) <= 2 and np.array_equal(x, np.rint(x)):
            return (f"the images hold integer pixel values up to {xmax:g}, but {what} takes values in "
                    f"[{lo:.4g}, {hi:.4g}]: scale them as the calibration images were (8-bit pixels / 255, "
                    "16-bit / 65535, as `rtlcnn run` does for image files) before predict")
        saturated = float(np.count_nonzero(np.abs(y) > 127.5)) / x.size
        if saturated > 0.01:
            return (f"{saturated:.0%} of the image values lie beyond +-{bound:.4g}, the largest the input "
                    f"quantization of {what} represents (input_scale {s:.4g}): they saturate. The "
                    f"batch spans [{xmin:g}, {xmax:g}]; were the images scaled and normalized as the "
                    "calibration images were?")
        if self.input_range is not None:
            span = max(hi - lo, 1e-12)
            if xmax > hi + span or xmin < lo - span:
                return (f"the images span [{xmin:g}, {xmax:g}], far outside the range [{lo:g}, {hi:g}] "
                        f"{what} was calibrated on; were they scaled and normalized as the calibration "
                        "images were?")
        return None

    def normalize(self, x) -> np.ndarray:
        """float64 ``(x - mean[c]) / std[c]`` with :attr:`input_norm` (else ``x`` as float64)."""
        return normalize_images(x, self.input_norm)

    def quantize_input(self, images, strict: bool = False) -> np.ndarray:
        """Float images to int8: ``clamp(round_half_even(normalize(x) / input_scale), -128, 127)``
        (``normalize`` is the identity without :attr:`input_norm`).

        Float values that do not look like the program's inputs
        (:meth:`input_domain_problem`) give an :class:`InputRangeWarning`, or with ``strict``
        an :class:`InputError`.
        """
        x = self.check_images(images)
        if x.dtype == np.int8:
            return x
        y = self.normalize(x) / float(self.input_scale)
        problem = self._domain_problem(x, y)
        if problem:
            if strict:
                raise InputError(problem)
            warnings.warn(problem, InputRangeWarning, stacklevel=_caller_level())
        return np.clip(np.rint(y), -128, 127).astype(np.int8)

    def dequantize_output(self, raw) -> np.ndarray:
        """Raw outputs of the last op (int8 or int32) to float32 real values."""
        raw = np.asarray(raw)
        last = self.ops[-1]
        if last.out_int32:
            scale = np.asarray(last.acc_scale, dtype=np.float64)
            shape = (1, -1) + (1,) * (raw.ndim - 2)
            return (raw.astype(np.float64) * scale.reshape(shape)).astype(np.float32)
        return (raw.astype(np.float64) * float(self._out_scale_of(len(self.ops) - 1))).astype(
            np.float32
        )

    def _out_scale_of(self, i: int) -> float:
        """Scale of op i's int8 output (a standalone pool keeps its input's scale)."""
        while i >= 0:
            op = self.ops[i]
            if op.kind in ("maxpool", "avgpool"):
                i -= 1
                continue
            return float(op.out_scale)
        return float(self.input_scale)

    # ------------------------------------------------------------ validation
    def check(self) -> Program:
        """Raise ProgramFormatError naming the first inconsistency; return self if fine."""
        if len(tuple(self.input_shape)) != 3 or min(self.input_shape) < 1:
            raise ProgramFormatError(f"input_shape must be (C, H, W) >= 1, got {self.input_shape}")
        if not (math.isfinite(float(self.input_scale)) and float(self.input_scale) > 0):
            raise ProgramFormatError(f"input_scale must be a positive number, got {self.input_scale}")
        if not self.ops:
            raise ProgramFormatError("program has no ops")
        if self.input_norm is not None:
            c = int(self.input_shape[0])
            try:
                mean, std = (np.asarray(v, np.float64).reshape(-1) for v in self.input_norm)
            except (TypeError, ValueError) as e:
                raise ProgramFormatError(f"input_norm must be (mean, std), got {self.input_norm!r}") from e
            if len(mean) not in (1, c) or len(std) not in (1, c):
                raise ProgramFormatError(f"input_norm needs 1 or {c} means and stds, got {len(mean)} "
                                         f"and {len(std)}")
            if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std > 0)):
                raise ProgramFormatError("input_norm: means must be finite and stds finite and positive")
        for i, op in enumerate(self.ops):
            _check_op(i, op, last=(i == len(self.ops) - 1))
        for i, (op, shape) in enumerate(zip(self.ops, self.shapes())):
            if min(shape) < 1:
                raise ProgramFormatError(f"op {i} ({op.name or op.kind}): output shape {shape} is empty")
        prev = tuple(self.input_shape)
        for i, op in enumerate(self.ops):
            if op.kind == "conv2d" and op.weight.shape[1] != prev[0]:
                raise ProgramFormatError(
                    f"op {i} ({op.name or op.kind}): weight has {op.weight.shape[1]} input "
                    f"channels but its input has {prev[0]}"
                )
            if op.kind in ("conv2d", "maxpool", "avgpool") and len(prev) != 3:
                raise ProgramFormatError(f"op {i} ({op.name or op.kind}) needs a (C, H, W) input")
            prev = op.out_shape(prev)
        return self

    # -------------------------------------------------------------- file I/O
    def save(self, path) -> None:
        """Write the program to ``path`` (conventionally ``*.rtlcnn.npz``, see
        :mod:`rtlcnn.core.programfile`)."""
        self.check()
        header = {
            "input_shape": [int(v) for v in self.input_shape],
            "input_scale": float(self.input_scale),
            "name": self.name,
            "meta": self.meta,
            "ops": [],
        }
        if self.input_range is not None:
            header["input_range"] = [float(v) for v in self.input_range]
        if self.input_norm is not None:
            header["input_norm"] = {"mean": [float(v) for v in np.ravel(self.input_norm[0])],
                                    "std": [float(v) for v in np.ravel(self.input_norm[1])]}
        arrays = {}
        for i, op in enumerate(self.ops):
            h = {}
            for f in _SCALAR_FIELDS:
                v = getattr(op, f)
                h[f] = v if not isinstance(v, (np.generic,)) else v.item()
            h["stride"], h["padding"] = int(op.stride), int(op.padding)
            h["relu"], h["out_int32"] = bool(op.relu), bool(op.out_int32)
            h["out_scale"] = None if op.out_scale is None else float(op.out_scale)
            header["ops"].append(h)
            for f in _ARRAY_FIELDS:
                v = getattr(op, f)
                if v is not None:
                    arrays[f"op{i}.{f}"] = np.asarray(v)
        programfile.write(path, header, arrays)

    @classmethod
    def load(cls, path) -> Program:
        """Read and validate a program file; ProgramFormatError says what is wrong, for any
        bytes at all (:func:`rtlcnn.core.programfile.read`)."""
        path = os.fspath(path)
        header, arrays = programfile.read(path)
        try:
            ops = []
            for i, h in enumerate(header["ops"]):
                if not isinstance(h, dict):
                    raise TypeError(f"op {i} is not a JSON object")
                kw = {f: h.get(f) for f in _SCALAR_FIELDS}
                for f in _ARRAY_FIELDS:
                    kw[f] = arrays.get(f"op{i}.{f}")
                ops.append(Op(**kw))
            used = {f"op{i}.{f}" for i in range(len(ops)) for f in _ARRAY_FIELDS}
            if set(arrays) - used:
                raise ValueError(f"arrays of ops the header does not have: {sorted(set(arrays) - used)}")
            shape = header["input_shape"]
            if not isinstance(shape, list) or not all(isinstance(v, int) for v in shape):
                raise TypeError(f"input_shape {shape!r} is not a list of integers")
            scale = header["input_scale"]
            if isinstance(scale, bool) or not isinstance(scale, (int, float)):
                raise TypeError(f"input_scale {scale!r} is not a number")
            name, meta = header.get("name", ""), header.get("meta", {}) or {}
            if not isinstance(name, str) or not isinstance(meta, dict):
                raise TypeError("name must be a string and meta a JSON object")
            rng = header.get("input_range")
            if rng is not None and not (isinstance(rng, list) and len(rng) == 2 and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in rng)
                    and rng[0] <= rng[1]):
                raise TypeError(f"input_range {rng!r} is not [min, max]")
            norm = header.get("input_norm")
            if norm is not None:
                if not (isinstance(norm, dict) and all(
                        isinstance(norm.get(k), list) and norm[k] and all(
                            isinstance(v, (int, float)) and not isinstance(v, bool) for v in norm[k])
                        for k in ("mean", "std"))):
                    raise TypeError(f"input_norm {norm!r} is not {{'mean': [...], 'std': [...]}}")
                norm = (tuple(float(v) for v in norm["mean"]), tuple(float(v) for v in norm["std"]))
            prog = cls(input_shape=tuple(shape), input_scale=float(scale), ops=ops, name=name, meta=meta,
                       input_range=None if rng is None else (float(rng[0]), float(rng[1])), input_norm=norm)
        except (KeyError, TypeError, ValueError) as e:
            raise ProgramFormatError(f"{path}: program file header is damaged: {e!r}") from e
        try:
            return prog.check()
        except ProgramFormatError as e:
            raise ProgramFormatError(f"{path}: {e}") from e
        except Exception as e:  # a value of a type check() does not expect
            raise ProgramFormatError(f"{path}: program file header is damaged: {e!r}") from e

    def __repr__(self) -> str:
        return (
            f"Program(name={self.name!r}, input_shape={tuple(self.input_shape)}, "
            f"ops=[{', '.join(op.name or op.kind for op in self.ops)}])"
        )

    def summary(self) -> str:
        """A table of the ops with their output shapes and MACs."""
        lines = [f"Program {self.name!r}: input {tuple(self.input_shape)} scale {self.input_scale:.6g}"]
        shape = tuple(self.input_shape)
        for i, op in enumerate(self.ops):
            out = op.out_shape(shape)
            extra = []
            if op.kind == "conv2d":
                extra.append(f"k{op.kernel} s{op.stride} p{op.padding}")
            if op.relu:
                extra.append("relu")
            if op.pool:
                extra.append(f"{op.pool}pool")
            if op.out_int32:
                extra.append("int32 out")
            lines.append(
                f"  {i:2d} {op.name or op.kind:12s} {op.kind:8s} {' '.join(extra):22s} "
                f"-> {str(out):16s} {op.macs(shape):>10,d} MACs"
            )
            shape = out
        return "\n".join(lines)


def _check_op(i: int, op: Op, last: bool) -> None:
    where = f"op {i} ({op.name or op.kind})"
    if op.kind not in OP_KINDS:
        raise ProgramFormatError(f"{where}: unknown kind {op.kind!r}; expected one of {OP_KINDS}")
    if op.pool not in POOL_MODES:
        raise ProgramFormatError(f"{where}: pool must be None, 'max' or 'avg', got {op.pool!r}")
    if op.out_int32 and not last:
        raise ProgramFormatError(f"{where}: only the last op may have int32 outputs")
    if not op.has_weights:
        if op.out_int32 or op.relu or op.pool:
            raise ProgramFormatError(f"{where}: a standalone pool has no relu, pool or int32 output")
        return
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
    if op.kind == "conv2d":
        if w.shape[2] != w.shape[3]:
            raise ProgramFormatError(f"{where}: kernel must be square, got {w.shape[2]}x{w.shape[3]}")
        if not 1 <= w.shape[2] <= MAX_KERNEL:
            raise ProgramFormatError(f"{where}: kernel {w.shape[2]} outside 1..{MAX_KERNEL}")
        if int(op.stride) not in (1, 2):
            raise ProgramFormatError(f"{where}: stride must be 1 or 2, got {op.stride}")
        if not 0 <= int(op.padding) < w.shape[2]:
            raise ProgramFormatError(f"{where}: padding {op.padding} must be in 0..kernel-1")
    elif op.pool is not None:
        raise ProgramFormatError(f"{where}: linear ops have no pooling")
    o = w.shape[0]
    for f, dt in (("bias", np.int32), ("mult", np.int32), ("shift", np.int32)):
        a = getattr(op, f)
        if a.shape != (o,):
            raise ProgramFormatError(f"{where}: {f} must have shape ({o},), got {a.shape}")
        if a.dtype != dt:
            raise ProgramFormatError(f"{where}: {f} dtype must be {np.dtype(dt)}, got {a.dtype}")
    k = op.shift.astype(np.int64) + 31
    if k.min() < K_MIN or k.max() > K_MAX:
        raise ProgramFormatError(f"{where}: shift gives k = 31 + shift outside {K_MIN}..{K_MAX}")
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


def normalize_images(x, norm) -> np.ndarray:
    """float64 ``(x - mean[c]) / std[c]`` of (N, C, ...) images for ``norm = (mean, std)``
    (one value or one per channel); ``x`` as float64 when ``norm`` is None."""
    x = np.asarray(x, dtype=np.float64)
    if norm is None:
        return x
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean, std = (np.asarray(v, np.float64).reshape(shape) for v in norm)
    return (x - mean) / std


def _caller_level() -> int:
    """The stacklevel of the first frame outside rtlcnn (so a warning names the user's line)."""
    import sys

    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    level, f = 1, sys._getframe(1)
    while f is not None and os.path.abspath(f.f_code.co_filename).startswith(pkg + os.sep):
        f = f.f_back
        level += 1
    return level
