"""cocotb tests of rtlcnn_top's command streams (engine 1.5): many jobs in one transfer.

Run through tests/rtl/test_rtl.py. A command stream's output must equal, byte for byte,
the outputs the same jobs give one by one (each checked against rtlcnn.reference), under
input stalls and output backpressure; errors in a stream (bad header, rejected
configuration, TLAST early or missing) end both packets, name the job in JOB_INDEX and
leave the engine ready for the next job.
"""

import itertools
import os
from dataclasses import replace

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, RisingEdge
from tb_top import TB, expected, make_add, make_layer, random_add, random_cfg, random_params

from rtlcnn.core import commands as C
from rtlcnn.core import reference, regs, unfold
from rtlcnn.core import stream as st
from rtlcnn.core.stream import JobConfig


def out_bytes(cfg: JobConfig, y) -> bytes:
    """A job's output stream (HWC values, padded to whole beats)."""
    b = y.transpose(1, 2, 0).astype(np.int32 if cfg.out_int32 else np.int8).tobytes()
    return b + bytes(-len(b) % 8)


def random_jobs(rng, b, n: int):
    """n random jobs with their input streams and expected outputs; some reuse the
    weights an earlier job of the stream loaded (no LOAD_*, the same WBASE/PBASE)."""
    jobs, streams, want = [], [], []
    kinds = itertools.cycle(["conv", "linear", "add", "conv", "max", "pair", "avg", "reuse"])
    last_loaded = None
    while len(jobs) < n:
        kind = next(kinds)
        if kind == "add":
            cfg = random_add(rng, b)
            a, bb, y = make_add(rng, cfg)
            data = st.job_stream(cfg, b, x=(a, bb))
        elif kind == "reuse":
            if last_loaded is None:
                continue
            cfg0, w, p = last_loaded
            cfg = cfg0.replace(load_params=False, load_weights=False)
            x = rng.integers(-128, 128, (cfg.in_c, cfg.in_h, cfg.in_w)).astype(np.int8)
            y = expected(cfg, x, w, p)
            data = st.job_stream(cfg, b, None, None, x)
        else:
            cfg = random_cfg(rng, b, kind)
            x, w, p, y = make_layer(rng, cfg)
            data = st.job_stream(cfg, b, p, w, x)
            if not cfg.no_kernel:
                last_loaded = (cfg, w, p)
        jobs.append(cfg)
        streams.append(data)
        want.append(out_bytes(cfg, y))
    return jobs, streams, want


async def expect_failed_stream(tb, jobs, data, job, error, config_err, label):
    """Run a broken command stream: DONE with ``error`` (and ``config_err``), JOB_INDEX
    ``job``, the input taken to its end, an output packet with TLAST."""
    out, status, err = await tb.run_commands(jobs, data, max_cycles=200000)
    await tb.source.wait()  # the rest of the input, drained
    await ClockCycles(tb.dut.aclk, 4)
    assert status & st.STATUS_ERROR and not status & st.STATUS_BUSY, f"{label}: STATUS={status:#x}"
    assert err == error, f"{label}: ERROR={err:#x}, expected {error:#x}"
    assert await tb.read(regs.REG_CONFIG_ERR) == config_err, label
    assert await tb.read(regs.REG_JOB_INDEX) == job, label
    assert not await tb.read(regs.REG_STATUS) & st.STATUS_DRAINING, f"{label}: still draining"
    assert len(out) % 8 == 0, f"{label}: {len(out)} bytes"
    assert not tb.violations, f"{label}: {tb.violations}"
    return out


