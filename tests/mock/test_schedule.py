"""Scheduler tests without a simulator: plans run on the numpy engine model (which
decodes every job stream as docs/stream_format.md says) must equal rtlcnn.reference."""

import mock_progs as mp
import numpy as np
import pytest

from rtlcnn.core import reference as R
from rtlcnn.core import schedule as SC
from rtlcnn.core import stream as S
from rtlcnn.core.errors import LayerNotSupported
from rtlcnn.sim.engine_model import EngineModel

BUILDS = {
    "tiny": S.Build(p_oc=4, p_ic=4, wbuf_depth=64, ibuf_depth=256, pbuf_depth=16),
    "narrow": S.Build(p_oc=8, p_ic=2, wbuf_depth=96, ibuf_depth=512, pbuf_depth=24),
    "default": S.Build(),
}


def _run(prog, build, unfold, n=2):
    pl = SC.plan(prog, build, unfold=unfold)
    x = mp.images(prog, n, seed=3)
    eng = EngineModel(build)
    outs = SC.execute(pl, prog.quantize_input(x), eng, SC.Residency(), "net")
    for i, (got, want) in enumerate(zip(outs, R.run_all_int(prog, x))):
        assert got.dtype == want.dtype and np.array_equal(got, want), f"op {i} differs\n{pl.summary()}"
    return pl


@pytest.mark.parametrize("build", list(BUILDS))
@pytest.mark.parametrize("mix", ["mixed", "wide", "tall"])
@pytest.mark.parametrize("unfold", [None, True, False])
def test_random_programs_match_reference(build, mix, unfold):
    ran = 0
    for seed in range(8):
        prog = mp.random_program(seed, mix)
        try:
            _run(prog, BUILDS[build], unfold)
            ran += 1
        except LayerNotSupported:
            pass  # a layer too big for this build is rejected by name, never mis-run
    assert ran >= 4


def test_tiling_really_happens():
    """The tiny build forces output-channel slices, row bands and per-batch weight loads."""
    b = BUILDS["tiny"]
    pl = _run(mp.random_program(0, "wide"), b, None)
    assert max(len(lp.slices) for lp in pl.layers) > 1 and not pl.all_resident
    pl = _run(mp.random_program(0, "tall"), b, False)
    assert max(len(lp.bands) for lp in pl.layers) > 1


def test_band_geometry_covers_every_output_row():
    for h, k, s, p, pooled in [(31, 5, 1, 2, True), (20, 3, 2, 1, False), (9, 3, 1, 0, True)]:
        bands = SC._bands(h, 4, 3, k, s, p, pooled, ibuf=4 * 7, p_ic=4, where="t")
        conv_rows = (h + 2 * p - k) // s + 1
        out_rows = conv_rows // 2 if pooled else conv_rows
        assert bands[0].o0 == 0 and bands[-1].o1 == out_rows
        assert all(a.o1 == b.o0 for a, b in zip(bands, bands[1:]))
        assert all(b.r1 - b.r0 <= 7 and b.pad_top < k and b.pad_bottom < k for b in bands)


def test_lenet_keeps_all_weights_on_chip_and_unfolds_conv1_and_conv2():
    # engine 1.6 builds conv2's kx layout from conv1's map in its feature buffer (IN_TAPS)
    pl = SC.plan(mp.lenet5(), S.Build())
    assert pl.all_resident
    assert [lp.layout for lp in pl.layers] == ["pair", "kx", None, None, None]
    assert pl.jobs_per_image() == 5
    # engine 1.5 chains layers too but cannot: conv2 reads conv1's map as is (the kx layout
    # would cost a host round trip, CHAIN_BREAK_CYCLES, for 366 engine cycles)
    pl = SC.plan(mp.lenet5(), S.Build(version_minor=5))
    assert [lp.layout for lp in pl.layers] == ["pair", None, None, None, None]
    # without the feature buffer conv2's input comes from the host anyway: kx
    pl = SC.plan(mp.lenet5(), S.Build(version_minor=4))
    assert [lp.layout for lp in pl.layers] == ["pair", "kx", None, None, None]
    # an engine 1.0 (no K x KW kernels, no PAIR): conv1 im2col'ed, conv2 as is
    old = SC.plan(mp.lenet5(), S.Build(version_minor=0))
    assert [lp.layout for lp in old.layers[:2]] == ["im2col", None]
    # forced off: every conv as is
    assert not any(lp.unfold for lp in SC.plan(mp.lenet5(), S.Build(), unfold=False).layers)


