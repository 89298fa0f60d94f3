"""``rtlcnn.compile``: a PyTorch CNN to an int8 :class:`rtlcnn.Program`.

Three steps, each usable on its own:

1. :func:`lower` traces the model with ``torch.fx`` and turns it into a chain of
   :class:`Stage` objects, the ops the engine runs, with BatchNorm folded into the conv,
   ReLU and 2x2 pooling fused into the conv before them, and Dropout dropped. Anything
   the engine cannot run raises :class:`rtlcnn.LayerNotSupported` naming the layer.
2. :func:`calibrate` runs the folded float stages on calibration images and picks the
   scale of the network input and of every stage output (max-abs by default, or a
   percentile of the absolute values).
3. :func:`quantize` turns stages and scales into program ops: per-output-channel
   symmetric int8 weights (scale max-abs/127), int32 bias, and the requant multiplier
   ``M * 2**-k`` of ``s_in * s_w[c] / s_out``. The last conv/linear returns its int32
   accumulators (``out_int32``) so the driver dequantizes them with ``s_in * s_w[c]``.

The integer numerics are those of :mod:`rtlcnn.reference` (``docs/numerics.md``); how the
compiler picks its numbers is ``docs/quantization.md``. torch is imported inside the
functions, so ``import rtlcnn`` works without it (on the board).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from ..core.errors import LayerNotSupported
from ..core.program import MAX_KERNEL, Op, Program

__all__ = [
    "compile",
    "lower",
    "calibrate",
    "quantize",
    "Stage",
    "float_forward",
    "weight_scales",
    "quantize_weights",
    "requant_params",
    "quantize_stage",
    "layer_scales",
    "int32_output",
    "worst_case_accumulator",
    "SUPPORTED",
]

#: What the compiler accepts, for error messages and docs.
SUPPORTED = (
    "Conv2d (square kernel 1..7, stride 1 or 2, symmetric zero padding, groups=1, dilation=1), "
    "BatchNorm2d right after a Conv2d, ReLU, MaxPool2d(2), AvgPool2d(2), Flatten, Linear, "
    "Dropout"
)
ACT_METHODS = ("max", "percentile")
_INT32_LIMIT = 2**31


@dataclass
class Stage:
    """One engine op in float: what :func:`lower` makes of the model's layers.

    ``weight`` and ``bias`` are float32 torch tensors with BatchNorm folded in (conv2d
    and linear only); ``in_shape``/``out_shape`` are per image, without the batch axis.
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

    @property
    def has_weights(self) -> bool:
        return self.kind in ("conv2d", "linear")


# ----------------------------------------------------------------------------- lowering


def _pair(v, what: str, where: str) -> tuple:
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise LayerNotSupported(f"{where}: {what}={v!r} is not a 2-D value")
        return (int(v[0]), int(v[1]))
    return (int(v), int(v))


def _fn_name(target) -> str:
    if isinstance(target, str):
        return f"Tensor.{target}"
    mod = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", repr(target))
    return f"{mod}.{name}" if mod else name


