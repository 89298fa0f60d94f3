"""The traced calls the compiler knows: fx nodes (modules, functions, tensor methods) to the
lowering's layer builders (:mod:`rtlcnn.compile.lowering`). torch is imported inside."""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any, Optional

from ..core.errors import LayerNotSupported

__all__ = ["dispatch", "Ref", "BATCH", "SUPPORTED"]

INF = math.inf

#: What the compiler accepts, for error messages and docs.
SUPPORTED = (
    "Conv2d (square kernel, any stride, symmetric zero padding, any groups, dilation=1), "
    "BatchNorm2d after a Conv2d and BatchNorm1d after a Linear, ReLU, ReLU6, Hardtanh, clamp, "
    "MaxPool2d / AvgPool2d (any kernel, stride, padding, ceil_mode), AdaptiveAvgPool2d whose "
    "output divides its input, global average pooling (x.mean((2, 3))), Flatten / view, Linear, "
    "residual add (a + b, torch.add), torch.cat along channels, the strided subsample "
    "x[:, :, ::s, ::s] and channel F.pad of option-A shortcuts, Dropout, a constant "
    "(x - mean) / std first and a softmax / log_softmax last"
)

_INSTEAD = {
    "SiLU": "ReLU or ReLU6 (and retrain)", "GELU": "ReLU (and retrain)",
    "LeakyReLU": "ReLU (and retrain)", "PReLU": "ReLU (and retrain)", "ELU": "ReLU (and retrain)",
    "Sigmoid": "ReLU, or leave the sigmoid to the host after predict",
    "Tanh": "Hardtanh(-1, 1) (and retrain)", "Hardswish": "ReLU6 (and retrain)",
    "Hardsigmoid": "ReLU6 (and retrain)", "Mish": "ReLU (and retrain)",
    "MultiheadAttention": "a convolutional block", "LayerNorm": "BatchNorm after a conv",
    "GroupNorm": "BatchNorm2d after the conv", "InstanceNorm2d": "BatchNorm2d after the conv",
    "Upsample": "a strided conv layout without upsampling", "ConvTranspose2d": "Conv2d",
    "LSTM": "a convolutional model", "GRU": "a convolutional model", "Embedding": "a conv input",
}


class _Batch:
    """The batch size in traced shape arithmetic (x.size(0)): unknown, never a number."""

    def __repr__(self):
        return "N"


BATCH = _Batch()


@dataclass
class Ref:
    """A tensor of the traced model: the stage that makes it ("input" for the network
    input), its per-image shape, and the fx nodes it passed through since that stage (an
    activation or BatchNorm may fold into the stage only if none of them has other users)."""

    src: str
    shape: tuple
    nodes: tuple = ()
    affine: Any = None  # input only: per-channel (a, b) with model_input = a * x + b
    output_fn: Optional[str] = None




def _bind(args, kwargs, names, defaults):
    """Positional + keyword call arguments as one dict (``names`` in positional order)."""
    out = dict(defaults)
    out.update(dict(zip(names, args)))
    out.update(kwargs)
    return out


def _one_ref(L, node, args, kwargs) -> Ref:
    refs = [v for v in list(args) + list(kwargs.values()) if isinstance(v, Ref)]
    if len(refs) != 1 or not isinstance(args[0] if args else None, Ref):
        raise LayerNotSupported(f"{L.where(node)}: takes {len(refs)} tensors; the engine runs this on one "
                                "feature map")
    return refs[0]


def _passthrough(ref: Ref, node) -> Ref:
    return Ref(ref.src, ref.shape, ref.nodes + (node,), ref.affine)


def _refuse(L, node, what: str):
    name = what.split(".")[-1]
    hint = _INSTEAD.get(name) or _INSTEAD.get(name.capitalize()) or next(
        (v for k, v in _INSTEAD.items() if k.lower() == name.lower()), None)
    instead = f"; write {hint} instead" if hint else ""
    raise LayerNotSupported(f"{L.where(node)}: {what} does not run on the engine{instead} (supported: "
                            f"{SUPPORTED})")


def _softmax(L, node, ref: Ref, dim, fn: str) -> Ref:
    if dim is None:
        raise LayerNotSupported(f"{L.where(node)}: give the {fn} a dim (dim=1)")
    ok = (1, -1) if len(ref.shape) == 1 else (1, -3)
    if dim not in ok:
        raise LayerNotSupported(f"{L.where(node)}: {fn} over dim {dim}; the host applies it over the "
                                f"classes (dim=1)")
    return Ref(ref.src, ref.shape, ref.nodes + (node,), None, fn)


