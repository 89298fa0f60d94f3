"""Command streams (engine 1.5) in Python: headers, the engine model, the runner's batching.

The RTL side is tests/rtl/tb_cmd.py; the mock board runs them end to end (tests/mock).
"""

import numpy as np
import pytest

from rtlcnn.core import commands as C
from rtlcnn.core import reference as R
from rtlcnn.core import regs
from rtlcnn.core import schedule as SC
from rtlcnn.core import stream as S
from rtlcnn.core import unfold as U
from rtlcnn.core.errors import AcceleratorError
from rtlcnn.core.program import Program
from rtlcnn.core.random_programs import conv, lenet5
from rtlcnn.sim.engine_model import EngineModel

B = S.Build()


def _random_cfg(rng) -> S.JobConfig:
    kind = rng.integers(0, 4)
    if kind == 0:
        c, h, w = (int(v) for v in rng.integers(1, 9, 3))
        ma, mb = (int(v) for v in rng.integers(0, 2**16, 2))
        return S.JobConfig.add(c, h, w, ma, mb, int(rng.integers(1, 63)), relu=bool(rng.integers(0, 2)),
                               act_min=-20, act_max=int(rng.integers(0, 128)))
    if kind == 1:
        return S.JobConfig.linear(int(rng.integers(1, 300)), int(rng.integers(1, 40)), out_int32=True,
                                  load_weights=bool(rng.integers(0, 2)), wbase=int(rng.integers(0, 100)))
    if kind == 2:
        return S.JobConfig.pool2d("avg", int(rng.integers(1, 30)), 6, 4)
    k = int(rng.integers(1, 8))
    return S.JobConfig(in_c=int(rng.integers(1, 40)), in_h=12, in_w=9, out_c=int(rng.integers(1, 40)),
                       kernel=k, kernel_w=int(rng.integers(0, 8)), stride=int(rng.integers(1, 3)),
                       pad=tuple(int(v) for v in rng.integers(0, 16, 4)), pool=int(rng.integers(0, 3)),
                       relu=True, pair=bool(rng.integers(0, 2)), pbase=int(rng.integers(0, 900)),
                       act_min=int(rng.integers(-128, 0)), act_max=int(rng.integers(0, 128)))


def test_headers_hold_the_twelve_registers_and_read_back():
    rng = np.random.default_rng(0)
    for i in range(300):
        cfg = _random_cfg(rng)
        h = C.command_header(cfg, last=bool(i % 2))
        assert len(h) == regs.CMD_HEADER_BEATS * 8
        w = h.view("<u4")
        assert w[0] == regs.CMD_MAGIC and w[1] == i % 2 and not w[14] and not w[15]
        assert list(w[2:14]) == list(cfg.registers().values())
        assert C.parse_header(h) == (cfg, bool(i % 2), C.STREAMED)
        place = C.Place(*(None if v < 0 else int(v) for v in rng.integers(-1, 65536, 3)))
        h = C.command_header(cfg, last=False, place=place)
        assert C.parse_header(h) == (cfg, False, place)
        assert h.view("<u4")[1] == place.flags() and place.flags() >> 4 == 0


@pytest.mark.parametrize("word, value", [(0, 0x52434E4E), (1, 32), (1, 1 << 31), (1, 1 << 21),
                                         (1, 1 << 8), (1, 1 << 20), (15, 1 << 16)])
def test_a_bad_header_is_config_error_14(word, value):
    h = C.command_header(S.JobConfig.linear(8, 8), last=True).view("<u4").copy()
    h[word] = value
    with pytest.raises(C.HeaderError, match="not a command header: a command header does not start"):
        C.parse_header(h.view(np.uint8))
    assert regs.config_error_text(regs.CFG_HEADER).startswith("a command header")