class _Lowering:
    """Walks an fx graph that must be a single chain of supported layers."""

    def __init__(self, gm, input_shape: tuple):
        import torch
        import torch.nn as nn
        import torch.nn.functional as F

        self.torch, self.nn, self.F = torch, nn, F
        self.gm = gm
        self.shape = tuple(int(v) for v in input_shape)
        self.stages: list = []
        self.cur = None  # the fx node that holds the chain's tensor
        self.size_nodes: dict = {}  # fx node -> ("shape",) or ("size", dim) of a chain tensor
        self.bn_ok = False  # the last layer was a conv, so a BatchNorm2d may fold into it
        self.nonneg = False  # the chain's tensor is >= 0 (after a ReLU)
        self.relu_fns = {F.relu, torch.relu, torch.relu_, F.relu_}
        self.dropout_fns = {F.dropout, torch.dropout, F.dropout2d}
        self.add_fns = {operator.add, operator.iadd, torch.add, operator.sub, torch.sub, torch.cat}

    # ------------------------------------------------------------ helpers
    def _input(self, node, where: str):
        """The chain tensor that ``node`` consumes; reject branches and extra tensor inputs."""
        import torch.fx as fx

        if not node.args or node.args[0] is not self.cur:
            raise LayerNotSupported(
                f"{where}: its input is not the output of the layer before it; the compiler "
                "needs a plain chain of layers (no branches, skip connections or several inputs)"
            )
        extra = [a for a in list(node.args[1:]) + list(node.kwargs.values()) if isinstance(a, fx.Node)]
        extra = [a for a in extra if a not in self.size_nodes]
        if extra:
            raise LayerNotSupported(
                f"{where}: takes a second tensor ({extra[0].name}); the engine has no ops with "
                "two tensor inputs (residual add, concatenation) yet"
            )
        return self.cur

    def _need_map(self, where: str):
        if len(self.shape) != 3:
            raise LayerNotSupported(
                f"{where}: needs a (C, H, W) feature map but gets a flat vector of {self.shape[0]}; "
                "convolutions and pools must come before the Flatten"
            )

    def _last_weighted(self):
        for st in reversed(self.stages):
            if st.has_weights:
                return st
        return None

    # ------------------------------------------------------------ layers
    def conv(self, mod, where: str):
        self._need_map(where)
        kh, kw = _pair(mod.kernel_size, "kernel_size", where)
        sh, sw = _pair(mod.stride, "stride", where)
        if mod.groups != 1:
            raise LayerNotSupported(f"{where} with groups={mod.groups}: the engine runs groups=1 only")
        if _pair(mod.dilation, "dilation", where) != (1, 1):
            raise LayerNotSupported(f"{where} with dilation={mod.dilation}: the engine runs dilation=1 only")
        if kh != kw:
            raise LayerNotSupported(
                f"{where} with kernel_size=({kh}, {kw}): the engine runs square kernels only"
            )
        if not 1 <= kh <= MAX_KERNEL:
            raise LayerNotSupported(f"{where} with kernel_size={kh}: the engine runs kernels 1..{MAX_KERNEL}")
        if sh != sw or sh not in (1, 2):
            raise LayerNotSupported(
                f"{where} with stride={mod.stride}: the engine runs stride 1 or 2 (the same both ways)"
            )
        if mod.padding_mode != "zeros":
            raise LayerNotSupported(
                f"{where} with padding_mode={mod.padding_mode!r}: the engine pads with zeros only"
            )
        if isinstance(mod.padding, str):
            if mod.padding == "valid":
                pad = 0
            elif mod.padding == "same" and kh % 2 == 1:
                pad = (kh - 1) // 2
            else:
                raise LayerNotSupported(
                    f"{where} with padding={mod.padding!r} and kernel {kh}: the engine needs "
                    "symmetric padding"
                )
        else:
            ph, pw = _pair(mod.padding, "padding", where)
            if ph != pw:
                raise LayerNotSupported(
                    f"{where} with padding=({ph}, {pw}): the engine pads the same on all sides"
                )
            pad = ph
        if pad >= kh:
            raise LayerNotSupported(
                f"{where} with padding={pad} and kernel {kh}: the engine needs padding < kernel"
            )
        c, h, w = self.shape
        if mod.in_channels != c:
            raise LayerNotSupported(f"{where}: expects {mod.in_channels} input channels, gets {c}")
        oh, ow = (h + 2 * pad - kh) // sh + 1, (w + 2 * pad - kw) // sw + 1
        if oh < 1 or ow < 1:
            raise LayerNotSupported(f"{where}: a {h}x{w} input gives an empty output")
        weight = mod.weight.detach().cpu().to(self.torch.float32).clone()
        bias = (
            mod.bias.detach().cpu().to(self.torch.float32).clone()
            if mod.bias is not None
            else self.torch.zeros(mod.out_channels)
        )
        st = Stage("conv2d", str(self._name), self.shape, (mod.out_channels, oh, ow), weight, bias, sh, pad)
        st.sources.append(where)
        self.stages.append(st)
        self.shape = st.out_shape
        self.bn_ok, self.nonneg = True, False

    def batchnorm(self, mod, where: str):
        if not self.bn_ok:
            raise LayerNotSupported(
                f"{where}: a BatchNorm2d must come right after a Conv2d to be folded into it"
            )
        if mod.running_mean is None or mod.running_var is None:
            raise LayerNotSupported(
                f"{where} without running statistics (track_running_stats=False): nothing to fold "
                "for inference"
            )
        torch = self.torch
        st = self.stages[-1]
        var = mod.running_var.detach().cpu().to(torch.float64)
        mean = mod.running_mean.detach().cpu().to(torch.float64)
        scale = 1.0 / torch.sqrt(var + mod.eps)
        if mod.affine:
            scale = scale * mod.weight.detach().cpu().to(torch.float64)
        shift = -mean * scale
        if mod.affine:
            shift = shift + mod.bias.detach().cpu().to(torch.float64)
        st.weight = (st.weight.to(torch.float64) * scale.reshape(-1, 1, 1, 1)).to(torch.float32)
        st.bias = (st.bias.to(torch.float64) * scale + shift).to(torch.float32)
        st.sources.append(where)
        self.bn_ok = False

    def relu(self, where: str):
        self.bn_ok = False
        if self.nonneg:
            return  # ReLU of a ReLU output: nothing to do
        # ReLU commutes with max pooling: walk back over max pools to the conv/linear.
        for st in reversed(self.stages):
            if st.kind == "maxpool":
                continue
            if st.kind == "avgpool" or st.pool == "avg":
                raise LayerNotSupported(
                    f"{where} after an average pool: the engine applies ReLU before pooling, "
                    "and the two do not commute for averages"
                )
            if st.has_weights:
                st.relu = True
                st.sources.append(where)
                self.nonneg = True
                return
        raise LayerNotSupported(f"{where} on the network input: the engine has no standalone ReLU")

    def pool(self, mode: str, kernel, stride, padding, where: str, dilation=1, ceil_mode=False, extra=""):
        self._need_map(where)
        if extra:
            raise LayerNotSupported(f"{where} with {extra}: the engine pools 2x2 with stride 2 only")
        k = _pair(kernel, "kernel_size", where)
        s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else stride
        s = _pair(s, "stride", where)
        if k != (2, 2):
            raise LayerNotSupported(
                f"{where} with kernel_size={kernel}: the engine pools 2x2 with stride 2 only"
            )
        if s != (2, 2):
            raise LayerNotSupported(f"{where} with stride={stride}: the engine pools 2x2 with stride 2 only")
        if _pair(padding, "padding", where) != (0, 0):
            raise LayerNotSupported(f"{where} with padding={padding}: the engine pools without padding")
        if _pair(dilation, "dilation", where) != (1, 1):
            raise LayerNotSupported(f"{where} with dilation={dilation}: the engine pools without dilation")
        if ceil_mode:
            raise LayerNotSupported(
                f"{where} with ceil_mode=True: the engine drops a last odd row/column (ceil_mode=False)"
            )
        c, h, w = self.shape
        if h < 2 or w < 2:
            raise LayerNotSupported(f"{where}: a {h}x{w} map is too small for a 2x2 pool")
        out = (c, h // 2, w // 2)
        prev = self.stages[-1] if self.stages else None
        if prev is not None and prev.kind == "conv2d" and prev.pool is None:
            prev.pool = mode
            prev.out_shape = out
            prev.sources.append(where)
        else:
            st = Stage(f"{mode}pool", str(self._name), self.shape, out)
            st.sources.append(where)
            self.stages.append(st)
        self.shape = out
        self.bn_ok = False

    def flatten(self, where: str, start_dim=1, end_dim=-1):
        if start_dim != 1 or end_dim not in (-1, len(self.shape)):
            raise LayerNotSupported(
                f"{where} with start_dim={start_dim}, end_dim={end_dim}: only flattening "
                "everything but the batch axis (start_dim=1) is supported"
            )
        self.shape = (int(np.prod(self.shape)),)
        self.bn_ok = False

    def view(self, node, where: str):
        shape = list(node.args[1:])
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = list(shape[0])
        n = int(np.prod(self.shape))
        batch_ok = bool(shape) and (shape[0] == -1 or self.size_nodes.get(shape[0]) == ("size", 0))
        rest = shape[1:]
        if batch_ok and len(rest) == 1 and (rest[0] == -1 and shape[0] != -1 or rest[0] == n):
            self.flatten(where)
            return
        if batch_ok and tuple(rest) == tuple(self.shape):
            return  # a no-op reshape
        raise LayerNotSupported(
            f"{where}: reshape to {tuple(shape)} is not a flatten of the {self.shape} map; use "
            "torch.flatten(x, 1) or x.view(x.size(0), -1)"
        )

    def linear(self, mod, where: str):
        if len(self.shape) != 1:
            raise LayerNotSupported(
                f"{where} on a {self.shape} map: flatten it first (nn.Flatten() or torch.flatten(x, 1))"
            )
        if mod.in_features != self.shape[0]:
            raise LayerNotSupported(
                f"{where}: expects {mod.in_features} input features, gets {self.shape[0]}"
            )
        torch = self.torch
        weight = mod.weight.detach().cpu().to(torch.float32).clone()
        bias = (
            mod.bias.detach().cpu().to(torch.float32).clone()
            if mod.bias is not None
            else torch.zeros(mod.out_features)
        )
        st = Stage("linear", str(self._name), self.shape, (mod.out_features,), weight, bias)
        st.sources.append(where)
        self.stages.append(st)
        self.shape = st.out_shape
        self.bn_ok, self.nonneg = False, False

    # ------------------------------------------------------------ the walk
    def run(self) -> list:
        for node in self.gm.graph.nodes:
            self._name = node.target if node.op == "call_module" else node.name
            if node.op == "placeholder":
                if self.cur is not None:
                    raise LayerNotSupported(
                        f"input {node.name}: the model takes several inputs; the engine runs "
                        "one image tensor in, one tensor out"
                    )
                self.cur = node
                continue
            if node.op == "output":
                if node.args[0] is not self.cur:
                    raise LayerNotSupported(
                        f"output: the model returns {node.args[0]!r}, not the output of its last "
                        "layer alone (tuples, dicts and skip connections are not supported)"
                    )
                continue
            if node.op == "get_attr":
                raise LayerNotSupported(
                    f"{node.target}: the forward uses a parameter or buffer directly; weights must "
                    f"live in supported layers ({SUPPORTED})"
                )
            if node.op == "call_module":
                self._module(node)
            else:
                self._function(node)
            if node not in self.size_nodes:
                self.cur = node
        if not any(st.has_weights for st in self.stages):
            raise LayerNotSupported("the model has no Conv2d or Linear layer: nothing for the engine to run")
        return self.stages

    def _module(self, node):
        nn = self.nn
        mod = self.gm.get_submodule(node.target)
        tname = type(mod).__name__
        where = f"{node.target}: {tname}"
        self._input(node, where)
        if type(mod) is nn.Conv2d:
            self.conv(mod, where)
        elif type(mod) is nn.BatchNorm2d:
            self.batchnorm(mod, where)
        elif type(mod) is nn.ReLU:
            self.relu(where)
        elif type(mod) is nn.MaxPool2d:
            extra = "return_indices=True" if mod.return_indices else ""
            self.pool(
                "max", mod.kernel_size, mod.stride, mod.padding, where, mod.dilation, mod.ceil_mode, extra
            )
        elif type(mod) is nn.AvgPool2d:
            extra = (
                f"divisor_override={mod.divisor_override}" if mod.divisor_override not in (None, 4) else ""
            )
            self.pool("avg", mod.kernel_size, mod.stride, mod.padding, where, 1, mod.ceil_mode, extra)
        elif type(mod) is nn.Flatten:
            self.flatten(where, mod.start_dim, mod.end_dim)
        elif type(mod) is nn.Linear:
            self.linear(mod, where)
        elif type(mod) in (nn.Dropout, nn.Dropout2d, nn.Identity):
            pass  # inference: identity
        else:
            why = "the engine has no such op"
            if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm3d)):
                why = "only BatchNorm2d right after a Conv2d is folded"
            raise LayerNotSupported(f"{where}: {why} (supported: {SUPPORTED})")

    def _function(self, node):
        torch, F = self.torch, self.F
        target = node.target
        where = f"{node.name}: {_fn_name(target)}"
        # Integer bookkeeping on the chain tensor's shape: x.size(0), x.shape[0].
        if node.op == "call_method" and target == "size":
            dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
            self.size_nodes[node] = ("shape",) if dim is None else ("size", int(dim))
            return
        if node.op == "call_function" and target is getattr and node.args[1:] == ("shape",):
            self.size_nodes[node] = ("shape",)
            return
        if node.op == "call_function" and target is operator.getitem and node.args[0] in self.size_nodes:
            if self.size_nodes[node.args[0]] == ("shape",) and isinstance(node.args[1], int):
                self.size_nodes[node] = ("size", node.args[1])
                return
        if target in self.add_fns:
            raise LayerNotSupported(
                f"{where}: residual additions and concatenations are not supported yet (the engine "
                "has no ADD op)"
            )
        self._input(node, where)
        kw = dict(node.kwargs)
        args = list(node.args[1:])
        if (node.op == "call_function" and target in self.relu_fns) or target in ("relu", "relu_"):
            self.relu(where)
        elif node.op == "call_function" and target in self.dropout_fns or target in ("contiguous",):
            pass
        elif target is torch.flatten or target == "flatten":
            names = ("start_dim", "end_dim")
            p = {"start_dim": 0, "end_dim": -1, **dict(zip(names, args)), **kw}
            self.flatten(where, p["start_dim"], p["end_dim"])
        elif target in ("view", "reshape") or target is torch.reshape:
            self.view(node, where)
        elif target is F.max_pool2d or target is torch.max_pool2d:
            names = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
            p = {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False, "return_indices": False}
            p.update(dict(zip(names, args)), **kw)
            extra = "return_indices=True" if p["return_indices"] else ""
            self.pool(
                "max",
                p["kernel_size"],
                p["stride"],
                p["padding"],
                where,
                p["dilation"],
                p["ceil_mode"],
                extra,
            )
        elif target is F.avg_pool2d:
            names = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
            p = {"stride": None, "padding": 0, "ceil_mode": False, "divisor_override": None}
            p.update(dict(zip(names, args)), **kw)
            d = p["divisor_override"]
            extra = f"divisor_override={d}" if d not in (None, 4) else ""
            self.pool("avg", p["kernel_size"], p["stride"], p["padding"], where, 1, p["ceil_mode"], extra)
        else:
            raise LayerNotSupported(f"{where}: function not supported by the engine (supported: {SUPPORTED})")


