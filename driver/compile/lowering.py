"""PyTorch model -> graph of float :class:`Stage` objects (step 1 of ``rtlcnn.compile``).

:func:`lower` traces the model with ``torch.fx`` and turns it into the ops of a program:
convolutions (grouped and depthwise too), linear layers, residual adds, channel
concatenations and pools, with BatchNorm folded into the conv or linear before it,
ReLU / ReLU6 / Hardtanh / clamp fused into the op before them as saturation bounds, 2x2
pools fused into the conv before them, and Dropout dropped. A constant input normalization
at the start of ``forward`` (``(x - mean) / std``) and a softmax or log_softmax at its end
are recorded (:class:`Lowered`), not run as ops. Anything else raises
:class:`rtlcnn.LayerNotSupported` naming the layer by its qualified module name, saying why
and what to write instead. torch is imported inside the functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..core.errors import LayerNotSupported
from .lowering_ops import BATCH, SUPPORTED, Ref, dispatch
from .stages import Stage, float_forward  # float_forward: re-exported for callers

__all__ = ["Stage", "Lowered", "lower", "lower_graph", "float_forward", "SUPPORTED"]

@dataclass
class Lowered:
    """What :func:`lower_graph` makes of a model: the stages, the input normalization
    (mean, std) found at the start of ``forward`` (None if none), the softmax/log_softmax at
    its end (None if none)."""

    stages: list
    input_norm: Optional[tuple] = None
    output_fn: Optional[str] = None
    notes: list = field(default_factory=list)


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


def _is_meta(node) -> bool:
    """A node that only reads a tensor's shape (x.size(), x.shape, x.dim())."""
    return (node.op == "call_method" and node.target in ("size", "dim")) or (
        node.op == "call_function" and node.target is getattr and node.args[1:] in (("shape",), ("ndim",)))


def _users(node) -> int:
    return sum(1 for u in node.users if not _is_meta(u))