@pytest.mark.parametrize("layout", ["kx", "pair"])
def test_an_in_taps_job_builds_the_hosts_layout_from_the_feature_buffer(layout):
    """IN_TAPS (engine 1.6): the I section built from a one-beat-a-pixel map in the feature
    buffer is, byte for byte, the stream of the host's kx / pair layout (rtlcnn.core.unfold);
    its header reads back, and the engine's checks (CONFIG_ERR 16) are those of Taps.problem."""
    b = S.Build()
    rng = np.random.default_rng(1)
    for c, k, pad, h, w in [(6, 5, 0, 14, 14), (3, 3, 1, 9, 11), (8, 3, 2, 5, 6), (1, 5, 2, 6, 28),
                            (5, 7, 3, 8, 9)]:
        x = rng.integers(-128, 128, (1, c, h, w)).astype(np.int8)
        if layout == "kx":
            xe, t, step = U.kx_input(x, k, pad)[0], k, 1
        else:
            xe, t, step = U.pair_input(x, k, pad)[0], k + 1, 2
        fb = np.zeros(b.fbuf_depth, "<u8")
        base = 37
        pix = np.zeros((h, w, 8), np.int8)
        pix[:, :, :c] = x[0].transpose(1, 2, 0)
        fb[base:base + h * w] = pix.reshape(-1).view("<u8")
        cfg = S.JobConfig(in_c=xe.shape[0], in_h=h, in_w=xe.shape[2], out_c=4, kernel=k, kernel_w=1,
                          pad=(pad, pad, 0, 0), pair=layout == "pair",
                          pool=S.POOL_MAX if layout == "pair" else 0, load_params=False, load_weights=False)
        place = C.Place(in_base=base, taps=C.Taps(c=c, t=t, pad=pad, step=step, src_w=w))
        want = S.job_stream(cfg, b, None, None, xe)[-cfg.input_beats(b) * 8:]
        assert np.array_equal(C.tap_map(fb, cfg, place, b), want)
        hd = C.command_header(cfg, last=False, place=place)
        assert C.parse_header(hd) == (cfg, False, place)
        assert C.check_place(cfg, place, False, b) == 0
        assert C.stream_part_beats(cfg, b, place) == cfg.in_beats(b) - cfg.input_beats(b)
        bad = [C.Place(taps=place.taps),  # no IN_FBUF
               C.Place(in_base=b.fbuf_depth - h * w + 1, taps=place.taps),  # past the buffer
               C.Place(in_base=base, taps=C.Taps(c=c, t=t + 1, pad=pad, step=step, src_w=w))]  # IN_C
        for p in bad:
            assert C.check_place(cfg, p, False, b) == regs.CFG_TAPS
        assert C.check_place(cfg, place, False, S.Build(version_minor=5)) == regs.CFG_TAPS
        assert C.check_place(cfg, place, False, S.Build(p_ic=4)) == regs.CFG_TAPS


def _jobs(rng, n):
    """n LINEAR jobs (the first loads its weights, the rest reuse them) with inputs."""
    w = rng.integers(-127, 128, (24, 40)).astype(np.int8)
    p = (rng.integers(-500, 500, 24), rng.integers(2**29, 2**30, 24), np.full(24, -12))
    cfgs, streams = [], []
    for i in range(n):
        cfg = S.JobConfig.linear(40, 24, relu=True, load_params=i == 0, load_weights=i == 0)
        cfgs.append(cfg)
        streams.append(S.job_stream(cfg, B, p if i == 0 else None, w if i == 0 else None,
                                    rng.integers(-128, 128, 40).astype(np.int8)))
    return cfgs, streams


def test_the_engine_model_runs_a_stream_as_its_jobs_one_by_one():
    rng = np.random.default_rng(1)
    cfgs, streams = _jobs(rng, 5)
    data = C.command_stream(cfgs, streams)
    assert len(data) == C.command_in_beats(cfgs, B) * 8
    out = EngineModel(B).run_commands(cfgs, data)
    one = EngineModel(B)
    assert out == b"".join(one.run_job(c, s) for c, s in zip(cfgs, streams))
    assert len(out) == C.command_out_beats(cfgs) * 8
    parts = C.split_output(np.frombuffer(out, np.uint8), cfgs)
    assert [len(p) for p in parts] == [c.out_beats() * 8 for c in cfgs]
    assert bytes(parts[0]) == EngineModel(B).run_job(cfgs[0], streams[0])
    for bad, why in ((data[:-16], "ends inside job 4"), (data[:32], "inside job 0's header"),
                     (data[:-8], "ends before its END beat"),
                     (np.concatenate([data[:-8], np.zeros(8, np.uint8)]), "is not END"),
                     (np.concatenate([data, np.zeros(8, np.uint8)]), "8 bytes follow")):
        with pytest.raises(ValueError, match=why):
            EngineModel(B).run_commands(None, bad)
    with pytest.raises(ValueError, match="headers are not the jobs given"):
        EngineModel(B).run_commands(cfgs[:1] + cfgs[:1] * 4, data)
    with pytest.raises(ValueError, match="no command streams"):
        EngineModel(S.Build(version_minor=4)).run_commands(cfgs, data)


