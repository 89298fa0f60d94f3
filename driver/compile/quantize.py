"""Calibration and quantization of float stages (steps 2 and 3 of ``rtlcnn.compile``).

2. :func:`calibrate` runs the folded float stages on calibration images and picks the
   scale of the network input and of every stage output (max-abs by default, or a
   percentile of the absolute values).
3. :func:`quantize` turns stages and scales into program ops: per-output-channel
   symmetric int8 weights (scale max-abs/127), int32 bias, and the requant multiplier
   ``M * 2**-k`` of ``s_in * s_w[c] / s_out``. The last conv/linear returns its int32
   accumulators (``out_int32``) so the driver dequantizes them with ``s_in * s_w[c]``.

The integer numerics are those of :mod:`rtlcnn.reference` (``docs/numerics.md``); how the
compiler picks its numbers is ``docs/quantization.md``.
"""

from __future__ import annotations

import warnings
from typing import Optional

import numpy as np

from ..core.errors import InputError, InputRangeWarning, LayerNotSupported
from ..core.program import Op, Program
from .stages import SCALE_KEEPING, Stage, float_forward

__all__ = [
    "calibrate",
    "quantize",
    "weight_scales",
    "quantize_weights",
    "requant_params",
    "quantize_stage",
    "layer_scales",
    "scale_classes",
    "chain_problem",
    "act_bounds",
    "int32_output",
    "worst_case_accumulator",
    "as_numpy_images",
    "image_range",
    "ACT_METHODS",
]

ACT_METHODS = ("max", "percentile")
_INT32_LIMIT = 2**31


def as_numpy_images(images) -> np.ndarray:
    """Calibration images as float32 numpy, from an array-like or a torch tensor.

    uint8 images are pixels: divided by 255 as ``rtlcnn compile`` does for its image files,
    with an :class:`rtlcnn.InputRangeWarning` saying so; other integer dtypes are refused
    (which full scale they have cannot be guessed).
    """
    if hasattr(images, "detach"):
        images = images.detach().cpu().numpy()
    a = np.asarray(images)
    if a.dtype == np.uint8:
        warnings.warn("calibration images are uint8 pixels: divided by 255 (as `rtlcnn compile` does), so "
                      "the program takes float images in 0..1; pass float images to choose the scaling",
                      InputRangeWarning, stacklevel=3)
        return a.astype(np.float32) / np.float32(255.0)
    if a.dtype.kind in "biu":
        raise InputError(f"calibration images have dtype {a.dtype}: pass float images scaled as the model "
                         "expects them (e.g. 8-bit pixels / 255), or uint8 pixels (divided by 255)")
    return a.astype(np.float32, copy=False)


def image_range(x: np.ndarray) -> tuple:
    """(min, max) of calibration images, what the program records as its input domain."""
    return (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)


def scale_classes(stages: list) -> dict:
    """Tensor name -> the name of its scale class: pools, concatenations and exact copies
    (identity convs) have the scale of their inputs, so they share one class with them."""
    parent = {"input": "input"}

    def find(n):
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    prev = "input"
    for st in stages:
        parent[st.name] = st.name
        if st.kind in SCALE_KEEPING or st.identity:
            for i in (st.inputs or [prev]):
                a, b = find(i), find(st.name)
                if a != b:
                    parent[b] = a
        prev = st.name
    return {n: find(n) for n in parent}


def _defines_scale(st: Stage) -> bool:
    """Stages whose values the calibration measures: requantized outputs (conv, linear,
    add); pools, concatenations and copies only pass values of their inputs on."""
    return (st.has_weights or st.kind == "add") and not st.identity