def _arith(L, node, op: str, a, b, alpha=1):
    """a + b, a - b, a * b, a / b where one or both are tensors."""
    where = L.where(node)
    if isinstance(a, Ref) and isinstance(b, Ref):
        if op == "add" and alpha == 1:
            return L.add(node, a, b)
        what = {"add": f"an add with alpha={alpha}", "sub": "a subtraction of two tensors",
                "mul": "a product of two tensors (gating, attention, squeeze-and-excitation)",
                "div": "a division of two tensors"}[op]
        raise LayerNotSupported(f"{where}: {what} does not run on the engine; the engine adds two maps "
                                "(residual connections) only")
    if alpha != 1:
        raise LayerNotSupported(f"{where}: alpha={alpha} is not supported")
    if isinstance(b, Ref):  # const op tensor
        if op == "add" or op == "mul":
            a, b = b, a
        else:
            raise LayerNotSupported(f"{where}: a constant {'minus' if op == 'sub' else 'divided by'} a "
                                    "tensor is not supported; normalize as (x - mean) / std")
    return L.affine(node, a, op, b)


def _slice(L, node, ref: Ref, idx):
    """x[:, :, ::s, ::s]: the strided subsample of an option-A shortcut."""
    where = L.where(node)
    idx = idx if isinstance(idx, tuple) else (idx,)
    if len(idx) and idx[0] is Ellipsis and len(idx) == 3:
        idx = (slice(None), slice(None)) + idx[1:]
    full = slice(None, None, None)
    ok = (len(idx) == 4 and idx[0] == full and idx[1] == full
          and all(isinstance(s, slice) and s.start in (None, 0) and s.stop is None and (s.step or 1) >= 1
                  for s in idx[2:])
          and (idx[2].step or 1) == (idx[3].step or 1))
    if not ok:
        raise LayerNotSupported(f"{where}: indexing {idx!r}; the engine supports only the strided subsample "
                                "x[:, :, ::s, ::s] of a shortcut")
    s = idx[2].step or 1
    return _passthrough(ref, node) if s == 1 else L.identity_conv(node, ref, s)


def _pad(L, node, ref: Ref, pad, mode="constant", value=0.0):
    pad = tuple(int(v) for v in pad)
    if mode != "constant" or value != 0 or len(pad) != 6 or any(pad[:4]) or min(pad) < 0:
        raise LayerNotSupported(f"{L.where(node)}: F.pad({pad}, mode={mode!r}, value={value}); the engine "
                                "pads channels with zeros (an option-A shortcut: pad=(0, 0, 0, 0, p, p)); "
                                "spatial padding belongs in the next Conv2d's padding")
    return L.identity_conv(node, ref, 1, pad[4], pad[5])


def _mean(L, node, ref: Ref, dim, keepdim=False):
    dims = tuple(sorted(int(d) % 4 for d in (dim if isinstance(dim, (tuple, list)) else (dim,))))
    if dims != (2, 3) or len(ref.shape) != 3:
        raise LayerNotSupported(f"{L.where(node)}: a mean over dims {dim}; the engine averages a map over "
                                "height and width (x.mean((2, 3)), global average pooling)")
    return L.global_pool(node, ref, keepdim=bool(keepdim))


def _clamp(L, node, ref, lo, hi):
    return L.activation(node, ref, -INF if lo is None else float(lo), INF if hi is None else float(hi))


def _size(ref: Ref, dim=None):
    full = (BATCH,) + tuple(ref.shape)
    return full if dim is None else full[dim]


def _module(L, node, mod, args, kwargs):
    nn = L.nn
    t = type(mod)
    if t not in _known_modules(nn):
        if isinstance(mod, (nn.BatchNorm3d, nn.SyncBatchNorm)):
            raise LayerNotSupported(f"{L.where(node)}: only BatchNorm2d after a Conv2d and BatchNorm1d "
                                    "after a Linear are folded")
        _refuse(L, node, t.__name__)
    x = _one_ref(L, node, args, kwargs)
    if t is nn.Conv2d:
        return L.conv(node, mod, x)
    if t is nn.Linear:
        return L.linear(node, mod, x)
    if t is nn.BatchNorm2d:
        return L.batchnorm(node, mod, x, "conv2d")
    if t is nn.BatchNorm1d:
        return L.batchnorm(node, mod, x, "linear")
    if t is nn.ReLU:
        return L.activation(node, x, 0.0, INF)
    if t is nn.ReLU6:
        return L.activation(node, x, 0.0, 6.0)
    if t is nn.Hardtanh:
        return L.activation(node, x, float(mod.min_val), float(mod.max_val))
    if t is nn.MaxPool2d:
        return L.pool(node, x, "max", mod.kernel_size, mod.stride, mod.padding, mod.dilation, mod.ceil_mode,
                      return_indices=mod.return_indices)
    if t is nn.AvgPool2d:
        return L.pool(node, x, "avg", mod.kernel_size, mod.stride, mod.padding, 1, mod.ceil_mode,
                      mod.count_include_pad, mod.divisor_override)
    if t is nn.AdaptiveAvgPool2d:
        return L.adaptive_pool(node, x, mod.output_size, "avg")
    if t is nn.AdaptiveMaxPool2d:
        if mod.return_indices:
            raise LayerNotSupported(f"{L.where(node)} with return_indices=True: values only")
        return L.adaptive_pool(node, x, mod.output_size, "max")
    if t is nn.Flatten:
        return L.flatten(node, x, mod.start_dim, mod.end_dim)
    if t in (nn.Dropout, nn.Dropout2d, nn.Dropout1d, nn.AlphaDropout, nn.Identity):
        return _passthrough(x, node)
    return _softmax(L, node, x, mod.dim, "softmax" if t is nn.Softmax else "log_softmax")