def lower(model, input_shape) -> list:
    """Trace ``model`` and return its chain of :class:`Stage` objects (float, BN folded).

    Parameters
    ----------
    model : torch.nn.Module
        An ``nn.Sequential`` or a module whose forward ``torch.fx`` can trace.
    input_shape : tuple of int
        (C, H, W) of one input image.

    Raises
    ------
    LayerNotSupported
        Naming the layer (module path and type, or the traced function) and the reason.
    """
    import torch.fx as fx

    try:
        gm = fx.symbolic_trace(model)
    except Exception as e:  # fx raises many kinds (TraceError, TypeError, ...)
        raise LayerNotSupported(
            f"{type(model).__name__}: torch.fx cannot trace its forward ({type(e).__name__}: {e}); "
            "write it as nn.Sequential or a forward without data-dependent control flow"
        ) from e
    if len(tuple(input_shape)) != 3:
        raise LayerNotSupported(f"input shape {tuple(input_shape)}: the engine takes (C, H, W) images")
    return _Lowering(gm, input_shape).run()


# ----------------------------------------------------------------------------- calibration


def float_forward(stages: list, images, collect: bool = False):
    """Run the folded float stages (torch, float32) on a batch; the pre-pool outputs too.

    Returns the final output, or with ``collect`` a list with, per stage, its output (after
    ReLU and pooling) and, for stages with a fused pool, the map before the pool.
    """
    import torch
    import torch.nn.functional as F

    x = (
        torch.as_tensor(np.asarray(images, dtype=np.float32))
        if not torch.is_tensor(images)
        else images.float()
    )
    outs = []
    for st in stages:
        pre = None
        if st.kind == "conv2d":
            x = F.conv2d(x, st.weight, st.bias, st.stride, st.padding)
        elif st.kind == "linear":
            x = F.linear(x.reshape(x.shape[0], -1), st.weight, st.bias)
        if st.relu:
            x = F.relu(x)
        pool = st.pool or {"maxpool": "max", "avgpool": "avg"}.get(st.kind)
        if pool:
            pre = x
            x = F.max_pool2d(x, 2) if pool == "max" else F.avg_pool2d(x, 2)
        outs.append((x, pre))
    return outs if collect else x


