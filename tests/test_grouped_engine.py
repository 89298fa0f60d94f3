"""Grouped and depthwise convs, k x k pools and global average pools on the engine (the
numpy engine model; tests/mock runs the RTL): a grouped op runs as block-diagonal dense
convs on chunks of groups, an average whose windows share one divisor as a depthwise conv
(a global one as per-channel LINEARs) whose requant is the reference's rounded mean, the
rest of the pools on the host; every output equals rtlcnn.reference bit for bit."""

import numpy as np
import pytest
from test_graph_engine import _run  # plan, run on the engine model, compare every op with the reference

from rtlcnn.core import groups as G
from rtlcnn.core import random_programs as RP
from rtlcnn.core import schedule as SC
from rtlcnn.core import stream as S
from rtlcnn.core.program import Op, Program
from rtlcnn.core.random_programs import conv
from rtlcnn.core.ref_ops import mean_half_up
from rtlcnn.sim.engine_model import EngineModel

SMALL = S.Build(p_oc=4, p_ic=4, wbuf_depth=256, ibuf_depth=512, pbuf_depth=64)
BUILDS = {"default": S.Build(), "small": SMALL}


def _where(lp):
    if lp.opcode == SC.OPCODE_HOST:
        return "host"
    return "chunks" if lp.gsplit else "engine"


CASES = {  # name: (input shape, ops after a 3x3 stem conv of C channels, where the last op runs)
    "depthwise": (16, (9, 9), lambda rng, c: [conv(rng, c, c, 3, padding=1, groups=c)], "chunks"),
    "depthwise-x2-s2": (8, (9, 9), lambda rng, c: [conv(rng, c, 2 * c, 3, stride=2, padding=1, groups=c)],
                        "chunks"),
    "depthwise-pool-relu6": (24, (10, 10), lambda rng, c: [conv(rng, c, c, 3, padding=1, groups=c, pool="max",
                                                                act_max=6)], "chunks"),
    "grouped-2": (16, (8, 8), lambda rng, c: [conv(rng, c, 32, 3, padding=1, groups=2)], "chunks"),
    "grouped-int32-last": (12, (6, 6), lambda rng, c: [conv(rng, c, 6, 1, groups=3, relu=False,
                                                            out_int32=True)], "chunks"),
    "depthwise-k11-s4": (8, (23, 23), lambda rng, c: [conv(rng, c, c, 11, stride=4, padding=2, groups=c)],
                         "chunks"),
    "avg3-s1-p1": (8, (9, 9), lambda rng, c: [Op("avgpool", pool_kernel=3, pool_stride=1, pool_padding=1)],
                   "chunks"),
    "avg3-s2": (20, (9, 9), lambda rng, c: [Op("avgpool", pool_kernel=3, pool_stride=2)], "chunks"),
    "avg3-exclude-pad": (8, (9, 9), lambda rng, c: [Op("avgpool", pool_kernel=3, pool_stride=1,
                                                       pool_padding=1, count_include_pad=False)], "host"),
    "avg2-ceil": (8, (9, 9), lambda rng, c: [Op("avgpool", ceil_mode=True)], "host"),
    "max3-s2-ceil": (16, (9, 9), lambda rng, c: [Op("maxpool", pool_kernel=3, ceil_mode=True)], "host"),
    "max3-s2-p1": (16, (10, 10), lambda rng, c: [Op("maxpool", pool_kernel=3, pool_padding=1)], "host"),
    "gap-7x7": (40, (7, 7), lambda rng, c: [Op("globalavgpool")], "engine"),
    "gap-6x6": (24, (6, 6), lambda rng, c: [Op("globalavgpool")], "engine"),
    "gap-1ch": (1, (5, 5), lambda rng, c: [Op("globalavgpool")], "engine"),
    "gap-wide": (200, (9, 9), lambda rng, c: [Op("globalavgpool")], "engine"),
}


@pytest.mark.parametrize("build", list(BUILDS))
@pytest.mark.parametrize("case", list(CASES))
def test_each_variant_runs_bit_exact_where_it_should(case, build):
    c, hw, make, where = CASES[case]
    rng = np.random.default_rng(len(case))
    ops = [conv(rng, 3, c, 3, padding=1, name="stem")] + make(rng, c)
    prog = Program((3,) + hw, 1 / 64, ops).check()
    pl = _run(prog, BUILDS[build])
    lp = pl.layers[-1]
    assert _where(lp) == where, pl.summary()
    if lp.gsplit:  # the chunks cover the channels once each, in order
        assert [g[2] for g in lp.gsplit][0] == 0 and lp.gsplit[-1][3] == lp.out_shape[0]
        assert all(a[3] == b[2] and a[1] == b[0] for a, b in zip(lp.gsplit, lp.gsplit[1:]))
        assert "chunks of" in pl.summary()


def test_a_depthwise_conv_counts_its_own_macs_not_the_zero_taps():
    rng = np.random.default_rng(0)
    prog = Program((3, 8, 8), 1 / 64, [conv(rng, 3, 32, 3, padding=1, name="stem"),
                                       conv(rng, 32, 32, 3, padding=1, groups=32, name="dw")]).check()
    pl = SC.plan(prog, S.Build())
    lp = pl.layers[1]
    macs = []
    x = prog.quantize_input(np.zeros((1,) + prog.input_shape, np.float32))
    SC.execute(pl, x, EngineModel(pl.build), SC.Residency(), "n",
               on_job=lambda rec, raw: macs.append(rec.macs) if rec.layer == 1 else None)
    assert sum(macs) == prog.ops[1].macs(prog.shapes()[0]) == 32 * 9 * 64
    assert len(macs) == lp.jobs_per_image == len(lp.gsplit)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 9, 25, 36, 49, 64, 100, 196, 225, 1000, 3136])
def test_mean_requant_is_the_rounded_mean_for_every_sum(n):
    """requant(4t + 1, M, shift) == mean_half_up(t, n) for every sum t of n int8 values
    (mean_requant checks it too; here independently, in Python integers)."""
    m, shift = G.mean_requant(n)
    k = 31 + shift
    assert 0 < m < 2**31 and 1 <= k <= 62
    t = np.arange(-128 * n, 127 * n + 1, dtype=np.int64)
    got = ((G.AVG_WEIGHT * t + 1) * m + (1 << (k - 1))) >> k
    assert np.array_equal(got, mean_half_up(t, n))
    for v in (-128 * n, -64 * n - n // 2, 0, n // 2, 127 * n):  # edges and half-way sums
        assert (((4 * v + 1) * m + (1 << (k - 1))) >> k) == (2 * v + n) // (2 * n)


@pytest.mark.parametrize("build", list(BUILDS))
def test_random_graph_programs_run_bit_exact(build):
    """random_programs.graph: residual adds, concats, depthwise and grouped convs, every pool
    variant and global pools, whole programs (adds with 16-bit multipliers)."""
    from test_add_engine import sixteen_bit_adds

    seen = set()
    for seed in range(40):
        prog = sixteen_bit_adds(RP.graph(seed, input_shape=(3, 24, 24), blocks=4))
        pl = _run(prog, BUILDS[build], n=2, seed=seed)
        seen |= {(lp.kind, _where(lp)) for lp in pl.layers}
    for want in [("conv2d", "chunks"), ("globalavgpool", "engine"), ("maxpool", "host"), ("add", "engine"),
                 ("concat", "host")]:
        assert want in seen, sorted(seen)
