"""Graph programs on the mock board (the real engine RTL, tiny build): concatenations, column
tiles of wide maps (asymmetric left/right padding per tile), a LINEAR split into parts whose
int32 sums carry over as bias, kernels and strides beyond the engine in the im2col layout;
every result equals rtlcnn.reference bit for bit."""

import numpy as np
import pytest

from rtlcnn.core import reference as R
from rtlcnn.core.program import Op, Program
from rtlcnn.core.random_programs import conv, linear


def _graph(rng):
    return Program((1, 19, 400), 1 / 64, [
        conv(rng, 1, 4, 9, stride=3, padding=3, name="stem"),          # im2col: 9x9 / 3
        conv(rng, 4, 4, 1, name="sq"),
        conv(rng, 4, 4, 1, name="e1"),
        conv(rng, 4, 4, 3, padding=1, name="e3", inputs=("sq",)),      # a wide map: tiles
        Op("concat", name="cat", inputs=("e1", "e3"), out_scale=0.05),
        conv(rng, 8, 4, 3, padding=1, pool="max", name="c"),
        linear(rng, 4 * 3 * 66, 6, relu=True, name="fc"),                # split in parts
        linear(rng, 6, 3, relu=False, out_int32=True, name="head"),
    ], name="graph").check()


@pytest.mark.slow
def test_graph_with_concat_tiles_and_im2col_on_the_tiny_engine(tiny_acc):
    rng = np.random.default_rng(5)
    prog = _graph(rng)
    net = tiny_acc.load(prog)
    layers = {lp.name: lp for lp in net.plan.layers}
    assert layers["stem"].layout == "im2col" and layers["fc"].rsplit, net.plan.summary()
    assert any(b.c1 is not None for b in layers["e3"].bands + layers["c"].bands), net.plan.summary()
    x = rng.uniform(-1, 1, (2,) + prog.input_shape).astype(np.float32)
    got = net.predict_int(x)
    assert np.array_equal(got, R.run_int(prog, x)), net.plan.summary()


@pytest.mark.slow
def test_linear_split_into_parts_on_the_tiny_engine(tiny_acc):
    """1,100 features: 275 input words of 4, more than the tiny engine's 64 weight words a
    part: five parts, their int32 sums carried as the next part's bias."""
    rng = np.random.default_rng(6)
    prog = Program((1100, 1, 1), 1 / 64, [linear(rng, 1100, 6, relu=True, name="wide"),
                                          linear(rng, 6, 3, relu=False, out_int32=True)]).check()
    net = tiny_acc.load(prog)
    assert len(net.plan.layers[0].rsplit) == 5
    x = rng.uniform(-1, 1, (3,) + prog.input_shape).astype(np.float32)
    assert np.array_equal(net.predict_int(x), R.run_int(prog, x)), net.plan.summary()


def test_random_graph_programs_on_the_tiny_engine(tiny_acc):
    """Seeded random graph programs (random_programs.graph: adds over skips, concats,
    depthwise and grouped convs, k x k pools, global pools) through Accelerator on the RTL,
    bit for bit equal to rtlcnn.reference; the seeds cover chunks of groups, engine
    averages and host pools."""
    import sys
    from pathlib import Path

    from rtlcnn.core import random_programs as RP
    from rtlcnn.core import schedule as SC

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from test_add_engine import sixteen_bit_adds

    seen = set()
    for seed in (3, 4, 5):
        prog = sixteen_bit_adds(RP.graph(seed, input_shape=(3, 12, 12), blocks=4))
        net = tiny_acc.load(prog)
        x = np.random.default_rng(seed).uniform(-1, 1, (2,) + prog.input_shape).astype(np.float32)
        assert np.array_equal(net.predict_int(x), R.run_int(prog, x)), net.plan.summary()
        seen |= {(lp.kind, "host" if lp.opcode == SC.OPCODE_HOST else "chunks" if lp.gsplit else "engine")
                 for lp in net.plan.layers}
    assert {("conv2d", "chunks"), ("add", "engine"), ("avgpool", "chunks"), ("globalavgpool", "engine"),
            ("maxpool", "host"), ("concat", "host")} <= seen, sorted(seen)


def test_an_add_right_after_a_conv_ending_on_a_partial_group(tiny_acc):
    """Regression: a conv job whose last output-channel group is partial (10 channels on
    P_OC = 4) left the MAC path's last flag high; the ADD job after it took it for its own
    and ended its packet after one beat (the DMA received 8 bytes of 280)."""
    from rtlcnn.core.random_programs import add

    rng = np.random.default_rng(0)
    prog = Program((3, 7, 7), 1 / 64, [conv(rng, 3, 10, 1, name="a"), conv(rng, 10, 10, 1, name="b"),
                                       add(rng, "a", "b", "sum")]).check()
    prog.ops[2].mult = (np.asarray(prog.ops[2].mult, np.int64) >> 14).astype(np.int32)
    prog.ops[2].shift = (np.asarray(prog.ops[2].shift) - 14).astype(np.int32)
    net = tiny_acc.load(prog.check())
    x = rng.uniform(-1, 1, (2,) + prog.input_shape).astype(np.float32)
    assert np.array_equal(net.predict_int(x), R.run_int(prog, x)), net.plan.summary()