class _Lowering:
    def __init__(self, gm, input_shape: tuple):
        import torch
        import torch.nn as nn
        import torch.nn.functional as F

        self.torch, self.nn, self.F = torch, nn, F
        self.gm = gm
        self.in_shape = tuple(int(v) for v in input_shape)
        self.stages: list = []
        self.by_name: dict = {}
        self.in_refs: dict = {}  # stage name -> its input Refs
        self.vals: dict = {}  # fx node -> Ref or a constant (number, tuple, tensor, BATCH)
        self.input_affine = None  # the normalization of the input the stages consume
        self.input_used = False
        self.output_fn = None
        self.root_seq = isinstance(gm, nn.Sequential) or type(getattr(gm, "_orig", None)) is nn.Sequential

    # ------------------------------------------------------------ names and messages
    def where(self, node) -> str:
        if node.op == "call_module":
            mod = self.gm.get_submodule(node.target)
            return f"{node.target}: {type(mod).__name__}"
        stack = node.meta.get("nn_module_stack") or {}
        inside = list(stack)[-1] if stack else ""
        what = _fn_name(node.target) if node.op != "call_method" else f"Tensor.{node.target}"
        return f"{node.name}: {what}{f' (in {inside})' if inside else ''}"

    def _new_name(self, node) -> str:
        base = str(node.target) if node.op == "call_module" else node.name
        base = base if base != "input" else "input_"
        name, i = base, 1
        while name in self.by_name:
            name, i = f"{base}_{i}", i + 1
        return name

    def add_stage(self, st: Stage, node, refs: list) -> Ref:
        st.name = self._new_name(node)
        prev = self.stages[-1].name if self.stages else "input"
        # reading the stage before it: the chain default (no explicit inputs), as in version-1 programs
        st.inputs = [] if [r.src for r in refs] == [prev] else [r.src for r in refs]
        for r in refs:
            if r.src == "input":
                self._use_input(r, node)
        self.stages.append(st)
        self.by_name[st.name] = st
        self.in_refs[st.name] = list(refs)
        st.sources.append(self.where(node))
        return Ref(st.name, tuple(st.out_shape), (node,))

    def _use_input(self, ref: Ref, node):
        if self.input_used and ref.affine != self.input_affine:
            raise LayerNotSupported(f"{self.where(node)}: the forward uses the input both as it comes and "
                                    "normalized; normalize it once, at the start of forward")
        self.input_used, self.input_affine = True, ref.affine

    # ------------------------------------------------------------ fusion helpers
    def single_use(self, ref: Ref) -> bool:
        return all(_users(n) == 1 for n in ref.nodes)

    def act_targets(self, ref: Ref, where: str) -> list:
        """The stages an activation on ``ref`` folds into (through max pools and concats)."""
        if ref.src == "input":
            raise LayerNotSupported(f"{where} on the network input: the engine has no standalone "
                                    "activation; put it after a Conv2d, Linear or add")
        if not self.single_use(ref):
            raise LayerNotSupported(f"{where}: its input is also used without the activation; the "
                                    "engine applies activations inside the op before them. Apply it "
                                    "once, to every use")
        st = self.by_name[ref.src]
        if st.kind in ("conv2d", "linear", "add"):
            if st.pool == "avg":
                raise LayerNotSupported(f"{where} after an average pool: the engine applies activations "
                                        "before pooling, and the two do not commute for averages; put the "
                                        "activation before the pool")
            return [st]
        if st.kind == "maxpool" or st.kind == "concat":
            return [t for r in self.in_refs[st.name] for t in self.act_targets(r, where)]
        raise LayerNotSupported(f"{where} after {st.kind} {st.name!r}: the engine has no standalone "
                                "activation; put it before the pool (activations commute with max pooling)")

    def activation(self, node, ref: Ref, lo: float, hi: float) -> Ref:
        where = self.where(node)
        if lo > hi:
            raise LayerNotSupported(f"{where}: clamp bounds ({lo}, {hi}) are empty")
        for st in self.act_targets(ref, where):
            st.set_act(lo, hi)
            st.sources.append(where)
        return Ref(ref.src, ref.shape, ref.nodes + (node,))

    # ------------------------------------------------------------ layers
    def _map(self, ref: Ref, where: str):
        if len(ref.shape) != 3:
            raise LayerNotSupported(f"{where}: needs a (C, H, W) feature map but gets a flat vector of "
                                    f"{ref.shape[0]}; convolutions and pools must come before the Flatten "
                                    "(nn.Flatten, torch.flatten, view)")
        return ref.shape

    def conv(self, node, mod, ref: Ref) -> Ref:
        where = self.where(node)
        c, h, w = self._map(ref, where)
        kh, kw = _pair(mod.kernel_size, "kernel_size", where)
        sh, sw = _pair(mod.stride, "stride", where)
        if _pair(mod.dilation, "dilation", where) != (1, 1):
            raise LayerNotSupported(f"{where} with dilation={mod.dilation}: the engine runs dilation=1 only; "
                                    "use a larger kernel or a strided conv")
        if kh != kw:
            raise LayerNotSupported(f"{where} with kernel_size=({kh}, {kw}): the engine runs square kernels "
                                    "only; use a square kernel (e.g. pad the weights with zeros)")
        if sh != sw:
            raise LayerNotSupported(f"{where} with stride={mod.stride}: the stride must be the same "
                                    "both ways")
        if mod.padding_mode != "zeros":
            raise LayerNotSupported(f"{where} with padding_mode={mod.padding_mode!r}: the engine pads with "
                                    "zeros only (padding_mode='zeros')")
        if isinstance(mod.padding, str):
            if mod.padding == "valid":
                pad = 0
            elif mod.padding == "same" and kh % 2 == 1 and sh == 1:
                pad = (kh - 1) // 2
            else:
                raise LayerNotSupported(f"{where} with padding={mod.padding!r} and kernel {kh}: the engine "
                                        "needs symmetric padding; give padding as a number")
        else:
            ph, pw = _pair(mod.padding, "padding", where)
            if ph != pw:
                raise LayerNotSupported(f"{where} with padding=({ph}, {pw}): the engine pads the same on "
                                        "all sides")
            pad = ph
        if pad >= kh:
            raise LayerNotSupported(f"{where} with padding={pad} and kernel {kh}: padding must be smaller "
                                    "than the kernel")
        if mod.in_channels != c:
            raise LayerNotSupported(f"{where}: expects {mod.in_channels} input channels, gets {c}")
        oh, ow = (h + 2 * pad - kh) // sh + 1, (w + 2 * pad - kw) // sw + 1
        if oh < 1 or ow < 1:
            raise LayerNotSupported(f"{where}: a {h}x{w} input gives an empty output")
        torch = self.torch
        weight = mod.weight.detach().cpu().to(torch.float32).clone()
        bias = (mod.bias.detach().cpu().to(torch.float32).clone() if mod.bias is not None
                else torch.zeros(mod.out_channels))
        st = Stage("conv2d", "", (c, h, w), (mod.out_channels, oh, ow), weight, bias, sh, pad,
                   groups=int(mod.groups))
        return self.add_stage(st, node, [ref])

    def linear(self, node, mod, ref: Ref) -> Ref:
        where = self.where(node)
        if len(ref.shape) != 1:
            raise LayerNotSupported(f"{where} on a {ref.shape} map: flatten it first (nn.Flatten() or "
                                    "torch.flatten(x, 1))")
        if mod.in_features != ref.shape[0]:
            raise LayerNotSupported(f"{where}: expects {mod.in_features} input features, gets {ref.shape[0]}")
        torch = self.torch
        weight = mod.weight.detach().cpu().to(torch.float32).clone()
        bias = (mod.bias.detach().cpu().to(torch.float32).clone() if mod.bias is not None
                else torch.zeros(mod.out_features))
        st = Stage("linear", "", ref.shape, (mod.out_features,), weight, bias)
        return self.add_stage(st, node, [ref])

    def batchnorm(self, node, mod, ref: Ref, kind: str) -> Ref:
        where = self.where(node)
        st = self.by_name.get(ref.src)
        if (st is None or st.kind != kind or st.bounded or st.pool or not self.single_use(ref)
                or (kind == "linear" and len(ref.shape) != 1)):
            after = "the input" if st is None else f"{st.kind} {st.name!r}"
            need = "Conv2d" if kind == "conv2d" else "Linear"
            raise LayerNotSupported(f"{where}: a {type(mod).__name__} is folded into the {need} right before "
                                    f"it, with nothing in between and no other use of the {need}'s output; "
                                    f"here it follows {after}")
        if mod.running_mean is None or mod.running_var is None:
            raise LayerNotSupported(f"{where} without running statistics (track_running_stats=False): "
                                    "nothing to fold for inference")
        torch = self.torch
        var = mod.running_var.detach().cpu().to(torch.float64)
        mean = mod.running_mean.detach().cpu().to(torch.float64)
        scale = 1.0 / torch.sqrt(var + mod.eps)
        if mod.affine:
            scale = scale * mod.weight.detach().cpu().to(torch.float64)
        shift = -mean * scale
        if mod.affine:
            shift = shift + mod.bias.detach().cpu().to(torch.float64)
        shape = (-1,) + (1,) * (st.weight.ndim - 1)
        st.weight = (st.weight.to(torch.float64) * scale.reshape(shape)).to(torch.float32)
        st.bias = (st.bias.to(torch.float64) * scale + shift).to(torch.float32)
        st.sources.append(where)
        return Ref(ref.src, ref.shape, ref.nodes + (node,))

    def pool(self, node, ref: Ref, mode: str, kernel, stride=None, padding=0, dilation=1, ceil_mode=False,
             count_include_pad=True, divisor_override=None, return_indices=False) -> Ref:
        where = self.where(node)
        c, h, w = self._map(ref, where)
        if return_indices:
            raise LayerNotSupported(f"{where} with return_indices=True: the engine returns values only")
        if divisor_override is not None:
            raise LayerNotSupported(f"{where} with divisor_override={divisor_override}: the engine divides "
                                    "by the window size")
        if _pair(dilation, "dilation", where) != (1, 1):
            raise LayerNotSupported(f"{where} with dilation={dilation}: the engine pools without dilation")
        k = _pair(kernel, "kernel_size", where)
        s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else \
            _pair(stride, "stride", where)
        p = _pair(padding, "padding", where)
        if k[0] != k[1] or s[0] != s[1] or p[0] != p[1]:
            raise LayerNotSupported(f"{where} with kernel {kernel}, stride {stride}, padding {padding}: the "
                                    "engine pools with square windows, the same stride and padding both ways")
        k, s, p = k[0], s[0], p[0]
        if p > k // 2:
            raise LayerNotSupported(f"{where}: padding {p} is more than half the kernel {k}")
        if k == h == w and p == 0 and mode == "avg":
            return self.global_pool(node, ref)
        oh, ow = (_pool_out(n, k, s, p, ceil_mode) for n in (h, w))
        if oh < 1 or ow < 1:
            raise LayerNotSupported(f"{where}: a {h}x{w} map is too small for a {k}x{k} pool")
        src = self.by_name.get(ref.src)
        if ((k, s, p) == (2, 2, 0) and not ceil_mode and src is not None and src.kind == "conv2d"
                and src.pool is None and self.single_use(ref)):
            src.pool = mode
            src.out_shape = (c, h // 2, w // 2)
            src.sources.append(where)
            return Ref(ref.src, src.out_shape, ref.nodes + (node,))
        st = Stage(f"{mode}pool", "", (c, h, w), (c, oh, ow), pool_kernel=k, pool_stride=s, pool_padding=p,
                   ceil_mode=bool(ceil_mode), count_include_pad=bool(count_include_pad))
        return self.add_stage(st, node, [ref])

    def global_pool(self, node, ref: Ref, keepdim: bool = True) -> Ref:
        c, h, w = self._map(ref, self.where(node))
        out = self.add_stage(Stage("globalavgpool", "", (c, h, w), (c, 1, 1)), node, [ref])
        return out if keepdim else Ref(out.src, (c,), out.nodes)

    def adaptive_pool(self, node, ref: Ref, size, mode: str) -> Ref:
        where = self.where(node)
        c, h, w = self._map(ref, where)
        oh, ow = _pair(size, "output_size", where) if size is not None else (h, w)
        if (oh, ow) == (h, w):
            return Ref(ref.src, ref.shape, ref.nodes + (node,))  # identity
        if (oh, ow) == (1, 1) and mode == "avg":
            return self.global_pool(node, ref)
        if h % oh or w % ow or h // oh != w // ow:
            raise LayerNotSupported(f"{where}: an adaptive pool from {h}x{w} to {oh}x{ow} has uneven "
                                    "windows; the engine needs the output to divide the input evenly "
                                    "(or 1x1)")
        k = h // oh
        return self.pool(node, ref, mode, k, k, 0)

    def add(self, node, a: Ref, b: Ref) -> Ref:
        where = self.where(node)
        if a.shape != b.shape:
            raise LayerNotSupported(f"{where}: adds tensors of shapes {a.shape} and {b.shape}; the "
                                    "engine adds tensors of the same shape only (no broadcasting)")
        st = Stage("add", "", a.shape, a.shape)
        return self.add_stage(st, node, [a, b])

    def concat(self, node, refs: list, dim) -> Ref:
        where = self.where(node)
        if len(refs) == 1:
            return refs[0]
        shapes = [r.shape for r in refs]
        if any(len(s) != 3 for s in shapes) or dim not in (1, -3):
            raise LayerNotSupported(f"{where}: concatenates along dim {dim} of {shapes}; the engine "
                                    "concatenates (C, H, W) maps along channels (dim=1)")
        if len({s[1:] for s in shapes}) != 1:
            raise LayerNotSupported(f"{where}: the maps {shapes} differ in height or width")
        out = (sum(s[0] for s in shapes),) + shapes[0][1:]
        return self.add_stage(Stage("concat", "", shapes[0], out), node, refs)

    def identity_conv(self, node, ref: Ref, stride: int, pad_before: int = 0, pad_after: int = 0) -> Ref:
        """An exact copy as a 1x1 conv: strided subsample and/or zero channels around it."""
        torch = self.torch
        c, h, w = self._map(ref, self.where(node))
        src = self.by_name.get(ref.src)
        if (src is not None and src.identity and self.single_use(ref) and stride == 1):
            old = src.weight
            wt = torch.zeros(pad_before + old.shape[0] + pad_after, old.shape[1], 1, 1)
            wt[pad_before:pad_before + old.shape[0]] = old
            src.weight, src.bias = wt, torch.zeros(wt.shape[0])
            src.out_shape = (wt.shape[0],) + tuple(src.out_shape[1:])
            src.sources.append(self.where(node))
            return Ref(src.name, src.out_shape, ref.nodes + (node,))
        o = pad_before + c + pad_after
        wt = torch.zeros(o, c, 1, 1)
        for i in range(c):
            wt[pad_before + i, i, 0, 0] = 1.0
        oh, ow = (h - 1) // stride + 1, (w - 1) // stride + 1
        st = Stage("conv2d", "", (c, h, w), (o, oh, ow), wt, torch.zeros(o), stride, 0, identity=True)
        return self.add_stage(st, node, [ref])

    def flatten(self, node, ref: Ref, start_dim=1, end_dim=-1) -> Ref:
        if start_dim != 1 or end_dim not in (-1, len(ref.shape)):
            raise LayerNotSupported(f"{self.where(node)} with start_dim={start_dim}, end_dim={end_dim}: only "
                                    "flattening everything but the batch axis (start_dim=1) is supported")
        return Ref(ref.src, (int(np.prod(ref.shape)),), ref.nodes + (node,), ref.affine)

    def reshape(self, node, ref: Ref, shape) -> Ref:
        shape = list(shape)
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = list(shape[0])
        n = int(np.prod(ref.shape))
        batch_ok = bool(shape) and (shape[0] is BATCH or shape[0] == -1)
        rest = shape[1:]
        if batch_ok and len(rest) == 1 and (rest[0] == n or (rest[0] == -1 and shape[0] is BATCH)):
            return self.flatten(node, ref)
        if batch_ok and tuple(rest) == tuple(ref.shape):
            return Ref(ref.src, ref.shape, ref.nodes + (node,), ref.affine)
        if batch_ok and len(rest) == 3 and int(np.prod(rest)) == n and len(ref.shape) == 1 and \
                self.by_name.get(ref.src) is not None and self.by_name[ref.src].kind == "globalavgpool":
            return Ref(ref.src, tuple(int(v) for v in rest), ref.nodes + (node,))
        raise LayerNotSupported(f"{self.where(node)}: reshape to {tuple(shape)} is not a flatten of the "
                                f"{ref.shape} map; use torch.flatten(x, 1) or x.view(x.size(0), -1)")

    # ------------------------------------------------------------ input normalization
    def affine(self, node, ref: Ref, op: str, const) -> Ref:
        """(x - m), (x + m), x * s, x / s with a constant, on the not yet used network input."""
        where = self.where(node)
        if ref.src != "input" or self.input_used:
            named = [str(a.target) for a in node.all_input_nodes if a.op == "get_attr"]
            what = f"the parameter or buffer {', '.join(named)}" if named else "a constant"
            raise LayerNotSupported(f"{where}: arithmetic with {what} is only supported as the input "
                                    "normalization at the start of forward ((x - mean) / std); fold "
                                    "scales into the layer before (its weights and bias)")
        c = self.in_shape[0]
        v = const.detach().cpu().double().numpy() if hasattr(const, "detach") else const
        v = np.asarray(v, np.float64)
        if v.size == 1:
            v = np.full(c, float(v.reshape(-1)[0]))
        elif v.size == c and (v.ndim <= 1 or v.shape[-3:] in ((c, 1, 1),) or v.reshape(-1).size == c and
                              v.ndim >= 3 and v.shape[-3] == c):
            v = v.reshape(-1)
        else:
            raise LayerNotSupported(f"{where}: the constant of shape {v.shape} is not one value or one per "
                                    f"input channel (shape ({c}, 1, 1))")
        a, b = ref.affine if ref.affine is not None else (np.ones(c), np.zeros(c))
        if op == "sub":
            b = b - v
        elif op == "add":
            b = b + v
        elif op in ("mul", "div"):
            if op == "div" and np.any(v == 0):
                raise LayerNotSupported(f"{where}: divides the input by zero")
            f = v if op == "mul" else 1.0 / v
            if np.any(f <= 0):
                raise LayerNotSupported(f"{where}: scales the input by a value <= 0; a normalization divides "
                                        "by a positive std")
            a, b = a * f, b * f
        return Ref("input", ref.shape, ref.nodes + (node,), (a, b))

    # ------------------------------------------------------------ the walk
    def run(self) -> Lowered:
        import torch.fx as fx

        out_ref = None
        for node in self.gm.graph.nodes:
            try:
                if node.op == "placeholder":
                    if any(isinstance(v, Ref) for v in self.vals.values()):
                        raise LayerNotSupported(f"input {node.name}: the model takes several inputs; the "
                                                "engine runs one image tensor in, one tensor out")
                    self.vals[node] = Ref("input", self.in_shape, (node,))
                elif node.op == "get_attr":
                    self.vals[node] = _attr(self.gm, node.target)
                elif node.op == "output":
                    out_ref = self.vals.get(node.args[0]) if isinstance(node.args[0], fx.Node) else None
                    if not isinstance(out_ref, Ref):
                        raise LayerNotSupported(f"output: the model returns {node.args[0]!r}; the engine "
                                                "returns one tensor (no tuples, dicts or constants)")
                else:
                    self.vals[node] = self.node(node)
            except LayerNotSupported:
                raise
            except Exception as e:  # a model construct this walk did not foresee
                raise LayerNotSupported(f"{self.where(node) if node.op != 'output' else 'output'}: the "
                                        f"compiler cannot lower it ({type(e).__name__}: {e}); supported: "
                                        f"{SUPPORTED}") from e
        if out_ref.src == "input":
            raise LayerNotSupported("the model returns its input (or a function of it alone): nothing "
                                    "for the engine to run")
        stages = _reachable(self.stages, out_ref.src)
        if not any(st.has_weights for st in stages):
            raise LayerNotSupported("the model has no Conv2d or Linear layer: nothing for the engine to run")
        norm = None
        if self.input_affine is not None:
            a, b = self.input_affine
            norm = (tuple(float(v) for v in -b / a), tuple(float(v) for v in 1.0 / a))
            if all(m == 0 for m in norm[0]) and all(s == 1 for s in norm[1]):
                norm = None
        return Lowered(stages, norm, out_ref.output_fn)

    def node(self, node):
        import torch.fx as fx

        args = fx.node.map_arg(node.args, lambda n: self.vals[n])
        kwargs = fx.node.map_arg(node.kwargs, lambda n: self.vals[n])
        refs = [v for v in list(args) + list(kwargs.values()) for v in (v if isinstance(v, (list, tuple))
                else [v]) if isinstance(v, Ref)]
        if any(r.output_fn for r in refs):
            raise LayerNotSupported(f"{self.where(node)}: uses the output of a softmax; the engine runs "
                                    "softmax / log_softmax only as the last step of forward (on the host)")
        if not refs:  # constant arithmetic and shape bookkeeping: evaluate it
            if node.op == "call_module":
                return self.gm.get_submodule(node.target)(*args, **kwargs)
            if node.op == "call_method":
                return getattr(args[0], node.target)(*args[1:], **kwargs)
            return node.target(*args, **kwargs)
        return dispatch(self, node, args, kwargs)


def _attr(gm, target: str):
    obj = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj.detach() if hasattr(obj, "detach") else obj


def _pool_out(n: int, k: int, s: int, p: int, ceil_mode: bool) -> int:
    """PyTorch's pooled size: floor or ceil of (n + 2p - k) / s, plus 1; with ceil_mode the
    last window must start inside the input or its left padding."""
    span = n + 2 * p - k
    if span < 0:
        return 0
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _reachable(stages: list, last: str) -> list:
    """The stages the output depends on, in order (unused branches dropped)."""
    reads, prev = {}, "input"
    for st in stages:
        reads[st.name] = st.inputs or [prev]
        prev = st.name
    need, todo = set(), [last]
    while todo:
        n = todo.pop()
        if n in need or n == "input":
            continue
        need.add(n)
        todo.extend(reads[n])
    return [st for st in stages if st.name in need]


def lower_graph(model, input_shape) -> Lowered:
    """Trace ``model`` and return its float graph (:class:`Lowered`).

    Parameters
    ----------
    model : torch.nn.Module
        An ``nn.Sequential`` or a module whose forward ``torch.fx`` can trace.
    input_shape : tuple of int
        (C, H, W) of one input image.

    Raises
    ------
    LayerNotSupported
        Naming the layer (qualified module name and type, or the traced function and the
        module it is in), the reason and what to write instead.
    """
    import torch.fx as fx

    if len(tuple(input_shape)) != 3:
        raise LayerNotSupported(f"input shape {tuple(input_shape)}: the engine takes (C, H, W) images")
    try:
        gm = fx.symbolic_trace(model)
    except Exception as e:  # fx raises many kinds (TraceError, TypeError, ...)
        raise LayerNotSupported(
            f"{type(model).__name__}: torch.fx cannot trace its forward ({type(e).__name__}: {e}); "
            "write it as nn.Sequential or a forward without data-dependent control flow"
        ) from e
    was_training = model.training
    try:
        return _Lowering(gm, input_shape).run()
    finally:
        model.train(was_training)


def lower(model, input_shape) -> list:
    """The stages of :func:`lower_graph` (what the model computes between its input
    normalization and its final softmax, if any)."""
    return lower_graph(model, input_shape).stages
