"""PyTorch model -> chain of float :class:`Stage` objects (step 1 of ``rtlcnn.compile``).

:func:`lower` traces the model with ``torch.fx`` and turns it into the ops the engine
runs, with BatchNorm folded into the conv, ReLU and 2x2 pooling fused into the conv
before them, and Dropout dropped. Anything the engine cannot run raises
:class:`rtlcnn.LayerNotSupported` naming the layer. :func:`float_forward` runs the folded
float stages. torch is imported inside the functions.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from ..core.errors import LayerNotSupported
from ..core.program import MAX_KERNEL

__all__ = ["Stage", "lower", "float_forward", "SUPPORTED"]

#: What the compiler accepts, for error messages and docs.
SUPPORTED = (
    "Conv2d (square kernel 1..7, stride 1 or 2, symmetric zero padding, groups=1, dilation=1), "
    "BatchNorm2d right after a Conv2d, ReLU, MaxPool2d(2), AvgPool2d(2), Flatten, Linear, "
    "Dropout"
)


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
