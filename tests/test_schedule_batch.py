"""LINEAR layers run several images per job (a 1x1 CONV over one input row per image),
checked on the numpy engine model against rtlcnn.reference bit for bit."""

import numpy as np
import pytest

from rtlcnn.board.accelerator import Network
from rtlcnn.core import reference as R
from rtlcnn.core import schedule as SC
from rtlcnn.core import stream as S
from rtlcnn.core.errors import AcceleratorError
from rtlcnn.core.program import Program
from rtlcnn.core.random_programs import lenet5, linear
from rtlcnn.sim.engine_model import EngineModel

#: small buffers: a 64-feature linear layer takes 16 input words per image, so 16 images
#: per job, and its weights come in output-channel slices
TINY = S.Build(p_oc=4, p_ic=4, wbuf_depth=64, ibuf_depth=256, pbuf_depth=16)


def _images(prog, n, seed=1):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, size=(n,) + tuple(prog.input_shape)).astype(np.float32)


def _run(prog, build, n, engine=None, residency=None, seed=1, **kw):
    """Execute on the engine model; every op's output must equal the reference's."""
    pl = SC.plan(prog, build)
    x = _images(prog, n, seed)
    recs = []
    outs = SC.execute(pl, prog.quantize_input(x), engine or EngineModel(build),
                      residency if residency is not None else SC.Residency(), "net",
                      on_job=lambda rec, raw: recs.append(rec), **kw)
    for i, (got, want) in enumerate(zip(outs, R.run_all_int(prog, x))):
        assert got.dtype == want.dtype and np.array_equal(got, want), f"op {i}, batch {n}"
    return pl, recs


def _sliced_linear_program(seed=0):
    """Two linear layers whose weights do not fit TINY together: 64 -> 30 in two slices."""
    rng = np.random.default_rng(seed)
    return Program((4, 4, 4), 1 / 64, [linear(rng, 64, 30, name="fc1"),
                                       linear(rng, 30, 7, relu=False, out_int32=True,
                                              name="fc2")], name="sliced").check()


