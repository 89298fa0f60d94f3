"""Graph programs on the engine (the numpy engine model; tests/mock runs the RTL): each op
reads the tensors it names, a concatenation is the host placing channels, kernels above
MAX_KERNEL and strides above 2 run in the im2col layout; every op's output equals
rtlcnn.reference bit for bit."""

import numpy as np
import pytest

from rtlcnn.core import reference as R
from rtlcnn.core import schedule as SC
from rtlcnn.core import stream as S
from rtlcnn.core.program import Op, Program
from rtlcnn.core.random_programs import conv, linear
from rtlcnn.sim.engine_model import EngineModel

SMALL = S.Build(p_oc=4, p_ic=4, wbuf_depth=256, ibuf_depth=512, pbuf_depth=64)


def _run(prog, build, n=3, seed=1):
    pl = SC.plan(prog, build)
    x = np.random.default_rng(seed).uniform(-1, 1, (n,) + tuple(prog.input_shape)).astype(np.float32)
    out = np.empty((n,) + tuple(prog.output_shape), np.int32 if prog.ops[-1].out_int32 else np.int8)
    done = []
    outs = SC.execute(pl, prog.quantize_input(x), EngineModel(build), SC.Residency(), "net",
                      out=out, completed=done)
    for i, (got, want) in enumerate(zip(outs, R.run_all_int(prog, x))):
        assert got.dtype == want.dtype and np.array_equal(got, want), f"op {i} ({prog.ops[i].name})"
    assert sorted(done) == list(range(n)) and np.array_equal(out, outs[-1])
    return pl


def fire(rng, c=6, name="fire"):
    """SqueezeNet's Fire module: squeeze 1x1, expand 1x1 and 3x3 of it, concatenated."""
    return [conv(rng, c, 4, 1, name=f"{name}.sq"),
            conv(rng, 4, 5, 1, name=f"{name}.e1"),
            conv(rng, 4, 3, 3, padding=1, name=f"{name}.e3", inputs=(f"{name}.sq",)),
            Op("concat", name=f"{name}.cat", inputs=(f"{name}.e1", f"{name}.e3"), out_scale=0.05)]


@pytest.mark.parametrize("build", [S.Build(), SMALL], ids=["default", "small"])
def test_concat_graphs_run_bit_exact(build):
    rng = np.random.default_rng(0)
    ops = fire(rng, 6, "f1") + fire(rng, 8, "f2") + [conv(rng, 8, 4, 3, stride=2, pool="max", name="c"),
                                                     linear(rng, 4 * 2 * 2, 5, relu=False, out_int32=True)]
    prog = Program((6, 10, 10), 1 / 64, ops, name="fires").check()
    pl = _run(prog, build)
    assert [lp.opcode for lp in pl.layers].count(SC.OPCODE_HOST) == 2
    assert "host" in pl.summary()


def test_a_concat_can_end_the_program_and_read_an_op_twice():
    rng = np.random.default_rng(1)
    ops = [conv(rng, 3, 4, 3, padding=1, name="a"), conv(rng, 4, 4, 1, name="b"),
           Op("concat", name="cat", inputs=("a", "b", "a"), out_scale=0.05)]
    _run(Program((3, 6, 6), 1 / 64, ops).check(), S.Build())


@pytest.mark.parametrize("k,s,p,shape", [(11, 4, 2, (3, 47, 47)), (3, 3, 0, (4, 14, 14)),
                                         (9, 1, 4, (2, 12, 12)), (8, 5, 3, (3, 30, 30))])
def test_kernels_and_strides_beyond_the_engine_run_im2col(k, s, p, shape):
    rng = np.random.default_rng(k * 10 + s)
    ops = [conv(rng, shape[0], 8, k, stride=s, padding=p, name="big"),
           conv(rng, 8, 4, 1, relu=False, out_int32=True, name="head")]
    prog = Program(shape, 1 / 64, ops).check()
    for build in (S.Build(), SMALL):  # SMALL: the 11/4 im2col map needs column tiles
        pl = _run(prog, build)
        assert pl.layers[0].layout == "im2col"


