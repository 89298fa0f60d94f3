"""``rtlcnn.Program``: a quantized network as a graph of integer ops, and its file format.

A program is what the compiler writes, the reference model executes and the driver
runs on the engine. Its ops (:class:`rtlcnn.core.ops.Op`) are listed in a topological
order; each reads the tensors it names (by default the previous op's output, a chain) and
the last op's output is the program's. It holds no floating-point computation except the
input quantization, the output dequantization and an optional softmax or log-softmax of
the dequantized output (:attr:`Program.output_fn`), all defined here.

File format (``*.rtlcnn.npz``): one numpy ``.npz`` archive, readable with
``allow_pickle=False``; :mod:`rtlcnn.core.programfile` defines it and reads it as
untrusted bytes.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import programfile
from .errors import InputError, InputRangeWarning, ProgramFormatError
from .ops import INPUT, MAX_KERNEL, OP_KINDS, POOL_KINDS, POOL_MODES, V2_DEFAULTS, Op, check_op
from .programfile import FORMAT_VERSION

__all__ = ["Op", "Program", "FORMAT_VERSION", "OP_KINDS", "POOL_MODES", "OUTPUT_FNS", "MAX_KERNEL",
           "INPUT", "normalize_images", "output_function"]


OUTPUT_FNS = (None, "softmax", "log_softmax")
_ARRAY_FIELDS = ("weight", "bias", "mult", "shift", "acc_scale")
_SCALAR_FIELDS = ("kind", "name", "stride", "padding", "relu", "pool", "out_int32", "out_scale")
#: the op kinds of file format version 1
_V1_KINDS = ("conv2d", "linear", "maxpool", "avgpool")
#: kinds whose int8 output keeps its (first) input's scale
_SCALE_KEEPING = POOL_KINDS + ("globalavgpool", "concat")


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

    #: None, "softmax" or "log_softmax": applied by :meth:`dequantize_output` to the float
    #: output over axis 1 (a vector's features, a map's channels), as ``F.softmax(x, 1)``
    output_fn: Optional[str] = None

    # ------------------------------------------------------------------ graph
    def sources(self) -> list:
        """Per op, the indices of the tensors it reads: -1 the program input, j >= 0 op j's
        output (ProgramFormatError for a name that resolves to no earlier op)."""
        names = {}
        for j, op in enumerate(self.ops):
            names.setdefault(op.name, []).append(j)
        out = []
        for i, op in enumerate(self.ops):
            if not op.inputs:
                out.append((i - 1,))
                continue
            src = []
            for name in op.inputs:
                js = [-1] if name == INPUT else names.get(name, [])
                where = f"op {i} ({op.name or op.kind}) reads {name!r}"
                if name == INPUT and INPUT in names:
                    raise ProgramFormatError(f"{where}, but op {names[INPUT][0]} is named 'input' too "
                                             "(the name of the program input): rename it")
                if len(js) != 1:
                    raise ProgramFormatError(f"{where}, which " + (
                        f"names {len(js)} ops ({', '.join(map(str, js))}): names read must be unique"
                        if js else "is the name of no op (nor 'input', the program input)"))
                if js[0] >= i:
                    raise ProgramFormatError(f"{where}, the output of op {js[0]}, which does not come "
                                             "before it (ops are listed in a topological order)")
                src.append(js[0])
            out.append(tuple(src))
        return out

    @property
    def is_chain(self) -> bool:
        """Every op reads the previous op's output (the only graphs of format version 1)."""
        return all(s == (i - 1,) for i, s in enumerate(self.sources()))

    # ------------------------------------------------------------------ shapes
    def shapes(self) -> list:
        """Output shape (no batch axis) of every op, in order."""
        table = {-1: tuple(int(v) for v in self.input_shape)}
        for i, (op, src) in enumerate(zip(self.ops, self.sources())):
            ins = [table[j] for j in src]
            if op.kind == "linear":
                n_in = int(np.prod(ins[0]))
                if n_in != op.weight.shape[1]:
                    what = "the previous output" if src == (i - 1,) else f"its input {op.inputs[0]!r}"
                    raise ProgramFormatError(
                        f"op {op.name or 'linear'!r}: linear expects {op.weight.shape[1]} "
                        f"input features but {what} {ins[0]} has {n_in}")
            table[i] = op.out_shape(*ins)
        return [table[i] for i in range(len(self.ops))]

    def in_shapes(self) -> list:
        """Per op, the shapes of the tensors it reads."""
        shapes = [tuple(int(v) for v in self.input_shape)] + self.shapes()
        return [[shapes[j + 1] for j in src] for src in self.sources()]

    @property
    def output_shape(self) -> tuple:
        return self.shapes()[-1]

    def macs(self) -> int:
        """Multiply-accumulates per image."""
        return sum(op.macs(*ins) for op, ins in zip(self.ops, self.in_shapes()))

    def format_version(self) -> int:
        """The lowest program file format version that holds this program: 1 for a chain
        of the version-1 kinds with kernels 1..7, strides 1 or 2 and no version-2 field,
        output function or input normalization (rtlcnn 0.1.0 reads it); else 2."""
        v1 = self.output_fn is None and self.input_norm is None and all(
            op.kind in _V1_KINDS and not op.v2_fields()
            and (op.kind != "conv2d" or op.kernel <= MAX_KERNEL and int(op.stride) in (1, 2))
            for op in self.ops)
        return 1 if v1 else 2

    # ---------------------------------------------------------- quantization
    def check_images(self, images) -> np.ndarray:
        """Validate a batch of images; return it as float32 or int8 (N, C, H, W).

        Float images are real values (quantized with :attr:`input_scale`); int8 images
        are taken as already quantized.
        """
        return self._checked(images)[0]

    def _checked(self, images) -> tuple:
        """:meth:`check_images`, and the float images' (min, max) (None for int8)."""
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
            return x, None
        if x.dtype.kind == "f":
            # the extremes are finite exactly when every value is (a NaN makes both NaN)
            ext = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
            if not (np.isfinite(ext[0]) and np.isfinite(ext[1])):
                bad = ~np.isfinite(x)
                count, first = int(bad.sum()), tuple(int(i) for i in np.argwhere(bad)[0])
                raise InputError(f"images contain {count} NaN or infinite value{'s' if count > 1 else ''}"
                                 f" (first at index {first})")
            return x.astype(np.float32, copy=False), ext
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

    def _domain_problem(self, x: np.ndarray, y: np.ndarray, ext=None) -> Optional[str]:
        """:meth:`input_domain_problem` given ``y = normalize(x) / input_scale``, the values
        the quantization rounds (so :meth:`quantize_input` computes them once), and ``x``'s
        (min, max) if known."""
        if x.size == 0:
            return None
        s = float(self.input_scale)
        bound = 127.5 * s
        lo, hi = (float(v) for v in self.input_range) if self.input_range is not None else (-bound, bound)
        xmin, xmax = ext if ext is not None else (float(x.min()), float(x.max()))
        what = f"program {self.name!r}" if self.name else "the program"
        if xmax > 2 and max(abs(lo), abs(hi)) <= 2 and np.array_equal(x, np.rint(x)):
            return (f"the images hold integer pixel values up to {xmax:g}, but {what} takes values in "
                    f"[{lo:.4g}, {hi:.4g}]: scale them as the calibration images were (8-bit pixels / 255, "
                    "16-bit / 65535, as `rtlcnn run` does for image files) before predict")
        if self.input_norm is None:  # y = x / s is monotone: its extremes are those of x, divided
            big = max(-xmin, xmax) / s > 127.5
        else:
            big = True
        saturated = float(np.count_nonzero(np.abs(y) > 127.5)) / x.size if big else 0.0
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
        x, ext = self._checked(images)
        if x.dtype == np.int8:
            return x
        if self.input_norm is None:  # (x as float64, divided: one pass)
            y = np.divide(x, float(self.input_scale), dtype=np.float64)
        else:
            y = self.normalize(x)
            y /= float(self.input_scale)
        problem = self._domain_problem(x, y, ext)
        if problem:
            if strict:
                raise InputError(problem)
            warnings.warn(problem, InputRangeWarning, stacklevel=_caller_level())
        np.rint(y, out=y)
        np.maximum(y, -128, out=y)  # (clamp: two ufuncs, without np.clip's wrapper)
        np.minimum(y, 127, out=y)
        return y.astype(np.int8)

    def dequantize_output(self, raw) -> np.ndarray:
        """Raw outputs of the last op (int8 or int32) to float32 real values, with
        :attr:`output_fn` applied (in float64) when the program has one."""
        raw = np.asarray(raw)
        last = self.ops[-1]
        if last.out_int32:
            scale = np.asarray(last.acc_scale, dtype=np.float64)
            shape = (1, -1) + (1,) * (raw.ndim - 2)
            y = raw.astype(np.float64) * scale.reshape(shape)
        else:
            y = raw.astype(np.float64) * float(self._out_scale_of(len(self.ops) - 1))
        return output_function(y, self.output_fn).astype(np.float32)

    def _out_scale_of(self, i: int, sources: Optional[list] = None) -> float:
        """Scale of op i's int8 output (-1: the input's); pools, globalavgpool and concat
        keep their (first) input's scale (check() makes a concat's inputs agree)."""
        sources = self.sources() if sources is None else sources
        while i >= 0:
            op = self.ops[i]
            if op.kind in _SCALE_KEEPING:
                i = sources[i][0]
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
        if not (self.output_fn is None or isinstance(self.output_fn, str) and self.output_fn in OUTPUT_FNS):
            raise ProgramFormatError(f"output_fn must be one of {OUTPUT_FNS}, got {self.output_fn!r}")
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
            check_op(i, op, last=(i == len(self.ops) - 1))
        sources = self.sources()
        read = {j for src in sources for j in src}
        for j, op in enumerate(self.ops[:-1]):
            if j not in read:
                raise ProgramFormatError(f"op {j} ({op.name or op.kind}): its output is read by no op "
                                         "(the program's output is the last op's)")
        table = {-1: tuple(int(v) for v in self.input_shape)}
        for i, (op, src, shape) in enumerate(zip(self.ops, sources, self.shapes())):
            where, ins = f"op {i} ({op.name or op.kind})", [table[j] for j in src]
            if op.kind == "conv2d" and op.weight.shape[1] * int(op.groups) != ins[0][0]:
                per = f" per group x {op.groups} groups" if int(op.groups) > 1 else ""
                raise ProgramFormatError(f"{where}: weight has {op.weight.shape[1]} input channels"
                                         f"{per} but its input has {ins[0][0]}")
            if min(shape) < 1:
                raise ProgramFormatError(f"{where}: output shape {shape} is empty")
            table[i] = shape
        scales = {-1: float(self.input_scale)}
        for i, (op, src) in enumerate(zip(self.ops, sources)):
            if op.kind == "concat":
                got = sorted({scales[j] for j in src})
                if len(got) > 1 or op.out_scale is not None and float(op.out_scale) != got[0]:
                    raise ProgramFormatError(
                        f"op {i} ({op.name or op.kind}): a concat copies its inputs, so they need one "
                        f"scale (and out_scale None or that scale); got input scales "
                        f"{', '.join(f'{v:.6g}' for v in got)}"
                        + ("" if op.out_scale is None else f" and out_scale {float(op.out_scale):.6g}"))
            scales[i] = None if op.out_int32 else self._out_scale_of(i, sources)
        return self

    # -------------------------------------------------------------- file I/O
    def save(self, path) -> None:
        """Write the program to ``path`` (conventionally ``*.rtlcnn.npz``, see
        :mod:`rtlcnn.core.programfile`) in the lowest format version that holds it
        (:meth:`format_version`)."""
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
        if self.output_fn is not None:
            header["output_fn"] = str(self.output_fn)
        arrays = {}
        for i, op in enumerate(self.ops):
            h = {}
            for f in _SCALAR_FIELDS:
                v = getattr(op, f)
                h[f] = v if not isinstance(v, (np.generic,)) else v.item()
            h["stride"], h["padding"] = int(op.stride), int(op.padding)
            h["relu"], h["out_int32"] = bool(op.relu), bool(op.out_int32)
            h["out_scale"] = None if op.out_scale is None else float(op.out_scale)
            for f in op.v2_fields():  # version 2: only the fields that differ from version 1
                v = getattr(op, f)
                h[f] = [str(n) for n in v] if f == "inputs" else (
                    bool(v) if isinstance(V2_DEFAULTS[f], bool) else int(v))
            header["ops"].append(h)
            for f in _ARRAY_FIELDS:
                v = getattr(op, f)
                if v is not None:
                    arrays[f"op{i}.{f}"] = np.asarray(v)
        programfile.write(path, header, arrays, version=self.format_version())

    @classmethod
    def load(cls, path) -> Program:
        """Read and validate a program file; ProgramFormatError says what is wrong, for any
        bytes at all (:func:`rtlcnn.core.programfile.read`)."""
        path = os.fspath(path)
        header, arrays, version = programfile.read(path, with_version=True)
        try:
            ops = [Op(**_op_fields(i, h, version, arrays)) for i, h in enumerate(_list(header, "ops"))]
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
            fn = header.get("output_fn")
            if fn is not None and (version < 2 or not isinstance(fn, str)):
                raise TypeError(f"output_fn {fn!r} is not a string of a version-2 file")
            prog = cls(input_shape=tuple(shape), input_scale=float(scale), ops=ops, name=name, meta=meta,
                       input_range=None if rng is None else (float(rng[0]), float(rng[1])), input_norm=norm,
                       output_fn=fn)
        except (KeyError, TypeError, ValueError) as e:
            raise ProgramFormatError(f"{path}: program file header is damaged: {e!r}") from e
        try:
            return prog.check()
        except ProgramFormatError as e:
            raise ProgramFormatError(f"{path}: {e}") from e
        except Exception as e:  # a value of a type check() does not expect
            raise ProgramFormatError(f"{path}: program file header is damaged: {e!r}") from e

    def __repr__(self) -> str:
        sources = _sources_or_none(self)
        names = [op.name or op.kind for op in self.ops]
        if sources is not None:
            names = [n if src == (i - 1,) else f"{n}({', '.join(self.ops[i].inputs)})"
                     for i, (n, src) in enumerate(zip(names, sources))]
        fn = f", output_fn={self.output_fn!r}" if self.output_fn else ""
        return (f"Program(name={self.name!r}, input_shape={tuple(self.input_shape)}, "
                f"ops=[{', '.join(names)}]{fn})")

    def summary(self) -> str:
        """A table of the ops: index, name, kind, the inputs of an op that does not read the
        previous op, key parameters, output shape and MACs."""
        head = f"Program {self.name!r}: input {tuple(self.input_shape)} scale {self.input_scale:.6g}"
        rows = []
        for i, (op, src, ins, out) in enumerate(zip(self.ops, self.sources(), self.in_shapes(),
                                                    self.shapes())):
            extra = [] if src == (i - 1,) else ["<- " + ", ".join(op.inputs)]
            if op.kind == "conv2d":
                g = int(op.groups)
                dw = " depthwise" if g > 1 and g == ins[0][0] else ""
                extra.append(f"k{op.kernel} s{op.stride} p{op.padding}" + (f" g{g}{dw}" if g > 1 else ""))
            elif op.kind in POOL_KINDS:
                extra.append(f"{op.pool_kernel}x{op.pool_kernel} s{op.pool_stride} p{op.pool_padding}"
                             + (" ceil" if op.ceil_mode else "")
                             + ("" if op.count_include_pad or op.kind == "maxpool" else " excl-pad"))
            lo, hi = op.bounds
            if op.relu and hi == 127:
                extra.append("relu")
            elif (lo, hi) != (-128, 127):
                extra.append(f"clamp[{lo},{hi}]")
            if op.pool:
                extra.append(f"{op.pool}pool")
            if op.out_int32:
                extra.append("int32 out")
            rows.append((i, op.name or op.kind, op.kind, " ".join(extra), str(out), op.macs(*ins)))
        wn, wk, we, wo = (max(len(r[j]) for r in rows) for j in (1, 2, 3, 4))
        lines = [head] + [f"  {i:2d} {n:{wn}s} {k:{wk}s} {e:{we}s} -> {o:{wo}s} {m:>11,d} MACs"
                          for i, n, k, e, o, m in rows]
        if self.output_fn:
            lines.append(f"  then {self.output_fn} of the dequantized output (host, float64)")
        return "\n".join(lines)