def calibrate(
    stages: list, calibration, *, activation: str = "max", percentile: float = 99.99, batch_size=256
):
    """Pick the input scale and the output scale of every stage.

    Parameters
    ----------
    stages : list of Stage
    calibration : array-like, float (N, C, H, W)
        Images like those the network will see (training images, never the held-out ones),
        normalized as the model's first layer sees them.
    activation : {"max", "percentile"}
        ``"max"``: scale = max |a| / 127 over the calibration set, so nothing clips.
        ``"percentile"``: scale = the ``percentile``-th percentile of |a| / 127; larger
        values clip, in exchange for a finer step.

    Returns
    -------
    input_scale : float
    scales : list of float
        Per stage: the scale of its int8 output. Tensors that must share a scale (a pool
        and its input, the inputs of a concatenation, an exact copy and its source:
        :func:`scale_classes`) get the scale measured over all of their class's
        requantized members (or the input's).
    """
    import torch

    if activation not in ACT_METHODS:
        raise ValueError(f"activation must be one of {ACT_METHODS}, got {activation!r}")
    x = as_numpy_images(calibration)
    if x.ndim != 4 or len(x) == 0:
        raise ValueError(f"calibration images must be a non-empty (N, C, H, W) batch, got shape {x.shape}")
    cls = scale_classes(stages)
    # Per class: the running max, or for a percentile only the largest values it can need
    # (the percentile of n values lies between the order statistics at floor/ceil of
    # q*(n-1), so the top n - floor(q*(n-1)) suffice): memory is bounded by a batch and that
    # tail, not by the calibration set.
    kept, total = {}, {}
    input_max = float(np.abs(x).max())
    with torch.no_grad():
        for st, (out, pre) in zip(stages, float_forward(stages, torch.from_numpy(x[:1]), collect=True)):
            if _defines_scale(st):  # values per image, so each class's tail size is known up front
                c = cls[st.name]
                total[c] = total.get(c, 0) + len(x) * (pre if pre is not None else out).numel()
        for i in range(0, len(x), batch_size):
            outs = float_forward(stages, torch.from_numpy(x[i : i + batch_size]), collect=True)
            for st, (out, pre) in zip(stages, outs):
                if not _defines_scale(st):
                    continue
                c = cls[st.name]
                a = np.abs((pre if pre is not None else out).numpy()).reshape(-1)
                if activation == "max":
                    kept[c] = a.max() if c not in kept else max(kept[c], a.max())
                    continue
                need = total[c] - int(np.floor(percentile / 100.0 * (total[c] - 1)))
                both = a if c not in kept else np.concatenate([kept[c], a])
                kept[c] = both if len(both) <= need else np.partition(both, len(both) - need)[-need:]

    def stat(c) -> float:
        if c not in kept:
            v = 0.0
        elif activation == "max":
            v = float(kept[c])
        else:
            t = np.sort(kept[c])
            n = total[c]
            r = percentile / 100.0 * (n - 1)
            lo = int(np.floor(r))
            frac = r - lo
            a0 = float(t[0])
            a1 = float(t[1]) if len(t) > 1 else a0
            v = a0 + (a1 - a0) * frac
        if c == cls["input"]:
            v = max(v, input_max)
        return v / 127.0 if v > 0 else 1.0

    scale_of = {c: stat(c) for c in set(cls.values())}
    return scale_of[cls["input"]], [scale_of[cls[st.name]] for st in stages]


# ----------------------------------------------------------------------------- quantization


def weight_scales(w) -> np.ndarray:
    """Per-output-channel symmetric weight scales, max |w[c]| / 127 (float64).

    An all-zero channel borrows the largest scale of the layer (1/127 if all are zero):
    its weights quantize to 0 whatever the scale, and its bias stays representable.
    """
    w = np.asarray(w, dtype=np.float64)
    s = np.abs(w.reshape(w.shape[0], -1)).max(axis=1) / 127.0
    fallback = s.max() if s.max() > 0 else 1.0 / 127.0
    return np.where(s > 0, s, fallback)


def quantize_weights(w, s_w) -> np.ndarray:
    """int8 weights ``clamp(round_half_even(w / s_w[c]), -127, 127)``."""
    w = np.asarray(w, dtype=np.float64)
    s = np.asarray(s_w, dtype=np.float64).reshape((-1,) + (1,) * (w.ndim - 1))
    return np.clip(np.rint(w / s), -127, 127).astype(np.int8)


def requant_params(m) -> tuple:
    """Multiplier ``M`` (int32, in [2**30, 2**31)) and shift (``k = 31 + shift``) with
    ``M * 2**-k`` the closest such value to each real multiplier ``m > 0``.

    ``m`` below ``2**-32`` uses ``k = 62`` and a smaller ``M`` (the output is then 0 or
    close to it anyway). Raises ValueError for ``m >= 2**30``.
    """
    m = np.asarray(m, dtype=np.float64)
    if np.any(~np.isfinite(m)) or np.any(m <= 0):
        raise ValueError("requant multipliers must be finite and positive")
    frac, exp = np.frexp(m)  # m = frac * 2**exp, frac in [0.5, 1)
    mult = np.rint(frac * 2.0**31).astype(np.int64)
    k = 31 - exp.astype(np.int64)
    carry = mult == 2**31  # frac rounded up to 1.0
    mult = np.where(carry, 2**30, mult)
    k = np.where(carry, k - 1, k)
    small = k > 62
    if np.any(small):
        mult = np.where(small, np.rint(m * 2.0**62).astype(np.int64), mult)
        k = np.where(small, 62, k)
    if np.any(k < 1):
        raise ValueError(f"requant multiplier {m.max():g} is too large (k = 31 + shift must be >= 1)")
    return mult.astype(np.int32), (k - 31).astype(np.int32)


