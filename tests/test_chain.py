"""Chained segments (engine 1.5): activations in the feature buffer between layers.

On the numpy engine model: random graph programs, the zoo architectures and the shipped
models run with ``chain=True`` equal rtlcnn.reference bit for bit, in fewer command streams
than layers; the segments obey their rules (tests/mock runs them on the RTL).
"""

import numpy as np
import pytest
from test_add_engine import sixteen_bit_adds

from rtlcnn import models
from rtlcnn.core import chain as CH
from rtlcnn.core import chain_run as CR
from rtlcnn.core import commands as C
from rtlcnn.core import random_programs as RP
from rtlcnn.core import reference as R
from rtlcnn.core import schedule as SC
from rtlcnn.core import stream as S
from rtlcnn.core import unfold as U
from rtlcnn.core.program import Program
from rtlcnn.core.random_programs import conv, linear
from rtlcnn.sim.engine_model import EngineModel

B = S.Build()
B15 = S.Build(version_minor=5)  # command streams, no IN_TAPS
TINY = S.Build(p_oc=4, p_ic=4, wbuf_depth=512, ibuf_depth=1024, pbuf_depth=128, fbuf_depth=256)


class Streams(EngineModel):
    """The engine model, counting command streams and the beats that crossed the DMA."""

    def __init__(self, build):
        super().__init__(build)
        self.streams = self.beats_sent = 0

    def run_commands(self, cfgs, stream, places=None):
        self.streams += 1
        self.beats_sent += len(stream) // 8
        return super().run_commands(cfgs, stream, places)


def run_chained(prog, build, n=3, seed=1, unfold=None):
    pl = SC.plan(prog, build, unfold=unfold)
    x = np.random.default_rng(seed).uniform(-1, 1, (n,) + tuple(prog.input_shape)).astype(np.float32)
    out = np.zeros((n,) + tuple(prog.output_shape), np.int32 if prog.ops[-1].out_int32 else np.int8)
    done = []
    eng = Streams(build)
    res = SC.Residency()
    outs = SC.execute(pl, prog.quantize_input(x), eng, res, "net", out=out, completed=done, chain=True)
    want = R.run_all_int(prog, x)
    eng.first_streams = eng.streams
    # again, the weights on chip: the segments run from their prepared streams
    again = np.zeros_like(out)
    outs2 = SC.execute(pl, prog.quantize_input(x), eng, res, "net", out=again, chain=True)
    np.testing.assert_array_equal(outs2[-1], want[-1])
    np.testing.assert_array_equal(again, want[-1])
    eng.prepared = [v for v in pl.__dict__.get("_prepared", {}).values() if v is not None]
    np.testing.assert_array_equal(outs[-1], want[-1])
    np.testing.assert_array_equal(out, want[-1])
    assert sorted(done) == list(range(n))
    for lp, got, w in zip(pl.layers, outs, [want[lp.index] for lp in pl.layers]):
        if got is not None:  # a segment's last layer (the others stay on chip)
            np.testing.assert_array_equal(got, w, err_msg=f"op {lp.index} ({lp.name})")
    return pl, eng


def _check_rules(pl):
    segs = CH.segments(pl)
    assert [s.first for s in segs] == [0] + [s.last + 1 for s in segs[:-1]]
    assert segs[-1].last == len(pl.layers) - 1
    srcs = pl.program.sources()
    pos = {lp.index: i for i, lp in enumerate(pl.layers)}
    for s in segs:
        live = []
        for k in range(s.first, s.last):  # internal tensors: read only inside the segment
            readers = [q for q, lp in enumerate(pl.layers) if pl.layers[k].index in srcs[lp.index]]
            assert readers and max(readers) <= s.last and min(readers) > k
            lo, hi = s.regions[k], s.regions[k] + s.chunk * s.strides[k]  # a chunk's outputs
            assert 0 <= lo and hi <= pl.build.fbuf_depth
            assert s.strides[k] == CH.out_beats(s.plan(pl.layers, k))
            live = [r for r in live if r[2] >= k]
            assert not any(a < hi and lo < b for a, b, _ in live), (k, live)  # no live tensor overwritten
            live.append((lo, hi, max(readers)))
        for k in range(s.first, s.last + 1):
            lp = s.plan(pl.layers, k)
            # after the first, a layer reads the buffer as is, or builds kx / pair from it (1.6)
            assert lp.index == pl.layers[k].index and (
                k == s.first or lp.layout is None or CH.taps_ok(s.plan(pl.layers, k - 1), lp, pl.build)
                or CH.taps_ok(pl.layers[k - 1], lp, pl.build))
            if lp is not pl.layers[k] and lp.has_weights:  # a variant: the same weight words
                assert CH._weight_beats(lp, pl.build) == CH._weight_beats(pl.layers[k], pl.build)
            if k in s.batched:
                assert lp.opcode == S.OPCODE_LINEAR and s.chunk > 1
            for src in srcs[pl.layers[k].index]:
                p = pos.get(src)
                assert p is None or p >= s.first or p in {t.last for t in segs}  # from the buffer or the host
    return segs