@pytest.mark.parametrize("n", [1, 3, 64, 100])
def test_lenet_batches_are_bit_exact(n):
    prog = lenet5(seed=3)
    pl, recs = _run(prog, S.Build(), n)
    fcs = [lp for lp in pl.layers if lp.opcode == S.OPCODE_LINEAR]
    assert [lp.name for lp in fcs] == ["fc1", "fc2", "fc3"]
    assert pl.layers[2].images_per_job == S.Build().ibuf_depth // 50  # 400 features: 50 words
    assert pl.layers[4].images_per_job == SC.MAX_IMAGES_PER_JOB  # 84 features: IBUF allows 372
    for lp in pl.layers:
        mine = [r for r in recs if r.layer == lp.index]
        chunks = -(-n // lp.images_per_job)
        assert len(mine) == len(lp.slices) * len(lp.bands) * chunks == lp.jobs(n)
        # each image once per slice and band, in chunks of balanced sizes
        assert sorted(i for r in mine for i in r.images) == sorted(
            list(range(n)) * len(lp.slices) * len(lp.bands))
        sizes = [len(r.images) for r in mine]
        assert max(sizes) - min(sizes) <= 1 and max(sizes) <= lp.images_per_job
        assert all(r.image == r.images[0] for r in mine)
        for r in mine:
            if lp.opcode != S.OPCODE_LINEAR:
                continue
            c = r.cfg  # MACs of every image of the job, for the profiles
            assert c.check(S.Build()) == 0 and c.macs() == len(r.images) * c.in_c * c.out_c
            if len(r.images) > 1:
                assert (c.op, c.kernel, c.stride, c.pad, c.in_h, c.in_w) == (
                    S.OPCODE_CONV, 1, 1, (0, 0, 0, 0), len(r.images), 1)
    assert len(recs) == pl.jobs(n)
    if n == 100:  # fc1 (400 features) needs two chunks, fc2 and fc3 take all 100 at once
        assert [len([r for r in recs if r.layer == lp.index]) for lp in fcs] == [2, 1, 1]
    if n == 1:  # a lone image is a plain LINEAR job
        assert all(r.cfg.op == S.OPCODE_LINEAR for r in recs if r.layer >= 2)


def test_a_batch_chunks_into_balanced_jobs():
    lp = SC.plan(lenet5(seed=3), S.Build()).layers[2]
    per = lp.images_per_job
    for n in [0, 1, 2, per - 1, per, per + 1, 2 * per + 5, 1000]:
        ch = lp.chunks(n)
        assert len(ch) == -(-n // per)
        assert [i for a, b in ch for i in range(a, b)] == list(range(n))
        sizes = [b - a for a, b in ch]
        assert not sizes or (max(sizes) <= per and max(sizes) - min(sizes) <= 1)
    conv = SC.plan(lenet5(seed=3), S.Build()).layers[1]
    assert conv.images_per_job == 1 and conv.chunks(3) == [(0, 1), (1, 2), (2, 3)]


@pytest.mark.parametrize("n", [1, 5, 40])
def test_sliced_linear_layers_load_each_slice_once_per_batch(n):
    prog = _sliced_linear_program()
    eng, res = EngineModel(TINY), SC.Residency()
    pl, recs = _run(prog, TINY, n, engine=eng, residency=res)
    fc1 = pl.layers[0]
    assert not pl.all_resident and len(fc1.slices) == 2 and fc1.images_per_job == 16
    for lp in pl.layers:
        mine = [r for r in recs if r.layer == lp.index]
        assert len(mine) == len(lp.slices) * -(-n // lp.images_per_job)
        per_slice = len(mine) // len(lp.slices)
        for si, sl in enumerate(lp.slices):
            jobs = mine[si * per_slice:(si + 1) * per_slice]  # slice by slice
            assert all(r.cfg.out_c == sl.oc1 - sl.oc0 for r in jobs)
            # weights and parameters go with the slice's first job only
            assert [r.cfg.load_weights for r in jobs] == [True] + [False] * (per_slice - 1)
            assert [r.cfg.load_params for r in jobs] == [True] + [False] * (per_slice - 1)
    # the next batch reloads (the slices share one place on chip), still exact
    recs2 = _run(prog, TINY, n, engine=eng, residency=res, seed=2)[1]
    assert sum(r.cfg.load_weights for r in recs2) == sum(len(lp.slices) for lp in pl.layers)


def test_resident_weights_serve_both_job_kinds():
    """A batch of 1 (LINEAR jobs) after a batch of 3 (1x1 CONV jobs) reuses the weights."""
    prog, b = lenet5(seed=4), S.Build()
    eng, res = EngineModel(b), SC.Residency()
    recs = _run(prog, b, 3, engine=eng, residency=res)[1]
    assert sum(r.cfg.load_weights for r in recs) == 5
    for n in (1, 7, 3):
        recs = _run(prog, b, n, engine=eng, residency=res, seed=n)[1]
        assert not any(r.cfg.load_weights or r.cfg.load_params for r in recs)


def test_largest_job_is_the_planned_one_and_the_dma_limit_holds():
    prog = lenet5(seed=3)
    pl = SC.plan(prog, S.Build())
    sent = []

    class Recorder(EngineModel):
        def run_job(self, cfg, stream):
            raw = super().run_job(cfg, stream)
            sent.append((len(stream), len(raw)))
            return raw

    for n in sorted({lp.images_per_job for lp in pl.layers}):  # each layer's largest chunk
        _run(prog, S.Build(), n, engine=Recorder(S.Build()))
    assert (max(a for a, _ in sent), max(b for _, b in sent)) == pl.max_stream_bytes()
    # a DMA of 60,000 bytes: fc1's first job (51,200 weight bytes) takes fewer images
    lim = SC.plan(prog, S.Build(), max_transfer=60000)
    assert 1 < lim.layers[2].images_per_job < pl.layers[2].images_per_job
    assert max(lim.max_stream_bytes()) <= 60000
    sent.clear()
    sent.clear()
    x = prog.quantize_input(_images(prog, 64))
    SC.execute(lim, x, Recorder(S.Build()), SC.Residency(), "k")
    assert max(max(a, b) for a, b in sent) <= 60000
    # too small even for one image: one image a job (and Accelerator.load refuses the plan)
    assert SC.plan(prog, S.Build(), max_transfer=4096).layers[2].images_per_job == 1


def test_cost_model_amortizes_the_job_overhead():
    pl = SC.plan(lenet5(seed=3), S.Build())
    assert pl.est_cycles(1) == sum(lp.est_cycles for lp in pl.layers) + pl.est_cycles(0)
    assert pl.est_cycles(64) < 64 * (pl.est_cycles(1) - pl.est_cycles(0)) + pl.est_cycles(0)
    for lp in pl.layers[2:]:
        assert lp.batch_cycles(1, pl.build) == lp.est_cycles
        assert lp.batch_cycles(64, pl.build) < 64 * lp.est_cycles
    assert pl.jobs(1) == pl.jobs_per_image() == 5 and pl.jobs(64) == 64 + 64 + 3
    text = pl.summary()
    assert "fc1" in text and "images a job" in text


class _Acc:
    """What Network needs of an Accelerator, on the engine model; job ``fail_at`` raises."""

    def __init__(self, build, fail_at=None):
        self.build = build
        self.engine = EngineModel(build)
        self.residency = SC.Residency()
        self.clock_mhz = 100.0
        self.fail_at = fail_at
        self.jobs = 0

    def run_job(self, cfg, stream):
        if self.jobs == self.fail_at:
            self.residency.clear()
            raise AcceleratorError("injected failure")
        self.jobs += 1
        return self.engine.run_job(cfg, stream)

    def read_counters(self):
        return (100, 50, 0, 0)


def test_profile_counts_every_image_of_a_batched_job():
    prog = lenet5(seed=3)
    pl = SC.plan(prog, S.Build())
    net = Network(_Acc(S.Build()), prog, pl, "net")
    x = _images(prog, 40)
    assert np.array_equal(net.predict_int(x, batch_size=20), R.run_int(prog, x))
    prof = net.profile()
    assert [p["jobs"] for p in prof] == [2 * lp.jobs(20) for lp in pl.layers]
    assert [p["macs"] for p in prof] == [40 * op.macs(s) for op, s in zip(
        prog.ops, [prog.input_shape] + prog.shapes()[:-1])]
    assert net.totals()["macs"] == 40 * prog.macs()


def test_images_of_a_finished_chunk_are_completed_when_a_later_chunk_fails():
    prog = _sliced_linear_program()
    pl = SC.plan(prog, TINY)
    last = pl.layers[-1]
    n = 2 * last.images_per_job + 6  # the last layer: one slice, three chunks
    chunks = last.chunks(n)
    assert len(last.slices) == 1 and len(chunks) == 3
    before = pl.layers[0].jobs(n)
    x = _images(prog, n)
    want = R.run_int(prog, x)
    for k, (i0, _) in enumerate(chunks):
        done = list(range(i0))  # the images of the chunks before the failed one
        net = Network(_Acc(TINY, fail_at=before + k), prog, pl, "net")
        with pytest.raises(AcceleratorError) as info:
            net.predict_int(x, batch_size=n)
        e = info.value
        assert e.completed == done
        assert np.array_equal(e.partial_output[done], want[done])
        assert not e.partial_output[len(done):].any()
    out, completed = np.zeros_like(want), []
    SC.execute(pl, prog.quantize_input(x), EngineModel(TINY), SC.Residency(), "k",
               out=out, completed=completed)
    assert completed == list(range(n)) and np.array_equal(out, want)
