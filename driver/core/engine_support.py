"""What of a program the engine runs today, and a clear refusal of the rest.

Programs are graphs; the engine runs their topology (each op reads the tensors it names;
a ``concat`` is the host placing its inputs' channels side by side, no arithmetic), but
not yet the ops of file format version 2 it has no hardware for:
``globalavgpool``, grouped and depthwise convs, k x k pools with stride, padding and
ceil_mode. Kernels above the build's MAX_KERNEL and strides above 2 run in the im2col
host layout (:mod:`rtlcnn.core.schedule`); activation bounds (ReLU6, Hardtanh, clamp) in
the requant on engines 1.3 and later (the ACT register), and are refused on older ones;
residual adds as the engine's ADD op on engines 1.4 and later, whose multipliers are
unsigned 16 bit (what ``rtlcnn.compile`` writes; an add with a larger multiplier, from
elsewhere, is refused, as are adds on older engines).
:func:`check_engine_support` is the scheduler's first step
(:func:`rtlcnn.core.schedule.plan`, so ``Accelerator.load`` on a board or the mock board):
such a program gets a :class:`~rtlcnn.core.errors.LayerNotSupported` naming the op, what is
unsupported and what runs it, never a KeyError or a wrong result. ``rtlcnn.reference.run``
runs every valid program. The output function (softmax, log_softmax) runs on the host
and needs nothing of the engine.
"""

from __future__ import annotations

from .errors import LayerNotSupported
from .ops import POOL_KINDS, V2_DEFAULTS
from .program import Program
from .regs import ADD_MULT_LIMIT, VERSION_MAJOR, VERSION_MINOR

__all__ = ["check_engine_support", "engine_problem"]

_ELSE = "run the program with rtlcnn.reference.run (the bit-exact reference) instead"


def engine_problem(program: Program, max_kernel: int, version_minor: int = VERSION_MINOR) -> str:
    """What the engine cannot run of ``program`` (the first such op), or "" if it runs it.
    ``version_minor`` is the engine's VERSION[15:0]: activation bounds need 3 or later,
    adds 4 or later."""
    for i, op in enumerate(program.ops):
        where = f"op {i} ({op.name or op.kind}, {op.kind})"
        why = ""
        if op.kind == "add" and version_minor < 4:
            why = (f"the residual add needs engine version {VERSION_MAJOR}.4 (the ADD op); this "
                   f"engine is {VERSION_MAJOR}.{version_minor}")
        elif op.kind == "add" and int(max(op.mult)) >= ADD_MULT_LIMIT:
            why = (f"multipliers {[int(m) for m in op.mult]}: the engine's ADD takes multipliers "
                   f"below 2**16 (rtlcnn.compile writes such adds; requantize this one with a "
                   f"smaller shift)")
        elif op.kind not in ("conv2d", "linear", "concat", "add") + POOL_KINDS:
            why = f"the engine has no {op.kind} op yet"
        elif op.kind == "conv2d" and int(op.groups) != 1:
            why = (f"groups={op.groups} ({'depthwise' if op.weight.shape[1] == 1 else 'grouped'} "
                   "conv): the engine runs groups=1 convs only")
        elif op.kind in POOL_KINDS and any(getattr(op, f) != V2_DEFAULTS[f] for f in (
                "pool_kernel", "pool_stride", "pool_padding", "ceil_mode")):
            why = (f"a {op.pool_kernel}x{op.pool_kernel} pool with stride {op.pool_stride}, "
                   f"padding {op.pool_padding}{' and ceil_mode' if op.ceil_mode else ''}: the "
                   "engine pools 2x2 with stride 2 and no padding only")
        elif version_minor < 3 and (op.bounds[1] != 127 or int(op.act_min) > (0 if op.relu else -128)):
            lo, hi = op.bounds
            why = (f"activation bounds [{lo}, {hi}] (ReLU6, Hardtanh or clamp) need engine version "
                   f"{VERSION_MAJOR}.3 (the ACT register); this engine is {VERSION_MAJOR}.{version_minor}, "
                   "which saturates to [-128, 127], or [0, 127] with ReLU, only")
        if why:
            return f"{where}: {why}; {_ELSE}"
    return ""


def check_engine_support(program: Program, max_kernel: int, version_minor: int = VERSION_MINOR) -> None:
    """Raise LayerNotSupported for the first op the engine cannot run (see module doc)."""
    problem = engine_problem(program, max_kernel, version_minor)
    if problem:
        raise LayerNotSupported(problem)