class Counting(EngineModel):
    """The engine model, counting transfers (a command stream or a job: one each way)."""

    def __init__(self, build, fail_at=None, **kw):
        super().__init__(build)
        self.transfers, self.streamed, self.fail_at = 0, 0, fail_at
        for k, v in kw.items():
            setattr(self, k, v)

    def run_job(self, cfg, stream):
        if self.fail_at is not None and self.jobs == self.fail_at:
            raise AcceleratorError(f"job {self.jobs} failed")
        return super().run_job(cfg, stream)

    def run_commands(self, cfgs, stream):
        self.transfers += 1
        self.streamed += len(cfgs)
        if self.fail_at is not None and self.jobs + len(cfgs) > self.fail_at:
            k = self.fail_at - self.jobs
            good = C.command_stream(cfgs[:k], list(_inputs(cfgs, stream, k))) if k else None
            out = super().run_commands(cfgs[:k], good) if k else b""
            exc = AcceleratorError(f"job {k} of the stream failed")
            exc.jobs_done, exc.commands_output = k, np.frombuffer(out, np.uint8)
            raise exc
        return super().run_commands(cfgs, stream)


def _inputs(cfgs, stream, k):
    """The first k jobs' input streams (headers dropped) of a command stream."""
    pos, hb = 0, regs.CMD_HEADER_BEATS * 8
    for cfg in cfgs[:k]:
        n = cfg.in_beats(B) * 8
        yield stream[pos + hb:pos + hb + n]
        pos += hb + n


def test_a_batch_is_one_transfer_per_layer_and_bit_exact():
    prog = lenet5(seed=0)
    x = np.random.default_rng(2).uniform(0, 1, (64,) + tuple(prog.input_shape)).astype(np.float32)
    xq = prog.quantize_input(x)
    pl = SC.plan(prog, B)
    eng = Counting(B)
    got = SC.execute(pl, xq, eng, SC.Residency(), "k")
    np.testing.assert_array_equal(got[-1], R.run_int(prog, x))
    # conv1 and conv2: one stream each for the 64 images; fc1..fc3: one job each (64 images a job)
    assert eng.jobs == pl.jobs(64) == 131 and eng.streamed == 128 and eng.transfers == 2
    # a transfer limit splits the streams, never a job, and changes no bit
    small = Counting(B, max_command_bytes=20000)
    got2 = SC.execute(pl, xq, small, SC.Residency(), "k")
    np.testing.assert_array_equal(got2[-1], got[-1])
    assert small.transfers > 2 and small.jobs == 131
    # an engine before 1.5 runs the same plan job by job
    old = Counting(S.Build(version_minor=4))
    np.testing.assert_array_equal(SC.execute(pl, xq, old, SC.Residency(), "k")[-1], got[-1])
    assert old.transfers == 0 and old.jobs == 131


def test_a_failed_stream_keeps_the_images_done_before_it():
    """Job 4 of a layer's stream fails: the images whose jobs came before it are complete
    (``completed``, their rows of ``out``), the others are not."""
    rng = np.random.default_rng(3)
    ops = [conv(rng, 3, 8, 3, padding=1), conv(rng, 8, 5, 3, relu=False, out_int32=True)]
    prog = Program(input_shape=(3, 10, 10), input_scale=1 / 127, name="two convs", ops=ops).check()
    x = rng.uniform(0, 1, (7,) + tuple(prog.input_shape)).astype(np.float32)
    pl = SC.plan(prog, B, unfold=False)
    assert [lp.jobs(7) for lp in pl.layers] == [7, 7]
    out = np.zeros((7,) + tuple(pl.layers[-1].out_shape), np.int32)
    done = []
    eng = Counting(B, fail_at=7 + 4)
    with pytest.raises(AcceleratorError, match="job 4 of the stream failed"):
        SC.execute(pl, prog.quantize_input(x), eng, SC.Residency(), "k", out=out, completed=done)
    want = R.run_int(prog, x)
    assert done == [0, 1, 2, 3]
    np.testing.assert_array_equal(out[:4], want[:4])
    assert not out[4:].any()