def _known_modules(nn) -> tuple:
    return (nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.BatchNorm1d, nn.ReLU, nn.ReLU6, nn.Hardtanh,
            nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Flatten, nn.Dropout,
            nn.Dropout2d, nn.Dropout1d, nn.AlphaDropout, nn.Identity, nn.Softmax, nn.LogSoftmax)


_METHOD_NOOPS = ("contiguous", "float", "clone", "detach", "requires_grad_")


def _method(L, node, name, args, kwargs):
    x = args[0]
    if not isinstance(x, Ref):
        _refuse(L, node, f"Tensor.{name} on a constant")
    rest = args[1:]
    if name == "size":
        return _size(x, *rest, **kwargs)
    if name == "dim":
        return len(x.shape) + 1
    if name in _METHOD_NOOPS or (name == "to" and not any(isinstance(v, Ref) for v in rest)):
        return _passthrough(x, node)
    if name in ("relu", "relu_"):
        return L.activation(node, x, 0.0, INF)
    if name in ("clamp", "clamp_", "clip", "clip_"):
        p = _bind(rest, kwargs, ("min", "max"), {"min": None, "max": None})
        return _clamp(L, node, x, p["min"], p["max"])
    if name in ("view", "reshape"):
        shape = list(rest) if "shape" not in kwargs else list(kwargs["shape"])
        return L.reshape(node, x, shape)
    if name == "flatten":
        p = _bind(rest, kwargs, ("start_dim", "end_dim"), {"start_dim": 0, "end_dim": -1})
        return L.flatten(node, x, p["start_dim"], p["end_dim"])
    if name == "mean":
        p = _bind(rest, kwargs, ("dim", "keepdim"), {"dim": None, "keepdim": False})
        return _mean(L, node, x, p["dim"] if p["dim"] is not None else (0, 1, 2, 3), p["keepdim"])
    if name in ("add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_"):
        p = _bind(rest, kwargs, ("other",), {"alpha": 1})
        return _arith(L, node, name.rstrip("_"), x, p["other"], p.get("alpha", 1))
    if name in ("softmax", "log_softmax"):
        p = _bind(rest, kwargs, ("dim",), {"dim": None})
        return _softmax(L, node, x, p["dim"], name)
    _refuse(L, node, f"Tensor.{name}")


