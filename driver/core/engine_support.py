"""What of a program the engine runs today, and a clear refusal of the rest.

Programs are graphs; the engine runs their topology (each op reads the tensors it names;
a ``concat`` is the host placing its inputs' channels side by side, no arithmetic) and
every op of file format version 2 (:mod:`rtlcnn.core.schedule` maps them): grouped and
depthwise convs as block-diagonal dense convs on chunks of groups; average pools whose
windows share one divisor as depthwise convs, global average pools as a 1x1 conv over
the transposed map, both with a requant that is the reference's rounded mean exactly;
kernels above the build's MAX_KERNEL and strides above 2 in the im2col host layout. Max
pools other than 2x2/s2, and averages with per-window divisors
(``count_include_pad=False`` at a padded edge, a ceil_mode window cut short), are
computed on the host, as ``rtlcnn.reference`` does. Activation bounds (ReLU6, Hardtanh,
clamp) need the requant's ACT register (engine 1.3), residual adds the ADD op (engine
1.4), whose multipliers are unsigned 16 bit (what ``rtlcnn.compile`` writes; an add with
a larger multiplier, from elsewhere, is refused, as are adds and bounds on older
engines). :func:`check_engine_support` is the scheduler's first step
(:func:`rtlcnn.core.schedule.plan`, so ``Accelerator.load`` on a board or the mock
board): such a program gets a :class:`~rtlcnn.core.errors.LayerNotSupported` naming the
op, what is unsupported and what runs it, never a KeyError or a wrong result.
``rtlcnn.reference.run`` runs every valid program. The output function (softmax,
log_softmax) runs on the host and needs nothing of the engine.
"""

from __future__ import annotations

from .errors import LayerNotSupported
from .ops import POOL_KINDS
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
        elif op.kind not in ("conv2d", "linear", "concat", "add", "globalavgpool") + POOL_KINDS:
            why = f"the engine has no {op.kind} op yet"
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