def test_pair_needs_non_negative_multipliers():
    prog = mp.lenet5()
    prog.ops[0].mult[2] = -prog.ops[0].mult[2]
    assert SC.plan(prog, S.Build()).layers[0].layout != "pair"


def test_resident_weights_are_sent_once():
    prog, b = mp.lenet5(), S.Build()
    pl = SC.plan(prog, b)
    eng, res = EngineModel(b), SC.Residency()
    x = prog.quantize_input(mp.images(prog, 3))
    loads = []
    SC.execute(pl, x, eng, res, "a", on_job=lambda rec, raw: loads.append(rec.cfg.load_weights))
    assert sum(loads) == 5  # one load per layer, in the first image's jobs
    loads.clear()
    SC.execute(pl, x, eng, res, "a", on_job=lambda rec, raw: loads.append(rec.cfg.load_weights))
    assert sum(loads) == 0  # the next batch reuses them


def test_per_batch_loading_when_weights_do_not_fit_together():
    b = BUILDS["tiny"]
    prog = mp.random_program(0, "wide")
    pl = SC.plan(prog, b)
    eng, res = EngineModel(b), SC.Residency()
    x = prog.quantize_input(mp.images(prog, 4))
    loads = []
    SC.execute(pl, x, eng, res, "a", on_job=lambda rec, raw: loads.append(rec.cfg.load_weights))
    slices = sum(len(lp.slices) for lp in pl.layers if lp.has_weights)
    assert sum(loads) == slices  # once per slice per batch, not per image


def test_unsupported_layers_are_named():
    rng = np.random.default_rng(0)
    from rtlcnn.core.program import Program

    big_k = Program((1, 12, 12), 0.1, [mp.conv(rng, 1, 4, 5)])
    with pytest.raises(LayerNotSupported, match="MAX_KERNEL"):  # as is: no
        SC._layer(0, big_k.ops[0], (1, 12, 12), (4, 8, 8), S.Build(max_kernel=3), None, 0, 0, 64, 16)
    # a kernel above the build's MAX_KERNEL runs in the im2col layout (a 1x1 conv)
    assert _run(big_k, S.Build(max_kernel=3), None).layers[0].layout == "im2col"
    fat = Program((64, 4, 4), 0.1, [mp.conv(rng, 64, 8, 5, padding=2)])
    with pytest.raises(LayerNotSupported, match="weight buffer"):
        SC.plan(fat, S.Build(p_oc=4, p_ic=4, wbuf_depth=64, ibuf_depth=4096, pbuf_depth=16))


def test_engine_model_rejects_what_the_hardware_rejects():
    b = BUILDS["tiny"]
    eng = EngineModel(b)
    cfg = S.JobConfig(in_c=4, in_h=20, in_w=20, out_c=4, kernel=3)  # input does not fit
    with pytest.raises(ValueError, match="CONFIG_ERR 8"):
        eng.run_job(cfg, np.zeros(cfg.in_beats(b) * 8, np.uint8))


@pytest.mark.parametrize("build", list(BUILDS))
@pytest.mark.parametrize("unfold", [None, True, False])
def test_activation_bounds_run_on_the_engine_model(build, unfold):
    """ReLU6- and Hardtanh-like bounds (engine 1.3's ACT) on convs, a fused pool and a
    linear, through every layout, slices and bands: equal to rtlcnn.reference."""
    prog = mp.bounded_program(0)
    pl = _run(prog, BUILDS[build], unfold, n=3)
    assert [lp.act for lp in pl.layers] == [(-128, 100), (-50, 60), (-50, 60), (-128, 127)]
    jobs = [lp.config(sl, b, True, lp.images_per_job) for lp in pl.layers for sl in lp.slices
            for b in lp.bands]
    assert all(c.act_word() == (0x6480 if c.relu else 0x3CCE) for c in jobs if c.has_bounds)
    x = mp.images(prog, 3, seed=3)
    loose = mp.without_bounds(prog)
    assert not np.array_equal(R.run_int(prog, x), R.run_int(loose, x))  # the bounds bite


def test_activation_bounds_need_an_engine_1_3():
    prog = mp.bounded_program(0)
    with pytest.raises(LayerNotSupported, match=r"op 0 \(relu6, conv2d\): activation bounds \[0, 100\].*"
                                                r"need engine version 1\.3.*this engine is 1\.2"):
        SC.plan(prog, S.Build(version_minor=2))
    # an engine 1.2 runs the same program without bounds as before
    _run(mp.without_bounds(prog), S.Build(version_minor=2), None)