def calibrate(
    stages: list, calibration, *, activation: str = "max", percentile: float = 99.99, batch_size=256
):
    """Pick the input scale and the output scale of every conv/linear stage.

    Parameters
    ----------
    stages : list of Stage
    calibration : array-like, float (N, C, H, W)
        Images like those the network will see (training images, never the held-out ones).
    activation : {"max", "percentile"}
        ``"max"``: scale = max |a| / 127 over the calibration set, so nothing clips.
        ``"percentile"``: scale = the ``percentile``-th percentile of |a| / 127; larger
        values clip, in exchange for a finer step.

    Returns
    -------
    input_scale : float
    scales : list of (float or None)
        Per stage: the scale of its int8 output (None for standalone pools, which keep
        their input's scale).
    """
    import torch

    if activation not in ACT_METHODS:
        raise ValueError(f"activation must be one of {ACT_METHODS}, got {activation!r}")
    x = _as_numpy_images(calibration)
    if x.ndim != 4 or len(x) == 0:
        raise ValueError(f"calibration images must be a non-empty (N, C, H, W) batch, got shape {x.shape}")

    def stat(values: list) -> float:
        a = np.concatenate([np.abs(v.reshape(-1)) for v in values])
        v = float(a.max()) if activation == "max" else float(np.percentile(a, percentile))
        return v / 127.0 if v > 0 else 1.0

    input_scale = float(np.abs(x).max()) / 127.0 or 1.0
    collected = [[] for _ in stages]
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            outs = float_forward(stages, torch.from_numpy(x[i : i + batch_size]), collect=True)
            for j, (out, pre) in enumerate(outs):
                if not stages[j].has_weights:
                    continue  # a standalone pool keeps its input's scale
                a = pre if pre is not None else out
                collected[j].append(
                    a.numpy() if activation == "percentile" else np.abs(a.numpy()).max(keepdims=True)
                )
    scales = [stat(c) if st.has_weights else None for st, c in zip(stages, collected)]
    return input_scale, scales


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
    s_w = weight_scales(w)
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
    )


