"""Programs as graphs (file format version 2): checks, shapes, file round trips, the
reference's tensor table, the output function, and the scheduler's clear refusals."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from test_program import rewrite, small_program

from rtlcnn import FORMAT_VERSION, LayerNotSupported, Op, Program, ProgramFormatError, models
from rtlcnn.core import random_programs as RP
from rtlcnn.core import reference as R
from rtlcnn.core import schedule as SC
from rtlcnn.core.regs import Build
from rtlcnn.core.version import __version__


def conv(rng, c, o, k=3, **kw):
    kw.setdefault("padding", k // 2)
    return RP.conv(rng, c, o, k, **kw)


def resnet_block(rng, **last) -> Program:
    """conv a -> conv b -> conv c, add(a, c), global pool, linear: a skip over two convs."""
    ops = [conv(rng, 3, 8, name="a"), conv(rng, 8, 8, name="b"), conv(rng, 8, 8, name="c"),
           RP.add(rng, "a", "c", "sum", relu=True),
           Op("globalavgpool", "gap"), RP.linear(rng, 8, 5, relu=False, out_int32=True, name="fc", **last)]
    return Program((3, 9, 9), 1 / 64, ops, name="res").check()


def images(prog, n=5, seed=1):
    return np.random.default_rng(seed).uniform(-1, 1, (n,) + tuple(prog.input_shape)).astype(np.float32)


def test_a_residual_block_runs_as_the_graph_says(rng):
    prog = resnet_block(rng)
    assert prog.sources() == [(-1,), (0,), (1,), (0, 2), (3,), (4,)]
    assert not prog.is_chain and prog.format_version() == 2
    x = images(prog)
    outs = R.run_all_int(prog, x)
    a, b, c, s, g, f = prog.ops
    q = prog.quantize_input(x)
    ya = R.op_int(a, q)
    yc = R.op_int(c, R.op_int(b, ya))
    ys = R.add_int(ya, yc, s.mult, s.shift, relu=True)
    yg = R.globalavgpool_int(ys)
    for got, want in zip(outs, [ya, None, yc, ys, yg, R.op_int(f, yg)]):
        if want is not None:
            np.testing.assert_array_equal(got, want)
    for layer in range(6):
        np.testing.assert_array_equal(R.run_int(prog, x, layer=layer), outs[layer])
    assert prog.shapes() == [(8, 9, 9)] * 4 + [(8, 1, 1), (5,)]
    assert prog.macs() == 3 * 81 * 8 * 9 + 2 * 81 * 8 * 8 * 9 + 40
    text = prog.summary()
    assert "<- a, c" in text and "globalavgpool" in text and "relu" in text
    assert "sum(a, c)" in repr(prog)


def test_a_program_that_reads_by_name_checks_its_names(rng):
    prog = resnet_block(rng)
    prog.ops[3].inputs = ("a", "zz")
    with pytest.raises(ProgramFormatError, match="reads 'zz', which is the name of no op"):
        prog.check()
    prog.ops[3].inputs = ("a", "sum")
    with pytest.raises(ProgramFormatError, match="does not come before it"):
        prog.check()
    prog.ops[3].inputs = ("a", "c")
    prog.ops[1].name = "a"
    with pytest.raises(ProgramFormatError, match=r"names 2 ops \(0, 1\)"):
        prog.check()
    prog.ops[1].name = "input"
    prog.ops[3].inputs = ("input", "c")
    with pytest.raises(ProgramFormatError, match="named 'input' too"):
        prog.check()
    prog = resnet_block(rng)
    prog.ops[2].inputs = ("a",)  # c reads a: b's output is read by no one
    with pytest.raises(ProgramFormatError, match=r"op 1 \(b\): its output is read by no op"):
        prog.check()
    prog = resnet_block(rng)
    prog.ops[3].inputs = ("a",)
    with pytest.raises(ProgramFormatError, match="add reads 2 named inputs, got 1"):
        prog.check()


@pytest.mark.parametrize("mutate,match", [
    (lambda p: setattr(p.ops[1], "groups", 3), "do not divide into 3 groups"),
    (lambda p: setattr(p.ops[1], "groups", 2), "2 input channels per group x 2 groups but its input has 8"),
    (lambda p: setattr(p.ops[1], "act_max", 200), r"act_max 200 outside -128..127"),
    (lambda p: (setattr(p.ops[1], "relu", True), setattr(p.ops[1], "act_max", -3)), "bounds.*empty"),
    (lambda p: setattr(p.ops[4], "relu", True), "a globalavgpool has no relu"),
    (lambda p: setattr(p.ops[1], "pool_kernel", 3), "belong to maxpool and avgpool only"),
    (lambda p: setattr(p.ops[4], "groups", 2), "only conv2d has groups"),
    (lambda p: setattr(p.ops[3], "mult", np.array([1, -1], np.int32)), r"\[0, 2\*\*31\)"),
    (lambda p: setattr(p.ops[3], "shift", np.array([40], np.int32)), "outside 1..62"),
    (lambda p: setattr(p.ops[3], "bias", np.zeros(8, np.int32)), "add has no bias"),
    (lambda p: setattr(p.ops[3], "out_scale", None), "positive out_scale"),
    (lambda p: setattr(p.ops[1], "ceil_mode", 1), "ceil_mode must be True or False"),
    (lambda p: setattr(p.ops[1], "inputs", "a"), "inputs must be a tuple of tensor names"),
    (lambda p: setattr(p, "output_fn", "sigmoid"), "output_fn must be one of"),
])
def test_check_names_graph_problems(rng, mutate, match):
    prog = resnet_block(rng)
    prog.ops[1].weight = prog.ops[1].weight[:, :2].copy() if "per group" in match else prog.ops[1].weight
    mutate(prog)
    with pytest.raises(ProgramFormatError, match=match):
        prog.check()


def test_shapes_of_pools_concat_and_add(rng):
    x = conv(rng, 3, 4, name="x")
    ops = [x, Op("maxpool", "mp", pool_kernel=3, pool_stride=2, pool_padding=1, ceil_mode=True),
           Op("avgpool", "ap", inputs=("x",), pool_kernel=3, pool_stride=2, ceil_mode=True,
              count_include_pad=False),
           Op("concat", "cat", inputs=("mp", "ap")), RP.linear(rng, 8 * 5 * 5, 3, relu=False, out_int32=True)]
    prog = Program((3, 10, 10), 1 / 64, ops)
    with pytest.raises(ProgramFormatError, match=r"concat needs inputs of one height and width"):
        prog.check()  # 3x3/s2/p1 ceil of 10 gives 6, without padding 5
    ops[2].pool_padding = 1
    ops[4] = RP.linear(rng, 8 * 6 * 6, 3, relu=False, out_int32=True)
    prog.check()
    assert prog.shapes()[1:4] == [(4, 6, 6), (4, 6, 6), (8, 6, 6)]
    ops[1].pool_padding = 2
    with pytest.raises(ProgramFormatError, match="more than half the window 3"):
        prog.check()
    ops[1].pool_padding = 1
    ops[0].out_scale = 0.07  # the pools keep it, the concat sees one scale: fine
    prog.check()
    ops[3].out_scale = 0.05
    with pytest.raises(ProgramFormatError, match="a concat copies its inputs, so they need one scale"):
        prog.check()
    ops[3].out_scale = None
    ops[3].inputs = ("x", "input")  # 0.07 and the input's 1/64
    ops[4] = RP.linear(rng, 7 * 10 * 10, 3, relu=False, out_int32=True)
    ops[1:3] = []
    with pytest.raises(ProgramFormatError, match="input scales 0.015625, 0.07"):
        prog.check()


def test_chains_stay_version_1_files_and_load_as_before(tmp_path, rng):
    prog = small_program(rng)
    assert prog.format_version() == 1
    path = tmp_path / "c.rtlcnn.npz"
    prog.save(path)
    with np.load(path, allow_pickle=False) as z:
        assert int(z["version"]) == 1
        header = json.loads(str(z["header"]))
    assert header["writer"] == f"rtlcnn {__version__}" and "output_fn" not in header
    assert all(set(h) == {"kind", "name", "stride", "padding", "relu", "pool", "out_int32", "out_scale"}
               for h in header["ops"])
    # a version-1 file that has a version-2 field is refused
    header["ops"][0]["groups"] = 1
    rewrite(path, header=np.array(json.dumps(header)))
    with pytest.raises(ProgramFormatError, match="version-2 field 'groups' in a version-1 file"):
        Program.load(path)


#: reference outputs of the shipped programs (7 seeded images), computed at rtlcnn 0.1.0
#: (before programs were graphs): every op's output, and the dequantized one
SHIPPED = {"digits": ("da3f263904d32169", "b1aa7fe6c2805ac2"),
           "lenet5_mnist": ("9f8132e01baa9c4d", "bc345c99adf8bb85")}


def _digest(outs) -> str:
    h = hashlib.sha256()
    for o in outs:
        h.update(f"{o.dtype.str}{o.shape}".encode())
        h.update(np.ascontiguousarray(o).tobytes())
    return h.hexdigest()[:16]


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_version_1_programs_give_the_results_of_0_1_0(name):
    with np.load(models.path(name), allow_pickle=False) as z:
        assert int(z["version"]) == 1
    p = models.load(name)
    assert p.format_version() == 1 and p.is_chain
    x = np.random.default_rng(11).random((7,) + tuple(p.input_shape), dtype=np.float32)
    assert (_digest(R.run_all_int(p, x)), _digest([R.run(p, x)])) == SHIPPED[name]


def _same(a: Program, b: Program) -> bool:
    fields = ("kind", "name", "stride", "padding", "relu", "pool", "out_int32", "out_scale", "groups",
              "pool_kernel", "pool_stride", "pool_padding", "ceil_mode", "count_include_pad", "act_min",
              "act_max")
    return len(a.ops) == len(b.ops) and a.output_fn == b.output_fn and all(
        all(getattr(x, f) == getattr(y, f) for f in fields) and tuple(x.inputs) == tuple(y.inputs)
        and all((getattr(x, f) is None) == (getattr(y, f) is None)
                and (getattr(x, f) is None or np.array_equal(getattr(x, f), getattr(y, f)))
                for f in ("weight", "bias", "mult", "shift", "acc_scale"))
        for x, y in zip(a.ops, b.ops))


@pytest.mark.parametrize("seed", range(12))
def test_random_graphs_round_trip_through_version_2_files(tmp_path, seed):
    prog = RP.graph(seed, out_int32=bool(seed % 2))
    prog.output_fn = (None, "softmax", "log_softmax")[seed % 3]
    path = tmp_path / "g.rtlcnn.npz"
    prog.save(path)
    with np.load(path, allow_pickle=False) as z:
        assert int(z["version"]) == FORMAT_VERSION == 2
    back = Program.load(path)
    assert _same(prog, back) and back.summary() == prog.summary()
    x = images(prog, 3, seed)
    np.testing.assert_array_equal(R.run(prog, x), R.run(back, x))
    outs = R.run_all_int(back, x)
    assert [o.shape[1:] for o in outs] == back.shapes()
    np.testing.assert_array_equal(R.run_int(back, x, layer=len(outs) // 2), outs[len(outs) // 2])


def test_the_random_graphs_cover_every_new_feature():
    seen = set()
    for seed in range(40):
        for op in RP.graph(seed).ops:
            seen.add(op.kind)
            if op.kind == "conv2d":
                seen |= {"grouped"} if 1 < op.groups < op.weight.shape[0] else set()
                seen |= {"depthwise"} if op.groups > 1 and op.weight.shape[1] == 1 else set()
                seen |= {"big"} if op.kernel > 7 or op.stride > 2 else set()
            if op.kind in ("maxpool", "avgpool"):
                seen |= {f"{op.kind}-ceil"} if op.ceil_mode else set()
                seen |= {f"{op.kind}-pad"} if op.pool_padding else set()
                excl = op.kind == "avgpool" and op.pool_padding and not op.count_include_pad
                seen |= {"excl-pad"} if excl else set()
            if op.act_max < 127 or op.act_min > -128:
                seen.add("bounds")
            if op.kind == "add" and op.inputs:
                seen.add("add")
    want = {"conv2d", "linear", "maxpool", "avgpool", "globalavgpool", "add", "concat", "grouped",
            "depthwise", "big", "maxpool-ceil", "avgpool-ceil", "maxpool-pad", "avgpool-pad", "excl-pad",
            "bounds"}
    assert want <= seen, want - seen


def test_fields_of_version_2_files_are_type_checked(tmp_path, rng):
    path = tmp_path / "t.rtlcnn.npz"
    for field, bad, match in [("inputs", "a", "is not a list of names"),
                              ("groups", "2", "is not an integer"), ("act_max", True, "is not an integer"),
                              ("ceil_mode", 1, "is not true or false"),
                              ("dilation", 2, "unknown field 'dilation'")]:
        resnet_block(rng).save(path)
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(str(z["header"]))
        header["ops"][1][field] = bad
        rewrite(path, header=np.array(json.dumps(header)))
        with pytest.raises(ProgramFormatError, match=match):
            Program.load(path)


def test_output_fn_gives_what_the_models_forward_returns(rng):
    torch = pytest.importorskip("torch")
    prog = resnet_block(rng)
    x = images(prog, 6)
    logits = R.run(prog, x).astype(np.float64)
    raw = torch.from_numpy(R.run_int(prog, x).astype(np.float64) * prog.ops[-1].acc_scale.astype(np.float64))
    for fn, want in (("softmax", torch.softmax(raw, 1)), ("log_softmax", torch.log_softmax(raw, 1))):
        prog.output_fn = fn
        got = R.run(prog, x)
        assert got.dtype == np.float32 and got.shape == logits.shape
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-6, atol=1e-7)
        assert np.array_equal(got.argmax(1), logits.argmax(1))
    # over the channels of a map output
    maps = Program((3, 5, 5), 1 / 64, [conv(rng, 3, 4)], output_fn="softmax").check()
    y = R.run(maps, images(maps, 2))
    np.testing.assert_allclose(y.sum(axis=1), 1, rtol=1e-6)
    assert maps.format_version() == 2


def test_reference_memory_counts_the_tensors_a_skip_keeps_alive(rng):
    chain = Program((3, 9, 9), 1 / 64, [conv(rng, 3, 8), conv(rng, 8, 8), conv(rng, 8, 8)]).check()
    prog = resnet_block(rng)
    assert R.image_bytes(prog) > R.image_bytes(chain)  # a's output lives on through b and c
    # op 2 (c) runs while a's int8 output (8*9*9) waits for the add
    prog.ops[3].inputs = ("b", "c")
    prog.ops[2].inputs = ("b",)  # no skip: (a is read by b only)
    assert R.image_bytes(resnet_block(np.random.default_rng(0))) - R.image_bytes(prog) == 8 * 81


def _plan(prog):
    return SC.plan(prog, Build())


@pytest.mark.parametrize("make,match", [
    # an add whose multipliers are not the engine's 16 bit (random_programs' are ~2**29);
    # grouped convs, k x k pools and global pools run (tests/test_grouped_engine.py)
    (lambda rng: resnet_block(rng), r"op 3 \(sum, add\): multipliers \[\d+, \d+\]: the engine's ADD "
                                    r"takes multipliers below 2\*\*16"),
])
def test_the_scheduler_refuses_what_the_engine_cannot_run_yet(rng, make, match):
    prog = make(rng).check()
    with pytest.raises(LayerNotSupported, match=match) as e:
        _plan(prog)
    assert "rtlcnn.reference.run" in str(e.value)
    R.run(prog, images(prog, 2))  # the reference runs it


def test_activation_bounds_run_on_engines_1_3_and_are_refused_by_older_ones(rng):
    from rtlcnn.sim.engine_model import EngineModel

    fc = RP.linear(rng, 64, 5, relu=False)
    fc.act_min, fc.act_max = -40, 50
    prog = Program((3, 9, 9), 1 / 64, [conv(rng, 3, 4, act_max=6, relu=True, name="r6"),
                                       conv(rng, 4, 4, act_min=-3, act_max=12, relu=False, pool="max"),
                                       fc]).check()
    with pytest.raises(LayerNotSupported, match=r"op 0 \(r6, conv2d\): activation bounds \[0, 6\] "
                       r"\(ReLU6, Hardtanh or clamp\) need engine version 1\.3 \(the ACT register\); "
                       r"this engine is 1\.2") as e:
        SC.plan(prog, Build(version_minor=2))
    assert "rtlcnn.reference.run" in str(e.value)
    pl = _plan(prog)  # engine 1.3: each op's jobs carry its bounds
    assert [lp.act for lp in pl.layers] == [(-128, 6), (-3, 12), (-40, 50)]
    x = prog.quantize_input(images(prog, 3))
    got = SC.execute(pl, x, EngineModel(Build()), SC.Residency(), "b")
    for g, want in zip(got, R.run_all_int(prog, x)):
        np.testing.assert_array_equal(g, want)
    assert got[0].max() == 6 and got[1].min() == -3 and got[1].max() == 12  # the bounds bite
    with pytest.raises(ValueError, match="no ACT register"):  # the model of an engine 1.2 has none
        SC.execute(pl, x, EngineModel(Build(version_minor=2)), SC.Residency(), "b")


def test_version_2_chains_the_engine_runs_plan_as_their_version_1_twins(rng):
    from rtlcnn.sim.engine_model import EngineModel

    prog = RP.lenet5(seed=3)
    twin = RP.lenet5(seed=3)
    twin.ops[2].inputs = ("conv2",)  # the previous op, by name
    twin.ops[0].act_min = -100  # below the ReLU's 0: no bound
    twin.output_fn = "softmax"  # runs on the host
    twin.check()
    assert twin.format_version() == 2
    a, b = _plan(prog), _plan(twin)
    assert a.summary() == b.summary() and a.est_cycles(8) == b.est_cycles(8)
    x = prog.quantize_input(images(prog, 3))
    eng = EngineModel(Build())
    ya = SC.execute(a, x, eng, SC.Residency(), "a")[-1]
    yb = SC.execute(b, x, eng, SC.Residency(), "b")[-1]
    np.testing.assert_array_equal(ya, yb)
    np.testing.assert_array_equal(yb, R.run_int(twin, x))
    np.testing.assert_allclose(twin.dequantize_output(yb), R.run(twin, x))