def worst_case_accumulator(wq, bq) -> np.ndarray:
    """Per output channel, the largest |accumulator| any int8 input can give:
    ``sum|w_q[c]| * 128 + |b_q[c]|`` (int64)."""
    wq = np.asarray(wq, dtype=np.int64)
    return np.abs(wq).reshape(len(wq), -1).sum(axis=1) * 128 + np.abs(np.asarray(bq, dtype=np.int64))


def quantize_stage(st: Stage, s_in: float, s_out: Optional[float]) -> Op:
    """One conv/linear stage to an Op; ``s_out=None`` gives int32 outputs."""
    w, b = (
        np.asarray(t.detach().cpu().double() if hasattr(t, "detach") else t, np.float64)
        for t in (st.weight, st.bias)
    )
    s_w = np.ones(len(w)) if st.identity else weight_scales(w)  # a copy: its 0/1 weights exactly
    wq = quantize_weights(w, s_w)
    acc_scale = float(s_in) * s_w
    bq = np.rint(b / acc_scale)
    where = f"{st.name} ({', '.join(st.sources)})" if st.sources else st.name
    worst = worst_case_accumulator(wq, bq)
    if worst.max() >= _INT32_LIMIT:
        c = int(worst.argmax())
        raise LayerNotSupported(
            f"{where}: the worst-case accumulator of output channel {c} could overflow int32 "
            f"(sum|w|*128 + |bias| = {int(worst[c])} >= 2**31); use fewer input features or "
            "a smaller bias"
        )
    if s_out is None:
        mult = np.full(len(wq), 2**30, np.int32)  # unused with int32 outputs: M*2^-k = 1
        shift = np.full(len(wq), -1, np.int32)
    else:
        try:
            mult, shift = requant_params(acc_scale / float(s_out))
        except ValueError as e:
            raise LayerNotSupported(f"{where}: {e}") from e
    return Op(
        kind=st.kind,
        name=st.name,
        weight=wq,
        bias=bq.astype(np.int32),
        mult=mult,
        shift=shift,
        stride=int(st.stride),
        padding=int(st.padding),
        relu=bool(st.relu),
        pool=st.pool,
        out_int32=s_out is None,
        out_scale=None if s_out is None else float(s_out),
        acc_scale=acc_scale.astype(np.float32),
        **({"groups": int(st.groups)} if st.groups != 1 else {}),
        **act_bounds(st, s_out),
    )


def act_bounds(st: Stage, s_out: Optional[float]) -> dict:
    """The Op fields ``act_min``/``act_max`` of a stage's fused activation bounds (empty
    when they are the int8 range anyway): the float bound over the output scale, rounded."""
    lo, hi = st.bounds()
    out = {}
    if s_out is None:
        return out
    if lo > -np.inf and lo != 0:
        out["act_min"] = int(np.clip(np.rint(lo / s_out), -128, 127))
    if hi < np.inf:
        q = int(np.clip(np.rint(hi / s_out), -128, 127))
        if q < 127:
            out["act_max"] = q
    return out


def int32_output(stages: list) -> bool:
    """True when the last stage can return int32 accumulators (conv/linear, no activation
    or pool)."""
    last = stages[-1]
    return last.has_weights and not last.bounded and last.pool is None and not last.identity


def layer_scales(stages: list, input_scale: float, scales: list) -> list:
    """Per stage, ``(s_in, s_out)`` of its (first) int8 input and its output (``s_out``
    None for the int32 outputs of the last layer); ``None`` for stages without weights."""
    scale = {"input": float(input_scale)}
    out, prev = [], "input"
    int32_out = int32_output(stages)
    for i, st in enumerate(stages):
        s_out = None if (i == len(stages) - 1 and int32_out) else float(scales[i])
        scale[st.name] = s_out
        src = (st.inputs or [prev])[0]
        out.append((scale[src], s_out) if st.has_weights else None)
        prev = st.name
    return out