def _sources_or_none(prog: Program) -> Optional[list]:
    try:
        return prog.sources()
    except Exception:  # a repr of a broken program still prints
        return None


def _list(header: dict, key: str) -> list:
    v = header[key]
    if not isinstance(v, list):
        raise TypeError(f"{key} is not a list")
    return v


def _op_fields(i: int, h, version: int, arrays: dict) -> dict:
    """The keyword arguments of op ``i`` from its header entry, every field type-checked."""
    if not isinstance(h, dict):
        raise TypeError(f"op {i} is not a JSON object")
    v2 = [k for k in h if k in V2_DEFAULTS]
    if version < 2 and v2:
        raise ValueError(f"op {i} has the version-2 field {v2[0]!r} in a version-{version} file")
    if version >= 2:
        unknown = sorted(set(h) - set(_SCALAR_FIELDS) - set(V2_DEFAULTS))
        if unknown:
            raise ValueError(f"op {i} has unknown field {unknown[0]!r}")
    kw = {f: h.get(f) for f in _SCALAR_FIELDS}
    for f in ("kind", "name"):
        if not isinstance(kw[f], str):
            raise TypeError(f"op {i}: {f} {kw[f]!r} is not a string")
    for f in ("relu", "out_int32"):
        if kw[f] is not None and not isinstance(kw[f], bool):
            raise TypeError(f"op {i}: {f} {kw[f]!r} is not true or false")
        kw[f] = bool(kw[f])
    for f in ("stride", "padding"):
        if isinstance(kw[f], bool) or not isinstance(kw[f], int):
            raise TypeError(f"op {i}: {f} {kw[f]!r} is not an integer")
    if kw["pool"] is not None and not isinstance(kw["pool"], str):
        raise TypeError(f"op {i}: pool {kw['pool']!r} is not a string")
    sc = kw["out_scale"]
    if sc is not None and (isinstance(sc, bool) or not isinstance(sc, (int, float))):
        raise TypeError(f"op {i}: out_scale {sc!r} is not a number")
    for f in v2:
        v, d = h[f], V2_DEFAULTS[f]
        if f == "inputs":
            if not (isinstance(v, list) and all(isinstance(n, str) for n in v)):
                raise TypeError(f"op {i}: inputs {v!r} is not a list of names")
            v = tuple(v)
        elif not isinstance(v, type(d)) or isinstance(v, bool) != isinstance(d, bool):
            want = "true or false" if isinstance(d, bool) else "an integer"
            raise TypeError(f"op {i}: {f} {v!r} is not {want}")
        kw[f] = v
    for f in _ARRAY_FIELDS:
        kw[f] = arrays.get(f"op{i}.{f}")
    return kw


def output_function(y: np.ndarray, fn: Optional[str]) -> np.ndarray:
    """``fn`` (None, "softmax", "log_softmax") of float64 outputs (N, F) or (N, C, H, W)
    over axis 1, max-subtracted: ``exp(y - m) / sum(exp(y - m))`` and ``(y - m) -
    log(sum(exp(y - m)))`` with ``m`` the largest value along axis 1."""
    if fn is None:
        return y
    z = y - y.max(axis=1, keepdims=True)
    if fn == "softmax":
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)
    if fn == "log_softmax":
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    raise ValueError(f"output_fn must be one of {OUTPUT_FNS}, got {fn!r}")


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