def test_lenet_is_one_segment_and_bit_exact():
    prog = models.load("lenet5_mnist")
    for build, unfold in ((B, None), (B, True), (B15, None), (B, False)):
        pl, eng = run_chained(prog, build, n=6, unfold=unfold)
        segs = _check_rules(pl)
        # conv1 (pair layout: its input comes from the host) .. fc3 on chip, conv1's 6
        # channels padded to 8 (one beat a pixel), fc2's 84 outputs to 88 so that the
        # LINEARs take the chunk's images in one job each; conv2 in the kx layout, which the
        # engine builds from conv1's map in the buffer (IN_TAPS, 1.6: its six real channels
        # of each beat); engine 1.5 cannot, so there conv2 reads the buffer as is
        assert [(s.first, s.last) for s in segs] == [(0, 4)]
        taps = build is B and unfold is not False
        assert pl.layers[1].layout == ("kx" if taps else None)
        assert pl.layers[0].layout == (None if unfold is False else "pair")
        seg = segs[0]
        assert seg.plan(pl.layers, 0).out_shape[0] == 8
        assert seg.plan(pl.layers, 1).engine_in[0] == (30 if taps else 8)
        places = [sp.place for sp in CR.chunk_jobs(pl, seg, 2) if sp.k == 1]
        assert all((p.taps == C.Taps(c=6, t=5, pad=0, step=1, src_w=14)) == taps for p in places)
        assert seg.plan(pl.layers, 3).out_shape == (88,) and seg.plan(pl.layers, 4).engine_in[0] == 88
        assert seg.batched == {2, 3, 4} and seg.chunk >= 32
        assert eng.first_streams == 1 and len(eng.prepared) == 1  # (the next call: prepared)
        # what Accelerator.load does: the streams of a batch of 64 built before any call
        assert CR.prepare(pl, eng, 64) == 1 and CR.prepare(pl, EngineModel(S.Build(version_minor=4)), 64) == 0
        assert CR._cached(pl, seg, eng, 64) is CR._cached(pl, seg, eng, 64)


@pytest.mark.parametrize("c", [3, 5, 8])
def test_a_pair_layer_builds_its_layout_from_the_buffer(c):
    pl, _ = run_chained(RP.taps_chain(c), B, n=3)
    segs = _check_rules(pl)
    assert [(s.first, s.last) for s in segs] == [(0, 2)] and pl.layers[1].layout == "pair"
    taps = [sp.place.taps for sp in CR.chunk_jobs(pl, segs[0], 1)]
    assert taps == [None, C.Taps(c=c, t=6, pad=2, step=2, src_w=16), None]
    pl15, _ = run_chained(RP.taps_chain(c), B15, n=3)  # engine 1.5: the host lays pair out (two
    host = pl15.layers[1].layout == "pair"               # segments), or the conv runs as is
    assert len(CH.segments(pl15)) == 1 + host and pl15.layers[1].layout in (None, "pair")


def test_resnet_runs_on_chip_up_to_its_global_pool():
    prog = models.load("resnet_mnist")
    pl, eng = run_chained(prog, B, n=3)
    segs = _check_rules(pl)
    assert max(s.last - s.first + 1 for s in segs) >= len(pl.layers) - 2
    assert eng.first_streams == len(segs) < len(pl.layers)
    assert len(eng.prepared) == len(segs)


