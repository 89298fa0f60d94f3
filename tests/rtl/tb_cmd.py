"""cocotb tests of rtlcnn_top's command streams (engine 1.5): many jobs in one transfer.

Run through tests/rtl/test_rtl.py. A command stream's output must equal, byte for byte,
the outputs the same jobs give one by one (each checked against rtlcnn.reference), under
input stalls and output backpressure; errors in a stream (bad header, rejected
configuration, TLAST early or missing) end both packets, name the job in JOB_INDEX and
leave the engine ready for the next job.
"""

import itertools
import os

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles
from tb_top import TB, expected, make_add, make_layer, random_add, random_cfg

from rtlcnn.core import commands as C
from rtlcnn.core import reference, regs
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
    for label, data in (("bad magic", corrupt(2, 0, 0x12345678)), ("reserved flag", corrupt(2, 1, 16)),
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