def _function(L, node, f, args, kwargs):
    torch, F = L.torch, L.F
    if f is getattr:
        if args[1] == "shape":
            return _size(args[0])
        if args[1] == "ndim":
            return len(args[0].shape) + 1
        if args[1] in ("device", "dtype"):  # e.g. torch.tensor([1.0], device=x.device) in brevitas' CNV
            return torch.device("cpu") if args[1] == "device" else torch.float32
        _refuse(L, node, f"the attribute {args[1]!r}")
    if f is operator.getitem:
        if isinstance(args[0], Ref):
            return _slice(L, node, args[0], args[1])
        return args[0][args[1]]
    arith = {operator.add: "add", operator.iadd: "add", torch.add: "add", operator.sub: "sub",
             operator.isub: "sub", torch.sub: "sub", operator.mul: "mul", operator.imul: "mul",
             torch.mul: "mul", operator.truediv: "div", operator.itruediv: "div", torch.div: "div"}
    if f in arith:
        p = _bind(args, kwargs, ("input", "other"), {"alpha": 1})
        return _arith(L, node, arith[f], p["input"], p["other"], p.get("alpha", 1))
    if f in (torch.cat, getattr(torch, "concat", None), getattr(torch, "concatenate", None)):
        p = _bind(args, kwargs, ("tensors", "dim"), {"dim": 0})
        ts = list(p["tensors"])
        if not all(isinstance(t, Ref) for t in ts):
            raise LayerNotSupported(f"{L.where(node)}: concatenates a constant; the engine concatenates "
                                    "feature maps only")
        return L.concat(node, ts, p["dim"])
    x = _one_ref(L, node, args, kwargs)
    rest = args[1:]
    if f in (F.relu, torch.relu, torch.relu_, F.relu_):
        return L.activation(node, x, 0.0, INF)
    if f is F.relu6:
        return L.activation(node, x, 0.0, 6.0)
    if f in (F.hardtanh, getattr(F, "hardtanh_", None)):
        p = _bind(rest, kwargs, ("min_val", "max_val"), {"min_val": -1.0, "max_val": 1.0})
        return L.activation(node, x, float(p["min_val"]), float(p["max_val"]))
    if f in (torch.clamp, torch.clip, getattr(torch, "clamp_", None)):
        p = _bind(rest, kwargs, ("min", "max"), {"min": None, "max": None})
        return _clamp(L, node, x, p["min"], p["max"])
    if f in (F.dropout, torch.dropout, F.dropout2d, getattr(F, "dropout1d", None), F.alpha_dropout):
        return _passthrough(x, node)
    if f is torch.flatten:
        p = _bind(rest, kwargs, ("start_dim", "end_dim"), {"start_dim": 0, "end_dim": -1})
        return L.flatten(node, x, p["start_dim"], p["end_dim"])
    if f is torch.reshape:
        return L.reshape(node, x, list(rest[0]) if rest else list(kwargs["shape"]))
    if f in (F.max_pool2d, getattr(torch, "max_pool2d", F.max_pool2d)):
        names = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
        p = _bind(rest, kwargs, names,
                  {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False, "return_indices": False})
        return L.pool(node, x, "max", p["kernel_size"], p["stride"], p["padding"], p["dilation"],
                      p["ceil_mode"], return_indices=p["return_indices"])
    if f in (F.avg_pool2d, getattr(torch, "avg_pool2d", F.avg_pool2d)):
        p = _bind(rest, kwargs, ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                                 "divisor_override"),
                  {"stride": None, "padding": 0, "ceil_mode": False, "count_include_pad": True,
                   "divisor_override": None})
        return L.pool(node, x, "avg", p["kernel_size"], p["stride"], p["padding"], 1, p["ceil_mode"],
                      p["count_include_pad"], p["divisor_override"])
    if f in (F.adaptive_avg_pool2d, getattr(torch, "adaptive_avg_pool2d", F.adaptive_avg_pool2d)):
        p = _bind(rest, kwargs, ("output_size",), {})
        return L.adaptive_pool(node, x, p["output_size"], "avg")
    if f is F.adaptive_max_pool2d:
        p = _bind(rest, kwargs, ("output_size", "return_indices"), {"return_indices": False})
        if p["return_indices"]:
            raise LayerNotSupported(f"{L.where(node)} with return_indices=True: values only")
        return L.adaptive_pool(node, x, p["output_size"], "max")
    if f is torch.mean:
        p = _bind(rest, kwargs, ("dim", "keepdim"), {"dim": (0, 1, 2, 3), "keepdim": False})
        return _mean(L, node, x, p["dim"], p["keepdim"])
    if f is F.pad:
        p = _bind(rest, kwargs, ("pad", "mode", "value"), {"mode": "constant", "value": 0.0})
        return _pad(L, node, x, p["pad"], p["mode"], 0.0 if p["value"] is None else p["value"])
    if f in (F.softmax, torch.softmax, F.log_softmax, torch.log_softmax):
        p = _bind(rest, kwargs, ("dim",), {"dim": None})
        return _softmax(L, node, x, p["dim"], "softmax" if f in (F.softmax, torch.softmax) else "log_softmax")
    if f in (torch.matmul, operator.matmul, torch.bmm, torch.einsum):
        raise LayerNotSupported(f"{L.where(node)}: a product of two activations (attention) does not run on "
                                "the engine; the engine runs convolutional networks")
    _refuse(L, node, getattr(f, "__name__", repr(f)))


def dispatch(L, node, args, kwargs):
    """The Ref (or shape value) the fx ``node`` computes from its lowered arguments."""
    if node.op == "call_module":
        return _module(L, node, L.gm.get_submodule(node.target), args, kwargs)
    if node.op == "call_method":
        return _method(L, node, node.target, args, kwargs)
    return _function(L, node, node.target, args, kwargs)