@pytest.mark.parametrize("build", [B, TINY], ids=["default", "tiny"])
def test_random_graph_programs_chain_bit_exact(build):
    chained = 0
    for seed in range(30):
        prog = sixteen_bit_adds(RP.graph(seed, input_shape=(3, 16, 16), blocks=4))
        try:
            pl, eng = run_chained(prog, build, n=2, seed=seed)
        except Exception as e:  # (a program the tiny build cannot hold)
            if type(e).__name__ == "LayerNotSupported" and build is TINY:
                continue
            raise
        segs = _check_rules(pl)
        chained += sum(s.chained for s in segs)
    assert chained >= 10


def test_a_small_feature_buffer_shortens_the_segments():
    rng = np.random.default_rng(4)
    ops = [conv(rng, 8, 8, 3, padding=1, name=f"c{i}") for i in range(4)] + [linear(rng, 8 * 12 * 12, 10)]
    prog = Program(input_shape=(8, 12, 12), input_scale=1 / 127, name="chain", ops=ops).check()
    beats = 12 * 12 * 8 // 8  # one map
    for depth, want in ((8192, [(0, 4)]), (2 * beats, [(0, 4)]), (beats, [(0, 1), (2, 3), (4, 4)])):
        build = S.Build(fbuf_depth=depth)
        pl, eng = run_chained(prog, build, n=2)
        assert [(s.first, s.last) for s in _check_rules(pl)] == want, depth
    # an engine before 1.5 runs the same plan layer by layer
    pl = SC.plan(prog, S.Build(version_minor=4))
    assert [(s.first, s.last) for s in CH.segments(pl)] == [(i, i) for i in range(5)]