@cocotb.test()
async def test_command_stream(dut):
    """Random jobs (conv, pair, linear, pools, ADD, resident weights) as one command stream,
    bit-exact with the same jobs run one by one, with stalls and backpressure; the register
    path after it; CYC_* count the whole stream, CYC_MAC its MAC steps."""
    seed = int(os.environ.get("RTLCNN_SEED", "1")) + 200
    cases = int(os.environ.get("RTLCNN_CASES", "8"))
    tb = TB(dut, seed)
    await tb.reset()
    b = tb.build
    rng = np.random.default_rng(seed)
    tb.start_stream_monitor()
    traffic = itertools.cycle([(0, 0), (0.3, 0.3), (0.1, 0.6), (0.6, 0.1)])
    for rep in range(max(2, cases // 4)):
        jobs, streams, want = random_jobs(rng, b, 4 + cases)
        data = C.command_stream(jobs, streams)
        assert len(data) == C.command_in_beats(jobs, b) * 8
        idle, bp = next(traffic)
        tb.set_traffic(idle, bp)
        out, status, err = await tb.run_commands(jobs, data)
        label = f"stream {rep} ({len(jobs)} jobs, traffic {idle}/{bp})"
        assert err == 0 and not status & st.STATUS_ERROR, f"{label}: ERROR={err:#x} STATUS={status:#x}"
        assert status & regs.STATUS_CMD, f"{label}: STATUS.CMD not set ({status:#x})"
        assert await tb.read(regs.REG_JOB_INDEX) == len(jobs) - 1, label
        assert len(out) == C.command_out_beats(jobs) * 8, f"{label}: {len(out)} bytes"
        for i, (part, w) in enumerate(zip(C.split_output(np.frombuffer(out, np.uint8), jobs), want)):
            assert bytes(part) == w, f"{label}: job {i} ({jobs[i]}) differs from the reference"
        cyc = await tb.counters()
        steps = sum(c.mac_steps(b) for c in jobs if not c.is_add)
        assert cyc[1] >= steps, f"{label}: CYC_MAC {cyc[1]} < {steps}"
        if not idle and not bp:
            # back to back: each job costs its own cycles plus its header and the check
            solo = 0
            for cfg, s in zip(jobs, streams):
                await tb.run_job(cfg, s)
                solo += (await tb.counters())[0]
            tb.dut._log.info("%s: %d cycles as a stream, %d as register jobs", label, cyc[0], solo)
            assert cyc[0] <= solo + len(jobs) * (regs.CMD_HEADER_BEATS + 4), (cyc[0], solo)
        # the register path right after a stream
        cfg = random_cfg(rng, b, "conv")
        x, w, p, y = make_layer(rng, cfg)
        got, status, err = await tb.run_job(cfg, st.job_stream(cfg, b, p, w, x))
        assert err == 0 and not status & regs.STATUS_CMD, f"register job after {label}"
        assert got == out_bytes(cfg, y), f"register job after {label}"


@cocotb.test()
async def test_command_stream_errors(dut):
    """A bad header (magic, reserved bits), a rejected configuration, TLAST early (inside a
    job, inside a header, on a job that is not the last) and TLAST missing: each names its
    job in JOB_INDEX, ends both packets and is followed by a good stream."""
    seed = int(os.environ.get("RTLCNN_SEED", "1")) + 300
    tb = TB(dut, seed)
    await tb.reset()
    b = tb.build
    rng = np.random.default_rng(seed)
    tb.start_stream_monitor()
    tb.set_traffic(0.2, 0.3)
    jobs, streams, want = random_jobs(rng, b, 5)
    good = C.command_stream(jobs, streams)
    starts = np.concatenate([[0], np.cumsum([regs.CMD_HEADER_BEATS * 8 + len(s) for s in streams])])

    async def good_stream(label):
        out, status, err = await tb.run_commands(jobs, good)
        assert err == 0 and out == b"".join(want), f"good stream after {label}"

    def corrupt(job, word, value):
        d = good.copy().view("<u4")
        d[starts[job] // 4 + word] = value
        return d.view(np.uint8)

    # header errors in job 2: its output never starts; jobs 0 and 1 are in the packet
    done2 = b"".join(want[:2])
    for label, data in (("bad magic", corrupt(2, 0, 0x12345678)), ("reserved flag", corrupt(2, 1, 32)),
                        ("reserved bits", corrupt(2, 15, 1 << 16))):
        out = await expect_failed_stream(tb, jobs, data, 2, st.ERR_CONFIG, regs.CFG_HEADER, label)
        assert out[:len(done2)] == done2 and len(out) == len(done2) + 8, label
        await good_stream(label)
    # a configuration the engine rejects in job 1 (OPCODE 7)
    op = corrupt(1, 2, 7)
    out = await expect_failed_stream(tb, jobs, op, 1, st.ERR_CONFIG, st.CFG_OPCODE, "opcode")
    assert out[:len(want[0])] == want[0], "opcode"
    await good_stream("opcode")
    # TLAST early: inside job 3's sections, and inside job 3's header
    for label, cut, job in (("inside a job", starts[3] + regs.CMD_HEADER_BEATS * 8 + 8, 3),
                            ("inside a header", starts[3] + 16, 3)):
        await expect_failed_stream(tb, jobs, good[:cut], job, st.ERR_TLAST_EARLY, 0, label)
        await good_stream(label)
    # the stream ends with job 3 although its header does not say LAST
    await expect_failed_stream(tb, jobs, good[:starts[4]], 3, st.ERR_TLAST_EARLY, 0, "no LAST")
    await good_stream("no LAST")
    # the beat after the LAST job is not END: the outputs are all there (with TLAST)
    bad_end = good.copy().view("<u4")
    bad_end[-2] = 0x12345678
    out = await expect_failed_stream(tb, jobs, bad_end.view(np.uint8), len(jobs) - 1, st.ERR_CONFIG,
                                     regs.CFG_HEADER, "bad END")
    assert out == b"".join(want), "bad END: outputs"
    await good_stream("bad END")
    # TLAST missing: beats after the END beat are drained, the outputs are all there
    extra = np.concatenate([good, np.zeros(24, np.uint8)])
    out = await expect_failed_stream(tb, jobs, extra, len(jobs) - 1, st.ERR_TLAST_MISSING, 0, "TLAST missing")
    assert out == b"".join(want), "TLAST missing: outputs"
    await good_stream("TLAST missing")
    # SOFT_RESET in the middle of a stream, then a good one
    tb.set_traffic(0, 0)
    tb.sink.set_pause_generator(itertools.repeat(True))  # the output stalls: the stream stops
    await tb.write(regs.REG_CTRL, regs.CTRL_RUN_STREAM)
    tb.source.send_nowait(bytes(good))
    await ClockCycles(dut.aclk, 300)
    assert await tb.read(regs.REG_STATUS) & st.STATUS_BUSY
    tb.out_reset_ok = True
    await tb.write(regs.REG_CTRL, regs.CTRL_SOFT_RESET)
    await tb.flush_streams()
    tb.out_reset_ok = False
    tb.set_traffic(0.2, 0.3)
    assert await tb.read(regs.REG_STATUS) == 0 and await tb.read(regs.REG_JOB_INDEX) == 0
    await good_stream("soft reset")


@cocotb.test()
async def test_feature_buffer(dut):
    """Jobs chained through the on-chip feature buffer: a conv's output is the next conv's
    input, both are an ADD's operands, a pool's and a LINEAR's input (the map's bytes as its
    features), never in the streams; bit-exact with the reference, with stalls and
    backpressure; CONFIG_ERR 15 for every misuse, the failed job's packet ends on m_axis."""
    seed = int(os.environ.get("RTLCNN_SEED", "1")) + 400
    tb = TB(dut, seed)
    await tb.reset()
    b = tb.build
    rng = np.random.default_rng(seed)
    tb.start_stream_monitor()
    assert await tb.read(regs.REG_FBUF_DEPTH) == b.fbuf_depth
    c = 2 * b.p_ic  # a multiple of P_IC: a map's output layout is its input layout
    conv0 = JobConfig(in_c=3, in_h=7, in_w=6, out_c=c, kernel=3, pad=(1, 1, 1, 1), relu=True)
    x0, w0, p0, y0 = make_layer(rng, conv0)
    conv1 = JobConfig(in_c=c, in_h=7, in_w=6, out_c=c, kernel=3, pad=(1, 1, 1, 1), act_min=-40, act_max=90)
    _, w1, p1, _ = make_layer(rng, conv1)
    y1 = expected(conv1, y0, w1, p1)
    add = JobConfig.add(c, 7, 6, 30000, 21000, 16, relu=True)
    y2 = reference.add_int(y0, y1, (add.add_ma, add.add_mb), (add.add_k - 31,), True)
    pool = JobConfig.pool2d("max", c, 7, 6)
    y3 = reference.pool2d_int(y1[None], "max")[0]
    lin = JobConfig.linear(7 * 6 * c, 8, out_int32=True)
    wl = rng.integers(-127, 128, (8, 7 * 6 * c)).astype(np.int8)
    pl = (rng.integers(-999, 999, 8), np.zeros(8, np.int64), np.zeros(8, np.int64))
    y4 = reference.linear_int(y1.transpose(1, 2, 0).reshape(1, -1), wl, *pl, False, True).reshape(8, 1, 1)
    a0 = 5
    a1 = a0 + conv0.out_beats()
    jobs = [conv0, conv1, add, pool, lin]
    places = [C.Place(out_base=a0), C.Place(in_base=a0, out_base=a1), C.Place(in_base=a0, b_base=a1),
              C.Place(in_base=a1), C.Place(in_base=a1)]
    none = np.zeros(0, np.uint8)
    streams = [st.job_stream(conv0, b, p0, w0, x0),  # each with its P and W sections only
               np.concatenate([st.pack_params(*p1), _weights(conv1, b, w1)]), none, none,
               np.concatenate([st.pack_params(*pl), _weights(lin, b, wl)])]
    for cfg, pl_, s_ in zip(jobs, places, streams):
        assert len(s_) == C.stream_part_beats(cfg, b, pl_) * 8, cfg
    data = C.command_stream(jobs, streams, places)
    want = out_bytes(add, y2) + out_bytes(pool, y3) + out_bytes(lin, y4)
    for idle, bp in ((0, 0), (0.3, 0.3), (0.1, 0.7)):
        tb.set_traffic(idle, bp)
        out, status, err = await tb.run_commands(jobs, data)
        assert err == 0 and not status & st.STATUS_ERROR, f"ERROR={err:#x} traffic {idle}/{bp}"
        assert len(out) == C.command_out_beats(jobs, places) * 8
        assert out == want, f"feature buffer chain differs from the reference (traffic {idle}/{bp})"
    # misuse: CONFIG_ERR 15, named by JOB_INDEX; the failed job's packet end goes to m_axis
    tb.set_traffic(0.2, 0.3)
    depth = b.fbuf_depth
    for label, k, bad in (
            ("output past the end", 0, C.Place(out_base=depth - conv0.out_beats() + 1)),
            ("input past the end", 3, C.Place(in_base=depth - pool.input_beats(b) + 1)),
            ("B_FBUF without ADD", 3, C.Place(in_base=a1, b_base=0)),
            ("OUT_FBUF on the LAST job", 4, C.Place(in_base=a1, out_base=100))):
        pls = list(places)
        pls[k] = bad
        assert C.check_place(jobs[k], bad, k == 4, b) == regs.CFG_FBUF, label
        await expect_failed_stream(tb, jobs, C.command_stream(jobs, streams, pls), k, st.ERR_CONFIG,
                                   regs.CFG_FBUF, label)
    out, status, err = await tb.run_commands(jobs, data)
    assert err == 0 and out == want, "the chain after the errors"


def _weights(cfg, b, w):
    """A job's W section."""
    full = st.job_stream(cfg.replace(load_params=False), b, None, w,
                         np.zeros((cfg.in_c, cfg.in_h, cfg.in_w) if not cfg.op == st.OPCODE_LINEAR
                                  else (cfg.in_c,), np.int8))
    return full[:cfg.weight_beats(b) * 8]


# ---------------------------------------------------------------------------------------
# IN_TAPS (engine 1.6): kx and pair layouts the engine builds from a map in the feature buffer
# ---------------------------------------------------------------------------------------
def copy_job(b, src):
    """An ADD whose output is its operand a, ``(a * 2^15 + 2^14) >>> 15 = a``: it puts the map
    ``src`` (8, H, W) into the feature buffer, one beat a pixel. Returns (cfg, stream)."""
    c, h, w = src.shape
    cfg = JobConfig.add(c, h, w, 1 << 15, 0, 15)
    other = np.full_like(src, -128)
    assert np.array_equal(reference.add_int(src, other, (1 << 15, 0), (15 - 31,), False), src)
    return cfg, st.job_stream(cfg, b, x=(src, other))


def fbuf_put(fb, base: int, src) -> None:
    """The feature buffer model ``fb`` (uint64 beats) with ``src`` (8, H, W) at ``base``."""
    beats = np.ascontiguousarray(src.transpose(1, 2, 0)).view("<u8").reshape(-1)
    fb[base:base + len(beats)] = beats


def taps_x(fb, cfg: JobConfig, place, b):
    """The input map (IN_C, IN_H, IN_W) an IN_TAPS job builds: commands.tap_map's bytes."""
    m = C.tap_map(fb, cfg, place, b)
    icg = cfg.icg(b)
    x = m[:cfg.in_h * cfg.in_w * icg * b.p_ic].view(np.int8).reshape(cfg.in_h, cfg.in_w, icg * b.p_ic)
    return np.ascontiguousarray(x[:, :, :cfg.in_c].transpose(2, 0, 1))


def taps_cfg(layout: str, c: int, k: int, pad: int, src_w: int, rows: int, pads=(0, 0), out_c: int = 4,
             pool: int = st.POOL_NONE, relu: bool = True, in_w=None, **kw):
    """An IN_TAPS conv in the kx (K taps, step 1) or pair (K + 1 taps, step 2, PAIR + max
    pool) layout of a source of ``src_w`` columns with ``c`` channels: (JobConfig, Taps).
    ``in_w`` (engine columns): the layout's own unless given (more reach past the row)."""
    t, step = (k, 1) if layout == "kx" else (k + 1, 2)
    ow = src_w + 2 * pad - k + 1
    if in_w is None:
        in_w = ow if layout == "kx" else ow // 2
    cfg = JobConfig(in_c=t * c, in_h=rows, in_w=in_w, out_c=out_c, kernel=k, kernel_w=1,
                    pad=(pads[0], pads[1], 0, 0), relu=relu, pool=st.POOL_MAX if layout == "pair" else pool,
                    pair=layout == "pair", **kw)
    return cfg, C.Taps(c=c, t=t, pad=pad, step=step, src_w=src_w)


async def run_stream_ok(tb, jobs, data, places, want, label):
    """A command stream that must succeed; ``want``: each job's m_axis output bytes."""
    out, status, err = await tb.run_commands(jobs, data)
    assert err == 0 and not status & st.STATUS_ERROR, (
        f"{label}: ERROR={err:#x} STATUS={status:#x} CONFIG_ERR={await tb.read(regs.REG_CONFIG_ERR)} "
        f"JOB_INDEX={await tb.read(regs.REG_JOB_INDEX)}")
    assert len(out) == C.command_out_beats(jobs, places) * 8, f"{label}: {len(out)} bytes"
    for i, (part, w) in enumerate(zip(C.split_output(np.frombuffer(out, np.uint8), jobs, places), want)):
        if bytes(part) != w:
            got = np.frombuffer(bytes(part), np.uint8)
            ref = np.frombuffer(w, np.uint8)
            bad = np.flatnonzero(got != ref)
            raise AssertionError(f"{label}: job {i} ({jobs[i]}, {places[i]}) differs from the reference in "
                                 f"{len(bad)} of {len(ref)} bytes, first at {bad[:8]}")
    return await tb.counters()


@cocotb.test()
async def test_taps(dut):
    """IN_TAPS command jobs: kx and pair layouts (and an odd one) built by the engine from
    source maps an earlier job of the stream left in the feature buffer, bands of rows from
    mid-buffer, a source that ends at the buffer's end (its built map would not fit:
    check 15 does not apply), LeNet-5's conv2 (6 -> 16, 14x14, kx): bit-exact with the
    reference of the built map, under stalls and backpressure, and equal to the same jobs
    with their maps streamed; LeNet's conv2 also equals the real 5x5 conv. A build without
    the tap builder (P_IC != 8) refuses them (CONFIG_ERR 16). With RTLCNN_TAPS_CYCLES=1
    (test_rtl.py's slow test_taps_cycles) also LeNet's conv2 with its weights on chip:
    IN_TAPS, the kx map streamed, the native conv reading the buffer, their cycles logged."""
    seed = int(os.environ.get("RTLCNN_SEED", "1")) + 500
    tb = TB(dut, seed)
    await tb.reset()
    b = tb.build
    rng = np.random.default_rng(seed)
    tb.start_stream_monitor()
    assert await tb.read(regs.REG_VERSION) == regs.VERSION_VALUE
    depth = b.fbuf_depth
    # source A mid-buffer, source B (LeNet's conv1 output, 14x14) ending at the buffer's end
    src_a = rng.integers(-128, 128, (8, 12, 11)).astype(np.int8)
    src_b = rng.integers(-128, 128, (8, 14, 14)).astype(np.int8)
    base_a, base_b = 300 + int(rng.integers(0, 50)), depth - 14 * 14
    fb = np.zeros(depth, "<u8")
    fbuf_put(fb, base_a, src_a)
    fbuf_put(fb, base_b, src_b)
    wa = src_a.shape[2]
    specs = [  # (cfg, taps, first source row) on source A
        taps_cfg("kx", 3, 3, 1, wa, 7, (1, 1), out_c=5) + (2,),  # 9 bytes a pixel: a delayed remainder
        taps_cfg("pair", 5, 3, 1, wa, 8, (1, 0), out_c=b.p_oc // 2, relu=False) + (4,),  # rows 4 .. 11
        taps_cfg("kx", 8, 3, 1, wa, 4, (1, 1), out_c=b.p_oc + 1, pool=st.POOL_MAX) + (0,),  # 3 whole beats
        taps_cfg("kx", 1, 7, 6, wa, 5, (3, 3), out_c=3, pool=st.POOL_AVG, in_w=20) + (3,),  # past the row
        taps_cfg("pair", 7, 5, 2, wa, 6, (2, 2), out_c=5, in_w=4) + (5,),  # 42 bytes: a delayed remainder
        (JobConfig(in_c=8, in_h=5, in_w=6, out_c=6, kernel=3, pad=(1, 1, 1, 1)),  # two columns a pixel
         C.Taps(c=4, t=2, pad=1, step=2, src_w=wa), 1),
        taps_cfg("kx", 2, 3, 9, wa, 4, (0, 0), out_c=4, in_w=8) + (6,),  # the first pixels all padding
    ]
    # LeNet-5's conv2 in the kx layout: TAP_C 6, TAP_T 5, IN_C 30, IN_W 10, a 5x1 kernel
    lenet, lenet_taps = taps_cfg("kx", 6, 5, 0, 14, 14, (0, 0), out_c=16, pool=st.POOL_MAX, wbase=300,
                                 pbase=100)
    assert (lenet.in_c, lenet.in_w) == (30, 10)
    specs.append((lenet, lenet_taps, 0))
    specs = [s_ for s_ in specs if s_[0].check(b) == 0]  # LeNet's map does not fit the small build
    assert len(specs) == 8 or not b.has_taps

    copy_a, copy_a_s = copy_job(b, src_a)
    copy_b, copy_b_s = copy_job(b, src_b)
    jobs, places, streams, want = [copy_a, copy_b], [C.Place(out_base=base_a), C.Place(out_base=base_b)], \
        [copy_a_s, copy_b_s], [b"", b""]
    plain_streams = []  # the same jobs with their maps streamed
    for cfg, taps, row0 in specs:
        base = (base_b if cfg is lenet else base_a) + row0 * taps.src_w
        place = C.Place(in_base=base, taps=taps)
        assert C.check_place(cfg, place, False, b) == (0 if b.has_taps else regs.CFG_TAPS), cfg
        x = taps_x(fb, cfg, place, b)
        if cfg is lenet:
            # a real 5x5 conv's weights, in the kx layout
            lenet_w = rng.integers(-127, 128, (16, 6, 5, 5)).astype(np.int8)
            w = unfold.kx_weights(lenet_w)
            bias = rng.integers(-3000, 3000, 16).astype(np.int64)
            zeros = np.zeros(16, np.int64)
            acc = unfold.engine_conv_int(x[None], w, bias, zeros, zeros, 1, cfg.pad, out_int32=True)[0]
            p = (bias, *random_params(rng, acc))
            y = expected(cfg, x, w, p)
            real = reference.conv2d_int(src_b[None, :6], lenet_w, *p, 1, 0, True, "max")[0]
            assert np.array_equal(y, real), "the kx layout of LeNet's conv2 is not the conv"
            lenet_p = p
        else:
            x, w, p, y = make_layer(rng, cfg, x)
        full = st.job_stream(cfg, b, p, w, x)
        assert np.array_equal(full[len(full) - cfg.input_beats(b) * 8:], C.tap_map(fb, cfg, place, b))
        jobs.append(cfg)
        places.append(place)
        streams.append(st.job_stream(cfg, b, p, w, x, omit=(True, False)))
        plain_streams.append(full)
        want.append(out_bytes(cfg, y))
    data = C.command_stream(jobs, streams, places)
    assert len(data) == C.command_in_beats(jobs, b, places) * 8
    if not b.has_taps:
        # the first IN_TAPS job (job 2) is refused; the copies went to the feature buffer
        await expect_failed_stream(tb, jobs, data, 2, st.ERR_CONFIG, regs.CFG_TAPS, "IN_TAPS, P_IC != 8")
        jobs1, streams1, want1 = random_jobs(rng, b, 3)
        out, status, err = await tb.run_commands(jobs1, C.command_stream(jobs1, streams1))
        assert err == 0 and out == b"".join(want1), "a stream after the refused IN_TAPS job"
        return
    for idle, bp in ((0, 0), (0.3, 0.3), (0.1, 0.6)):
        tb.set_traffic(idle, bp)
        cyc = await run_stream_ok(tb, jobs, data, places, want, f"IN_TAPS stream, traffic {idle}/{bp}")
        steps = sum(c.mac_steps(b) for c in jobs if not c.is_add)
        assert cyc[1] == steps + sum(c.input_words(b) for c in jobs if c.is_add), (cyc, steps)
        dut._log.info("IN_TAPS stream (%d jobs, traffic %s/%s): %d cycles, %d MAC steps", len(jobs), idle, bp,
                      cyc[0], cyc[1])
    # the same jobs, their maps streamed by the host
    tb.set_traffic(0.2, 0.2)
    plain = jobs[2:]
    await run_stream_ok(tb, plain, C.command_stream(plain, plain_streams), [C.STREAMED] * len(plain),
                        want[2:], "the same jobs streamed")
    assert not tb.violations, tb.violations
    if os.environ.get("RTLCNN_TAPS_CYCLES", "0") != "1":
        return
    tb.set_traffic(0, 0)
    # LeNet's conv2 with its weights on chip: IN_TAPS from the buffer, the kx map streamed,
    # and the native 6 -> 16 conv reading the source map itself (one beat a pixel, ICG 1)
    res = lenet.replace(load_params=False, load_weights=False)
    lenet_want = want[-1]
    none = np.zeros(0, np.uint8)
    kx_map = plain_streams[-1][-res.input_beats(b) * 8:]
    lp = C.Place(in_base=base_b, taps=lenet_taps)
    cyc_taps = await run_stream_ok(tb, [res], C.command_stream([res], [none], [lp]), [lp],
                                   [lenet_want], "LeNet conv2, IN_TAPS, weights on chip")
    cyc_kx = await run_stream_ok(tb, [res], C.command_stream([res], [kx_map]),
                                 [C.STREAMED], [lenet_want], "LeNet conv2, kx map streamed, weights on chip")
    got, status, err = await tb.run_job(res, kx_map)
    assert err == 0 and got == lenet_want, "LeNet conv2 kx, register job"
    cyc_reg = await tb.counters()
    native = JobConfig(in_c=6, in_h=14, in_w=14, out_c=16, kernel=5, relu=True, pool=st.POOL_MAX, wbase=1100,
                       pbase=600)
    np_ = C.Place(in_base=base_b)
    nat_s = st.job_stream(native, b, lenet_p, lenet_w, src_b[:6], omit=(True, False))
    await run_stream_ok(tb, [native], C.command_stream([native], [nat_s], [np_]), [np_], [lenet_want],
                        "LeNet conv2 native from the buffer (load)")
    nat_r = native.replace(load_params=False, load_weights=False)
    cyc_nat = await run_stream_ok(tb, [nat_r], C.command_stream([nat_r], [none], [np_]), [np_],
                                  [lenet_want], "LeNet conv2 native from the buffer, weights on chip")
    dut._log.info("LeNet conv2, weights on chip: IN_TAPS %d cycles (MAC %d), kx map streamed %d (stream), "
                  "%d (register job), native 6->16 from the buffer %d", cyc_taps[0], cyc_taps[1], cyc_kx[0],
                  cyc_reg[0], cyc_nat[0])
    assert cyc_taps[1] == res.mac_steps(b) == 2000
    # one source pixel a cycle: the first rows come 5/4 slower than streamed beats, then the
    # MAC steps bound both
    assert cyc_taps[0] <= cyc_kx[0] + 100, (cyc_taps, cyc_kx)
    assert not tb.violations, tb.violations


@cocotb.test()
async def test_taps_errors(dut):
    """IN_TAPS misuse: CONFIG_ERR 16 for each condition of commands.Taps.problem (no IN_FBUF,
    not CONV, IN_C != TAP_T*TAP_C, TAP_C 0 or 9..15, TAP_T 0, SRC_W 0, a source past the
    buffer, also by a product that overflows 16 bits), check 15 before 16; CONFIG_ERR 14 for
    taps fields without IN_TAPS and for reserved FLAGS bits; each names its job in
    JOB_INDEX and is followed by good streams."""
    seed = int(os.environ.get("RTLCNN_SEED", "1")) + 600
    tb = TB(dut, seed)
    await tb.reset()
    b = tb.build
    rng = np.random.default_rng(seed)
    tb.start_stream_monitor()
    tb.set_traffic(0.2, 0.3)
    depth = b.fbuf_depth
    src = rng.integers(-128, 128, (8, 6, 9)).astype(np.int8)
    base = 40
    fb = np.zeros(depth, "<u8")
    fbuf_put(fb, base, src)
    cp, cps = copy_job(b, src)
    cfg, taps = taps_cfg("kx", 5, 3, 1, 9, 6, (1, 1), out_c=4)
    place = C.Place(in_base=base, taps=taps)
    x, w, p, y = make_layer(rng, cfg, taps_x(fb, cfg, place, b))
    sect = st.job_stream(cfg, b, p, w, x, omit=(True, False))
    good = C.command_stream([cp, cfg], [cps, sect], [C.Place(out_base=base), place])
    jobs_ok, streams_ok, want_ok = random_jobs(rng, b, 3)
    good_plain = C.command_stream(jobs_ok, streams_ok)

    async def good_streams(label):
        """The IN_TAPS stream (builds with the tap builder), else a stream of random jobs."""
        if b.has_taps:
            out, status, err = await tb.run_commands([cp, cfg], good)
            assert err == 0 and out == out_bytes(cfg, y), f"good IN_TAPS stream after {label}"
        else:
            out, status, err = await tb.run_commands(jobs_ok, good_plain)
            assert err == 0 and out == b"".join(want_ok), f"good stream after {label}"

    await good_streams("reset")

    def tp(**kw):
        return replace(taps, **kw)

    pool = JobConfig.pool2d("max", 15, 6, 9)
    bad = [
        ("IN_TAPS" + ("" if b.has_taps else ", P_IC != 8"), cfg, place),
        ("no IN_FBUF", cfg, C.Place(taps=taps)),
        ("not CONV", pool, C.Place(in_base=base, taps=taps)),
        ("IN_C != TAP_T * TAP_C", cfg, C.Place(in_base=base, taps=tp(t=2))),
        ("TAP_C 0", cfg, C.Place(in_base=base, taps=tp(c=0))),
        ("TAP_C 9", cfg.replace(in_c=18), C.Place(in_base=base, taps=tp(c=9, t=2))),
        ("TAP_C 15", cfg.replace(in_c=15), C.Place(in_base=base, taps=tp(c=15, t=1))),
        ("TAP_T 0", cfg, C.Place(in_base=base, taps=tp(t=0))),
        ("SRC_W 0", cfg, C.Place(in_base=base, taps=tp(src_w=0))),
        ("source past the buffer", cfg, C.Place(in_base=depth - 6 * 9 + 1, taps=taps)),
        ("source ends at the buffer's end", cfg, C.Place(in_base=depth - 6 * 9, taps=taps)),
        ("IN_H * SRC_W past 16 bits", cfg, C.Place(in_base=0, taps=tp(src_w=0x8000))),
        ("SRC_W 0xFFFF", cfg, C.Place(in_base=0, taps=tp(src_w=0xFFFF))),
        ("check 15 first: OUT_FBUF on the LAST job", cfg, C.Place(in_base=base, out_base=0, taps=tp(c=9))),
    ]
    if not b.has_taps:
        bad = bad[:1]  # every IN_TAPS job gets CONFIG_ERR 16 on this build
    for label, c_, pl in bad:
        assert c_.check(b) == 0, label
        code = C.check_place(c_, pl, True, b)
        if code == 0:
            continue  # a good case (test_taps runs them)
        data = C.command_stream([cp, c_], [cps, sect], [C.Place(out_base=base), pl])
        assert C.parse_header(data[C.CMD_HEADER_BEATS * 8 + len(cps):])[2] == pl, label
        out = await expect_failed_stream(tb, [cp, c_], data, 1, st.ERR_CONFIG, code, label)
        assert len(out) == 8, f"{label}: {len(out)} bytes (one final beat expected)"
        await good_streams(label)
    # CONFIG_ERR 14: taps fields without IN_TAPS, reserved FLAGS bits
    at = regs.CMD_HEADER_BEATS * 8 + len(cps)  # job 1's header
    flags = place.flags() | regs.CMD_FLAG_LAST
    plain = C.Place(in_base=base).flags() | regs.CMD_FLAG_LAST
    for label, word, value in (("TAP_C without IN_TAPS", 1, plain | (5 << regs.CMD_TAP_C_SHIFT)),
                               ("TAP_STEP2 without IN_TAPS", 1, plain | regs.CMD_TAP_STEP2),
                               ("TAP_PAD without IN_TAPS", 1, plain | (1 << regs.CMD_TAP_PAD_SHIFT)),
                               ("SRC_W without IN_TAPS", 1, plain),  # word 15 keeps SRC_W
                               ("reserved FLAGS bit 5", 1, flags | 1 << 5),
                               ("reserved FLAGS bit 7", 1, flags | 1 << 7),
                               ("reserved FLAGS bit 21", 1, flags | 1 << 21),
                               ("reserved FLAGS bit 31", 1, flags | 1 << 31)):
        d = good.copy().view("<u4")
        d[at // 4 + word] = value
        data = d.view(np.uint8)
        try:
            C.parse_header(data[at:])
            raise AssertionError(f"{label}: parse_header accepts it")
        except C.HeaderError:
            pass
        out = await expect_failed_stream(tb, [cp, cfg], data, 1, st.ERR_CONFIG, regs.CFG_HEADER, label)
        assert len(out) == 8, label
        await good_streams(label)
    if b.has_taps:
        # TLAST early in the IN_TAPS job's W section (before the walk)
        cut = at + regs.CMD_HEADER_BEATS * 8 + cfg.param_beats() * 8 + 16
        await expect_failed_stream(tb, [cp, cfg], good[:cut], 1, st.ERR_TLAST_EARLY, 0, "TLAST early in W")
        await good_streams("TLAST early in W")
        # SOFT_RESET while the tap builder walks (the output stalled): it stops, and the
        # next streams run
        walker = dut.engine_inst.g_taps.taps_inst
        tb.set_traffic(0, 0)
        tb.sink.set_pause_generator(itertools.repeat(True))
        await tb.write(regs.REG_CTRL, regs.CTRL_RUN_STREAM)
        tb.source.send_nowait(bytes(good))
        for _ in range(20000):
            await RisingEdge(dut.aclk)
            if int(walker.run_reg.value):
                break
        assert int(walker.run_reg.value), "the tap builder did not start"
        await ClockCycles(dut.aclk, 5)
        tb.out_reset_ok = True
        await tb.write(regs.REG_CTRL, regs.CTRL_SOFT_RESET)
        await ClockCycles(dut.aclk, 2)
        assert int(walker.run_reg.value) == 0 and int(walker.out_valid_reg.value) == 0, "still walking"
        await tb.flush_streams()
        tb.out_reset_ok = False
        tb.set_traffic(0.2, 0.3)
        assert await tb.read(regs.REG_STATUS) == 0
        await good_streams("soft reset while walking")
    out, status, err = await tb.run_commands(jobs_ok, good_plain)
    assert err == 0 and out == b"".join(want_ok), "random jobs at the end"
    assert not tb.violations, tb.violations