def int32_output(stages: list) -> bool:
    """True when the last stage can return int32 accumulators (conv/linear, no ReLU or pool)."""
    last = stages[-1]
    return last.has_weights and not last.relu and last.pool is None


def layer_scales(stages: list, input_scale: float, scales: list) -> list:
    """Per stage, ``(s_in, s_out)`` of its int8 input and output (``s_out`` None for the
    int32 outputs of the last layer); ``None`` for standalone pools, which keep their
    input's scale."""
    out = []
    s_in = float(input_scale)
    int32_out = int32_output(stages)
    for i, st in enumerate(stages):
        if not st.has_weights:
            out.append(None)
            continue
        s_out = None if (i == len(stages) - 1 and int32_out) else float(scales[i])
        out.append((s_in, s_out))
        s_in = s_out if s_out is not None else s_in
    return out


def quantize(
    stages: list, input_scale: float, scales: list, *, input_shape=None, name: str = "", meta=None
) -> Program:
    """Stages plus scales (from :func:`calibrate`) to a checked :class:`Program`."""
    ops = [
        quantize_stage(st, *io) if io is not None else Op(kind=st.kind, name=st.name)
        for st, io in zip(stages, layer_scales(stages, input_scale, scales))
    ]
    shape = tuple(input_shape) if input_shape is not None else tuple(stages[0].in_shape)
    prog = Program(
        input_shape=shape, input_scale=float(input_scale), ops=ops, name=name, meta=dict(meta or {})
    )
    return prog.check()