def test_streams_cross_the_dma_once_per_segment():
    """What a chained LeNet batch sends: the images, the weights once, a header a job and
    one END beat; nothing of conv2 .. fc3's inputs."""
    prog = models.load("lenet5_mnist")
    pl = SC.plan(prog, B)
    n = 64
    x = np.random.default_rng(0).uniform(0, 1, (n,) + tuple(prog.input_shape)).astype(np.float32)
    x = prog.quantize_input(x)
    eng = Streams(B)
    res = SC.Residency()
    SC.execute(pl, x, eng, res, "k", chain=True)
    sent_first = eng.beats_sent
    eng.beats_sent = eng.streams = 0
    macs = []
    SC.execute(pl, x, eng, res, "k", chain=True, on_job=lambda rec, raw: macs.append(rec.macs))

    assert eng.streams == 1  # (the weights were on chip)
    assert sum(macs) == prog.macs() * n  # the layers' own MACs, not those of the zero channels
    seg = CH.segments(pl)[0]
    conv1 = pl.layers[0].config(pl.layers[0].slices[0], pl.layers[0].bands[0], False, 1)
    chunks = -(-n // seg.chunk)
    jobs = sum(len(CR.chunk_jobs(pl, seg, c)) for c in (n // chunks,) * chunks)
    assert jobs == 2 * n + 3 * chunks  # conv1 and conv2 an image; fc1, fc2, fc3 a chunk
    assert eng.beats_sent == n * conv1.in_beats(B) + jobs * C.CMD_HEADER_BEATS + 1
    assert sent_first > eng.beats_sent


def test_a_failed_chained_stream_says_which_images_have_results():
    """An engine error in a chunk's last layer: the images before it have their outputs."""
    prog = models.load("lenet5_mnist")
    pl = SC.plan(prog, B)
    n = 40
    x = prog.quantize_input(np.random.default_rng(2).uniform(0, 1, (n,) + tuple(prog.input_shape))
                            .astype(np.float32))
    want = R.run_all_int(prog, x)[-1]
    class Failing(EngineModel):
        fail = False

        def run_commands(self, cfgs, stream, places=None):
            if not self.fail:
                return super().run_commands(cfgs, stream, places)
            bad = len(cfgs) - 1  # the second chunk's fc3 job: its images complete last
            good = super().run_commands(cfgs, stream, places)  # (as if job `bad` had failed)
            exc = RuntimeError(f"engine error in job {bad}")
            exc.jobs_done = bad
            exc.commands_output = good[:int(C.output_offsets(cfgs[:bad], places[:bad])[-1])]
            raise exc

    out = np.zeros((n,) + tuple(prog.output_shape), np.int32)
    done = []
    eng, res = Failing(B), SC.Residency()
    SC.execute(pl, x, eng, res, "k", chain=True)  # weights on chip: prepared next
    eng.fail = True
    with pytest.raises(RuntimeError, match="engine error"):
        SC.execute(pl, x, eng, res, "k", out=out, completed=done, chain=True)
    seg = CH.segments(pl)[0]
    first = -(-n // -(-n // seg.chunk))  # the first chunk's images
    assert sorted(done) == list(range(first))
    np.testing.assert_array_equal(out[:first], want[:first])


class Overlapping(EngineModel):
    """The engine model behind start_commands / finish_commands, as the Accelerator: it
    records the order of starts, finishes and slot writes, and can fail a stream."""

    def __init__(self, build):
        super().__init__(build)
        self.log, self.fail_at, self.started = [], None, 0

    def start_commands(self, cfgs, stream, places=None):
        self.started += 1
        self.log.append(("start", self.started))
        if self.started == self.fail_at:
            bad = len(cfgs) // 2
            good = self.run_commands(cfgs, stream, places)
            exc = RuntimeError(f"engine error in job {bad} of stream {self.started}")
            exc.jobs_done = bad
            exc.commands_output = good[:int(C.output_offsets(cfgs[:bad], places[:bad])[-1])]
            return exc
        return self.run_commands(cfgs, np.array(stream), places)  # (its own copy, as the DMA's)

    def finish_commands(self, ticket):
        self.log.append(("finish", self.started))
        if isinstance(ticket, Exception):
            raise ticket
        return ticket

    def cancel_commands(self, ticket, exc=None):
        self.log.append(("cancel", self.started))


def test_batches_run_prepared_while_the_engine_runs_the_one_before(monkeypatch):
    prog = models.load("lenet5_mnist")
    pl = SC.plan(prog, B)
    n, bs = 70, 32  # batches of 32, 32 and 6
    x = prog.quantize_input(np.random.default_rng(3).uniform(0, 1, (n,) + tuple(prog.input_shape))
                            .astype(np.float32))
    want = R.run_all_int(prog, x)[-1]
    eng, res = Overlapping(B), SC.Residency()
    out, done = np.zeros((n,) + tuple(prog.output_shape), np.int32), []
    assert not CR.run_batches(pl, x, bs, eng, res, "k", None, out, done)  # weights not on chip: no
    SC.execute(pl, x[:bs], eng, res, "k", chain=True)  # (the first batch loads them)
    fill = CR.Prepared._fill
    monkeypatch.setattr(CR.Prepared, "_fill",
                        lambda self, t, src: (eng.log.append(("fill",)), fill(self, t, src)))
    eng.log.clear()
    assert CR.run_batches(pl, x, bs, eng, res, "k", None, out, done)
    np.testing.assert_array_equal(out, want)
    assert sorted(done) == list(range(n))
    # one stream a batch, one at a time on the engine; a batch's images go into their
    # slots while the engine runs the batch before (before that one is finished)
    assert [e[0] for e in eng.log] == ["fill", "start", "fill", "finish", "start", "fill", "finish", "start",
                                       "finish"]
    # a failure in the second batch: the first batch and the jobs before the failed one
    eng.fail_at, eng.started = 2, 0
    out[:] = 0
    done.clear()
    with pytest.raises(RuntimeError, match="stream 2"):
        CR.run_batches(pl, x, bs, eng, res, "k", None, out, done)
    assert done[:bs] == list(range(bs)) and all(bs <= i < 2 * bs for i in done[bs:])
    np.testing.assert_array_equal(out[done], want[done])
    assert not out[2 * bs:].any()


def test_prepared_slots_hold_the_host_layout_with_zero_lanes():
    """LeNet's conv1 (pair layout, one channel) fills its slots a 64-bit word a pixel: each
    holds the pixel's six taps and two zero lanes, as job_stream lays the map out."""
    prog = models.load("lenet5_mnist")
    pl = SC.plan(prog, B)
    n = 5
    x = prog.quantize_input(np.random.default_rng(7).uniform(0, 1, (n,) + tuple(prog.input_shape))
                            .astype(np.float32))
    eng, res = EngineModel(B), SC.Residency()
    SC.execute(pl, x, eng, res, "k", chain=True)
    seg = CH.segments(pl)[0]
    prep = CR._prepared(pl, seg, eng, res, "k", n)
    assert prep.mask == (1 << 48) - 1
    t = prep.transfers[0]
    prep._fill(t, prep._source({-1: x}, n))
    lp = pl.layers[0]
    cfg = lp.config(lp.slices[0], lp.bands[0], False, 1)
    want = U.pair_input(x, 5, 2)  # (N, 6, 28, 14)
    hb = C.CMD_HEADER_BEATS * 8
    for img in range(n):
        off = img * (hb + cfg.in_beats(B) * 8) + hb  # conv1's jobs come first in the chunk
        got = t.data[off:off + 28 * 14 * 8].reshape(28, 14, 8)
        np.testing.assert_array_equal(got[..., :6].view(np.int8), want[img].transpose(1, 2, 0))
        assert not got[..., 6:].any()
        stream = S.job_stream(cfg, B, None, None, want[img])  # the register path's I section
        np.testing.assert_array_equal(t.data[off:off + len(stream)], stream)


def test_a_small_dma_limit_makes_the_prepared_chunks_smaller():
    """A transfer limit below a chunk's stream: the prepared batch takes fewer images a
    chunk (and several transfers), still bit-exact, not the job-by-job path."""
    prog = models.load("lenet5_mnist")
    pl = SC.plan(prog, B)
    n = 20
    x = prog.quantize_input(np.random.default_rng(8).uniform(0, 1, (n,) + tuple(prog.input_shape))
                            .astype(np.float32))
    eng = Streams(B)
    eng.max_command_bytes = 40_000  # about ten of conv1's 3,200-byte image parts
    res = SC.Residency()
    SC.execute(pl, x, eng, res, "k", chain=True)
    eng.streams = 0
    y = SC.execute(pl, x, eng, res, "k", chain=True)[-1]
    np.testing.assert_array_equal(y, R.run_all_int(prog, x)[-1])
    prep = CR._prepared(pl, CH.segments(pl)[0], eng, res, "k", n)
    assert prep is not None and len(prep.transfers) == eng.streams >= 2
    assert all(len(t.data) <= eng.max_command_bytes for t in prep.transfers)


def test_weights_that_do_not_all_fit_stay_on_chip_as_far_as_they_fit():
    """Twenty convs on a build whose weight buffer holds fourteen: the first layers get
    places of their own (on chip from batch to batch, chained), the rest share the room
    left; bit-exact, and the second call sends only the shared layers' weights again."""
    rng = np.random.default_rng(9)
    ops = [conv(rng, 8, 8, 3, padding=1, name=f"c{i}") for i in range(20)]
    prog = Program(input_shape=(8, 6, 6), input_scale=1 / 127, name="deep", ops=ops).check()
    pl = SC.plan(prog, TINY)
    assert not pl.all_resident
    bases = [lp.slices[0].wbase for lp in pl.layers]
    words = pl.layers[0].slices[0].words
    k = TINY.wbuf_depth // words - 1  # (the last place: the shared room's start)
    assert bases[:k] == [i * words for i in range(k)] and len(set(bases[k:])) == 1
    alone, total = SC.resident_slices(pl.layers)
    assert alone == k and total == 20 and f"of {k} of 20 slices resident" in pl.summary()
    pl, eng = run_chained(prog, TINY, n=3)
    segs = _check_rules(pl)
    assert segs[0].first == 0 and segs[0].last >= k - 1  # the resident layers chain
    loads = []
    SC.execute(pl, prog.quantize_input(np.random.default_rng(2).uniform(-1, 1, (2, 8, 6, 6))
                                        .astype(np.float32)), eng, SC.Residency(), "net2", chain=True)
    res = SC.Residency()
    x = prog.quantize_input(np.random.default_rng(3).uniform(-1, 1, (2, 8, 6, 6)).astype(np.float32))
    SC.execute(pl, x, eng, res, "n3", chain=True)
    SC.execute(pl, x, eng, res, "n3", chain=True,
               on_job=lambda rec, raw: loads.append(rec.cfg.load_weights))
    assert 0 < sum(loads) <= 20 - k + 1  # (the shared room's layers only)
