"""Residual adds on the engine (its ADD op, engine 1.4), on the numpy engine model: seeded
random graph programs with adds (and whatever else the engine runs), ResNet-style blocks
with maps big enough for row bands and column tiles, on the default, a small and a narrow
build, every op's output bit for bit equal to rtlcnn.reference; the compiler's 16-bit add
multipliers; what engines before 1.4 and adds with larger multipliers get."""

import numpy as np
import pytest

from rtlcnn.core import random_programs as RP
from rtlcnn.core import reference as R
from rtlcnn.core import schedule as SC
from rtlcnn.core import stream as S
from rtlcnn.core.engine_support import engine_problem
from rtlcnn.core.errors import LayerNotSupported, ProgramFormatError
from rtlcnn.core.program import Program
from rtlcnn.core.random_programs import conv
from rtlcnn.sim.engine_model import EngineModel

BUILDS = {
    "default": S.Build(),
    "small": S.Build(p_oc=4, p_ic=4, wbuf_depth=512, ibuf_depth=1024, pbuf_depth=128),
    "narrow": S.Build(p_oc=8, p_ic=1, wbuf_depth=1024, ibuf_depth=2048, pbuf_depth=64, rq_lanes=1),
}


def sixteen_bit_adds(prog: Program) -> Program:
    """The program with each add's multipliers brought below 2**16 (k 14 smaller), as
    rtlcnn.compile writes them; random_programs' adds have multipliers near 2**29."""
    for op in prog.ops:
        if op.kind == "add" and int(max(op.mult)) >= 1 << 16:
            op.mult = (np.asarray(op.mult, np.int64) >> 14).astype(np.int32)
            op.shift = (np.asarray(op.shift) - 14).astype(np.int32)
    return prog.check()


def run_on_model(prog, build, n=2, seed=1):
    pl = SC.plan(prog, build)
    x = np.random.default_rng(seed).uniform(-1, 1, (n,) + tuple(prog.input_shape)).astype(np.float32)
    xq = prog.quantize_input(x)
    outs = SC.execute(pl, xq, EngineModel(build), SC.Residency(), "net")
    for i, (got, want) in enumerate(zip(outs, R.run_all_int(prog, x))):
        assert got.dtype == want.dtype and np.array_equal(got, want), f"op {i} ({prog.ops[i].name})"
    return pl


def resnet_like(rng, c=8, hw=(24, 24), blocks=2, relu=True, bounds=None):
    """stem conv, then blocks of two 3x3 convs with an add of the block's input (identity
    skip) or of a 1x1 projection (channels doubled)."""
    ops = [conv(rng, 3, c, 3, padding=1, name="stem")]
    prev = "stem"
    for j in range(blocks):
        o = c * 2 if j % 2 else c
        a = conv(rng, c, o, 3, padding=1, name=f"b{j}.a", inputs=(prev,))
        b = conv(rng, o, o, 3, padding=1, relu=False, name=f"b{j}.b")
        ops += [a, b]
        skip = prev
        if o != c:
            ops.append(conv(rng, c, o, 1, relu=False, name=f"b{j}.proj", inputs=(prev,)))
            skip = f"b{j}.proj"
        ops.append(RP.add(rng, skip, f"b{j}.b", f"b{j}.sum", relu=relu, **(bounds or {})))
        prev, c = f"b{j}.sum", o
    return sixteen_bit_adds(Program((3,) + tuple(hw), 1 / 64, ops, name="resnet-like"))


@pytest.mark.parametrize("name", list(BUILDS))
def test_resnet_like_blocks_run_bit_exact_with_row_bands(name):
    build = BUILDS[name]
    rng = np.random.default_rng(3)
    prog = resnet_like(rng, hw=(40, 36), bounds=dict(act_min=-20, act_max=90))
    pl = run_on_model(prog, build)
    adds = [lp for lp in pl.layers if lp.opcode == S.OPCODE_ADD]
    assert len(adds) == 2 and all(lp.act == (-20, 90) for lp in adds)
    if name != "default":  # 8 and 16 channels of 40 x 36 do not fit half the input buffer
        assert all(len(lp.bands) > 1 for lp in adds)
    for lp in adds:
        for band in lp.bands:
            cfg = lp.config(lp.slices[0], band, False)
            assert cfg.is_add and cfg.check(build) == 0 and cfg.add_mult_word() > 0


def test_a_map_too_wide_for_half_the_input_buffer_runs_in_column_tiles():
    build = S.Build(p_oc=4, p_ic=4, wbuf_depth=512, ibuf_depth=64, pbuf_depth=128)  # 32 words a half
    rng = np.random.default_rng(5)
    ops = [conv(rng, 3, 8, 1, name="a"), conv(rng, 3, 8, 1, name="b", inputs=("input",)),
           RP.add(rng, "a", "b", "sum")]
    prog = sixteen_bit_adds(Program((3, 3, 40), 1 / 64, ops))
    lp = SC.plan(prog, build).layers[-1]
    assert {(b.c0, b.c1) for b in lp.bands} == {(0, 14), (14, 27), (27, 40)} and len(lp.bands) == 9
    run_on_model(prog, build)