def _as_numpy_images(images) -> np.ndarray:
    if hasattr(images, "detach"):
        images = images.detach().cpu().numpy()
    return np.asarray(images, dtype=np.float32)


def compile(
    model,
    calibration=None,
    *,
    name: str = "",
    input_shape=None,
    activation: str = "max",
    percentile: float = 99.99,
) -> Program:
    """Compile a PyTorch CNN into an int8 :class:`rtlcnn.Program`.

    Parameters
    ----------
    model : torch.nn.Module
        Built from Conv2d, BatchNorm2d, ReLU, MaxPool2d(2), AvgPool2d(2), Flatten,
        Linear and Dropout, as an ``nn.Sequential`` or with a forward that ``torch.fx``
        can trace; or a model from :func:`rtlcnn.qat.prepare` (then its own scales are
        used and ``calibration`` may be None).
    calibration : array-like or torch.Tensor, float (N, C, H, W)
        A few hundred to a few thousand training images (never the test images). They
        fix the activation scales.
    name : str
        The program's name.
    input_shape : tuple of int, optional
        (C, H, W); default ``calibration.shape[1:]``.
    activation : {"max", "percentile"}
        How activation scales are picked, see :func:`calibrate`.
    percentile : float
        The percentile for ``activation="percentile"``.

    Returns
    -------
    Program
        Checked, with ``meta["compiler"]`` recording the calibration settings.

    Raises
    ------
    LayerNotSupported
        A layer the engine cannot run, named with its module path and type and the reason;
        or a layer whose int32 accumulator could overflow.
    """
    from . import qat

    if isinstance(model, qat.QATModel):
        return qat.convert(model, name=name)
    if calibration is None:
        raise ValueError("compile needs calibration images (a float (N, C, H, W) batch of training images)")
    x = _as_numpy_images(calibration)
    if input_shape is None:
        if x.ndim != 4:
            raise ValueError(f"calibration images must be (N, C, H, W), got shape {x.shape}")
        input_shape = x.shape[1:]
    input_shape = tuple(int(v) for v in input_shape)
    if x.shape[1:] != input_shape:
        raise ValueError(f"calibration images have shape {x.shape[1:]}, the model input is {input_shape}")
    stages = lower(model, input_shape)
    input_scale, scales = calibrate(stages, x, activation=activation, percentile=percentile)
    meta = {
        "compiler": {
            "activation": activation,
            **({"percentile": percentile} if activation == "percentile" else {}),
            "calibration_images": int(len(x)),
            "source": [s for st in stages for s in st.sources],
        }
    }
    return quantize(stages, input_scale, scales, input_shape=input_shape, name=name, meta=meta)