def test_alexnet_stem_at_224():
    """AlexNet's first layer as published: 11x11 stride 4 pad 2 on 224x224, 64 channels."""
    rng = np.random.default_rng(2)
    prog = Program((3, 224, 224), 1 / 64, [conv(rng, 3, 64, 11, stride=4, padding=2, relu=True,
                                               name="features.0")]).check()
    pl = _run(prog, S.Build(), n=1)
    lp = pl.layers[0]
    assert lp.layout == "im2col" and lp.out_shape == (64, 55, 55)


@pytest.mark.parametrize("build,f,relu", [(SMALL, 3000, True), (SMALL, 1030, False),
                                          (S.Build(), 36864, True)],
                         ids=["small-3-parts", "small-2-parts", "default-36864"])
def test_a_linear_wider_than_the_buffers_is_split_exactly(build, f, relu):
    """The reduction in parts: each part's int32 sums are the next part's bias, one requant
    at the end (the 36,864-input Linear the issue measured needed 4,608 input words)."""
    rng = np.random.default_rng(f)
    last = linear(rng, f, 20, relu=relu, out_int32=not relu, name="wide")
    ops = [linear(rng, f, 20, relu=relu, name="wide")] if relu else [last]
    if relu:
        ops[0].act_max = 60  # bounds (engine 1.3) on the last part only
    if relu:
        ops.append(linear(rng, 20, 5, relu=False, out_int32=True, name="head"))
    prog = Program((f, 1, 1), 1 / 64, ops).check()
    pl = _run(prog, build, n=3)
    lp = pl.layers[0]
    words = min(build.ibuf_depth, build.wbuf_depth)
    icg = -(-f // build.p_ic)
    assert len(lp.rsplit) == -(-icg // words) and lp.rsplit[-1][1] == f
    assert lp.jobs(3) == 3 * len(lp.rsplit) * len(lp.slices)


@pytest.mark.parametrize("make", [
    lambda rng: [conv(rng, 8, 6, 3, padding=1, name="c")],
    lambda rng: [conv(rng, 8, 6, 3, padding=1, pool="max", name="c")],
    lambda rng: [conv(rng, 8, 6, 5, stride=2, padding=2, pool="avg", name="c")],
    lambda rng: [conv(rng, 8, 8, 3, padding=1, name="c"), Op("maxpool", name="mp")],
    lambda rng: [conv(rng, 2, 6, 3, padding=1, name="c")],  # few channels: a host layout
], ids=["conv3", "conv3-maxpool", "conv5s2-avgpool", "standalone-pool", "few-channels"])
def test_maps_too_wide_for_the_input_buffer_run_in_column_tiles(make):
    rng = np.random.default_rng(7)
    ops = make(rng)
    c = ops[0].weight.shape[1]
    prog = Program((c, 9, 301), 1 / 64, ops).check()
    pl = _run(prog, SMALL, n=2)
    tiled = [lp for lp in pl.layers if any(b.c1 is not None for b in lp.bands)]
    assert tiled, pl.summary()
    for lp in tiled:  # the tiles cover the output columns once each
        cols = sorted({(b.x0, b.x1) for b in lp.bands})
        assert cols[0][0] == 0 and cols[-1][1] == lp.out_shape[2]
        assert all(a[1] == b[0] for a, b in zip(cols, cols[1:]))


def test_vgg_width_map_at_224_on_the_default_build():
    """A 3x3 conv of 64 channels on 224x224 maps: 3 rows x 224 columns x 8 channel groups do
    not fit 4,096 input words, so the map runs in column tiles."""
    rng = np.random.default_rng(3)
    prog = Program((64, 12, 224), 1 / 64, [conv(rng, 64, 16, 3, padding=1, name="conv1_2")]).check()
    pl = _run(prog, S.Build(), n=1)
    assert any(b.c1 is not None for b in pl.layers[0].bands)