def chain_problem(stages: list) -> Optional[str]:
    """Why ``stages`` are not a plain chain of conv/linear/2x2 pools (what
    quantization-aware training handles), or None."""
    prev = "input"
    for st in stages:
        if st.inputs and st.inputs != [prev]:
            return f"{st.name} reads {st.inputs}, not the layer before it"
        if st.kind not in ("conv2d", "linear", "maxpool", "avgpool") or st.identity or st.groups != 1:
            return f"{st.name} is a {st.kind}{' copy' if st.identity else ''} (groups={st.groups})"
        if st.kind in ("maxpool", "avgpool") and (st.pool_kernel, st.pool_stride, st.pool_padding,
                                                  st.ceil_mode) != (2, 2, 0, False):
            return f"{st.name} is a {st.pool_kernel}x{st.pool_kernel} pool"
        lo, hi = st.bounds()
        if hi < np.inf or lo not in (0.0, -np.inf):
            return f"{st.name} has the activation bounds ({lo}, {hi})"
        prev = st.name
    return None


def _add_params(st: Stage, s_a: float, s_b: float, s_y: float) -> tuple:
    """(mult (Ma, Mb), shift) of an add: ``y = (a*Ma + b*Mb + 2**(k-1)) >> k`` with
    Ma/2**k ~ s_a/s_y and Mb/2**k ~ s_b/s_y and one k, chosen so that the larger multiplier
    lies in [2**15, 2**16): the engine's ADD (1.4) multiplies int8 by unsigned 16 bit (one
    DSP48 each). The relative error of the larger, <= 2**-16, is far below an int8 step;
    the smaller keeps the same absolute resolution, 2**-k. k = 31 + shift must be 1..62."""
    m = np.array([s_a / s_y, s_b / s_y], np.float64)
    try:
        _, shift = requant_params(m.max())
    except ValueError as e:
        raise LayerNotSupported(f"{st.name} ({', '.join(st.sources)}): {e}") from e
    k = int(shift) + 31 - 15  # requant_params puts the larger in [2**30, 2**31)
    mult = np.rint(m * 2.0**k).astype(np.int64)
    if mult.max() >= 2**16:  # rounding carried the larger one to 2**16
        k -= 1
        mult = np.rint(m * 2.0**k).astype(np.int64)
    if not 1 <= k <= 62:
        raise LayerNotSupported(
            f"{st.name} ({', '.join(st.sources)}): the add's scale ratios {m[0]:.3g}, {m[1]:.3g} "
            "need a rounding shift outside 1..62 with 16-bit multipliers")
    return mult.astype(np.int32), np.array([k - 31], np.int32)


def quantize(
    stages: list, input_scale: float, scales: list, *, input_shape=None, name: str = "", meta=None,
    input_range=None, input_norm=None, output_fn=None,
) -> Program:
    """Stages plus scales (from :func:`calibrate`) to a checked :class:`Program`;
    ``input_range`` is the (min, max) of the calibration images, ``input_norm`` the
    (mean, std) the program normalizes its input with, ``output_fn`` the softmax or
    log_softmax the host applies to the output."""
    ops, prev = [], "input"
    scale = {"input": float(input_scale)}
    for st, io, s in zip(stages, layer_scales(stages, input_scale, scales), scales):
        srcs = list(st.inputs or [prev])
        extra = {} if srcs == [prev] else {"inputs": tuple(srcs)}
        if io is not None:
            op = quantize_stage(st, *io)
        elif st.kind == "add":
            mult, shift = _add_params(st, scale[srcs[0]], scale[srcs[1]], float(s))
            op = Op(kind="add", name=st.name, mult=mult, shift=shift, relu=bool(st.relu),
                    out_scale=float(s), **act_bounds(st, float(s)))
        elif st.kind == "concat":
            op = Op(kind="concat", name=st.name, out_scale=float(s))
        elif st.kind == "globalavgpool":
            op = Op(kind="globalavgpool", name=st.name)
        else:
            op = Op(kind=st.kind, name=st.name, pool_kernel=st.pool_kernel, pool_stride=st.pool_stride,
                    pool_padding=st.pool_padding, ceil_mode=st.ceil_mode,
                    count_include_pad=st.count_include_pad)
        for k, v in extra.items():
            setattr(op, k, v)
        ops.append(op)
        scale[st.name] = io[1] if io is not None and io[1] is not None else float(s)
        prev = st.name
    shape = tuple(input_shape) if input_shape is not None else tuple(stages[0].in_shape)
    prog = Program(
        input_shape=shape, input_scale=float(input_scale), ops=ops, name=name, meta=dict(meta or {}),
        input_range=None if input_range is None else tuple(float(v) for v in input_range),
        input_norm=input_norm,
        **({"output_fn": output_fn} if output_fn else {}),
    )
    return prog.check()