def engine_prefix(prog: Program, build) -> Program:
    """The longest prefix of ``prog`` the engine runs (up to its first op the engine does
    not have yet: a depthwise or grouped conv, a k x k pool, a global pool), or None."""
    problem = engine_problem(prog, build.max_kernel, build.version_minor)
    if not problem:
        return prog
    for i in range(int(problem.split()[1]), 0, -1):  # the longest that is a program (no dead ops)
        try:
            return Program(tuple(prog.input_shape), prog.input_scale, list(prog.ops[:i]), name="p").check()
        except ProgramFormatError:
            continue
    return None


@pytest.mark.parametrize("name", list(BUILDS))
def test_random_graph_programs_with_adds_run_bit_exact(name):
    """random_programs.graph(seed) up to its first op the engine does not have yet, those
    with adds (residual blocks with identity or 1x1 skips, adds with bounds and ReLU)."""
    build = BUILDS[name]
    ran = adds = 0
    for seed in range(200):
        prog = engine_prefix(sixteen_bit_adds(RP.graph(seed, input_shape=(3, 28, 28), blocks=4)), build)
        if prog is None or not any(op.kind == "add" for op in prog.ops):
            continue
        try:
            pl = run_on_model(prog, build, n=1)
        except LayerNotSupported:
            continue  # a layer too big for this build
        ran += 1
        adds += sum(lp.opcode == S.OPCODE_ADD for lp in pl.layers)
        if ran >= 8:
            break
    assert ran >= 5 and adds >= 6, (ran, adds)


def test_engines_before_1_4_and_wide_multipliers_are_refused_by_name():
    rng = np.random.default_rng(0)
    prog = resnet_like(rng, hw=(8, 8), blocks=1)
    with pytest.raises(LayerNotSupported, match=r"op 3 \(b0\.sum, add\): the residual add needs engine "
                       r"version 1\.4 \(the ADD op\); this engine is 1\.3") as e:
        SC.plan(prog, S.Build(version_minor=3))
    assert "rtlcnn.reference.run" in str(e.value)
    wide = resnet_like(np.random.default_rng(0), hw=(8, 8), blocks=1)
    wide.ops[3].mult = np.array([1 << 16, 5], np.int32)
    with pytest.raises(LayerNotSupported, match=r"below 2\*\*16"):
        SC.plan(wide, S.Build())
    pl = SC.plan(prog, S.Build())
    x = prog.quantize_input(np.zeros((1,) + prog.input_shape, np.float32))
    with pytest.raises(ValueError, match="no ADD op"):  # the model of an engine 1.3 has none
        SC.execute(pl, x, EngineModel(S.Build(version_minor=3)), SC.Residency(), "n")


def test_add_cost_model_counts_both_operands_and_overlaps_the_add():
    b = S.Build()
    cfg = S.JobConfig.add(16, 32, 32, 40000, 20000, 16)
    # 2048 beats of a, then 2048 of b while the add and the output run alongside
    assert SC.job_cycles(cfg, b) == 2048 + 2048 + SC.JOB_OVERHEAD_CYCLES
    narrow = BUILDS["narrow"]
    small = S.JobConfig.add(2, 16, 16, 1, 1, 1)  # P_IC = 1: 512 word steps for 64 beats of b
    assert SC.job_cycles(small, narrow) == 64 + 512 + SC.JOB_OVERHEAD_CYCLES


def test_the_compiler_writes_16_bit_add_multipliers():
    """quantize._add_params: the larger multiplier in [2**15, 2**16), both within 2**-16
    (relative, of the larger) of the scale ratios; the docs' example."""
    from rtlcnn.compile.quantize import _add_params

    class Stage:
        name, sources = "sum", ("a", "b")

    assert [v.tolist() for v in _add_params(Stage(), 0.05, 0.02, 0.04)] == [[40960, 16384], [-16]]
    rng = np.random.default_rng(0)
    for s_a, s_b, s_y in rng.uniform(1e-3, 1, (200, 3)):
        mult, shift = _add_params(Stage(), s_a, s_b, s_y)
        k = 31 + int(shift[0])
        assert 1 <= k <= 62 and 2**15 <= int(mult.max()) < 2**16 and int(mult.min()) >= 0
        want = np.array([s_a, s_b]) / s_y
        assert np.all(np.abs(mult / 2.0**k - want) <= want.max() * 2.0**-16)
