"""cocotb tests of rtlcnn_top: random layers against rtlcnn.reference, resident weights, errors.

Run through tests/rtl/test_rtl.py (pytest + cocotb_tools.runner). Environment:
RTLCNN_BUILD (JSON of the build parameters), RTLCNN_SEED, RTLCNN_CASES.
"""

import itertools
import json
import os

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge, with_timeout
from cocotbext.axi import AxiStreamFrame

from rtlcnn.core import reference, regs, unfold
from rtlcnn.core import stream as st
from rtlcnn.core.stream import Build, JobConfig
from rtlcnn.sim.harness import EngineHarness


def build_from_env() -> Build:
    return Build.from_parameters(json.loads(os.environ.get("RTLCNN_BUILD", "{}")))


class TB(EngineHarness):
    """The shared harness (rtlcnn.sim.harness) with this bench's build, stream monitor and
    state dump of a stuck engine."""

    def __init__(self, dut, seed=0):
        super().__init__(dut, build_from_env(), seed=seed, check_derived=True)
        #: configure as a driver of engine 1.2 does: every configuration register but ACT
        self.legacy = False

    async def configure(self, cfg: JobConfig) -> None:
        for off, val in cfg.registers().items():
            if not (self.legacy and off == regs.REG_ACT):
                await self.write(off, val)

    def start_stream_monitor(self):
        """Check AXI4-Stream on m_axis every cycle: an offered beat (tvalid high, tready
        low) stays offered, with the same tdata and tlast, until it is taken.

        ``self.out_reset_ok`` set exempts the cycles of a SOFT_RESET (documented as a
        hard reset of the output). Violations are raised and kept in ``self.violations``.
        """
        self.violations = []
        self.out_reset_ok = False
        self.monitor_cycles = 0

        async def monitor():
            dut = self.dut
            held = None
            while True:
                await RisingEdge(dut.aclk)
                await ReadOnly()
                valid = int(dut.m_axis_tvalid.value)
                ready = int(dut.m_axis_tready.value)
                beat = (int(dut.m_axis_tdata.value), int(dut.m_axis_tlast.value)) if valid else None
                self.monitor_cycles += 1
                if held is not None and not self.out_reset_ok and int(dut.aresetn.value):
                    if beat != held:
                        msg = (
                            f"m_axis: beat {held[0]:#018x} tlast={held[1]} offered without handshake "
                            f"became {'tvalid low' if beat is None else f'{beat[0]:#018x} tlast={beat[1]}'}"
                        )
                        self.violations.append(msg)
                        raise AssertionError(msg)
                held = beat if valid and not ready else None

        return cocotb.start_soon(monitor())

    def stuck(self, status: int, max_cycles: int) -> str:
        e = self.dut.engine_inst
        state = {
            n: int(getattr(e, n).value)
            for n in ("state_reg", "in_state_reg", "rows_avail_reg", "out_done_reg", "rq_full", "in_cnt_reg")
        }
        state["gen_running"] = int(e.addrgen_inst.running_reg.value)
        return f"engine not DONE after {max_cycles} cycles (STATUS={status:#x}, {state})"


# ---------------------------------------------------------------------------------------
# random jobs and their expected outputs
# ---------------------------------------------------------------------------------------
def random_params(rng: np.random.Generator, acc: np.ndarray):
    """Per-channel (bias, M, shift) that bring accumulators (O, ...) to the int8 range."""
    o = acc.shape[0]
    mult = rng.integers(2**29, 2**31 - 1, o)
    mult[rng.random(o) < 0.15] *= -1
    amax = np.maximum(np.abs(acc.reshape(o, -1)).max(axis=1), 1).astype(np.float64)
    k = np.ceil(np.log2(amax * np.abs(mult) / rng.integers(60, 300, o)))
    shift = np.clip(k - 31, -30, 31).astype(np.int64)
    return mult.astype(np.int64), shift


def make_layer(rng: np.random.Generator, cfg: JobConfig, x=None):
    """Random x (unless given), weights and (bias, M, shift) for cfg; returns (x, w, params,
    expected)."""
    k, kw = cfg.eff_kernel, cfg.eff_kernel_w
    if x is None:
        x = rng.integers(-128, 128, (cfg.in_c, cfg.in_h, cfg.in_w)).astype(np.int8)
    if cfg.is_pool_op:
        y = reference.pool2d_int(x[None], cfg.pool_mode)[0]
        return x, None, None, y
    shape = (cfg.out_c, cfg.in_c, k, kw)
    w = rng.integers(-127, 128, ((2,) if cfg.pair else ()) + shape).astype(np.int8)
    bias = rng.integers(-3000, 3000, cfg.out_c).astype(np.int64)
    zeros = np.zeros(cfg.out_c, np.int64)
    acc = unfold.engine_conv_int(x[None], w[0] if cfg.pair else w, bias, zeros, zeros, cfg.stride,
                                 cfg.pad, out_int32=True)[0]
    mult, shift = random_params(rng, acc)
    if cfg.pair:
        mult = np.abs(mult)  # PAIR pools the accumulators: exact for M >= 0 only
    y = expected(cfg, x, w, (bias, mult, shift))
    return x, w, (bias, mult, shift), y


def expected(cfg: JobConfig, x, w, params):
    bias, mult, shift = params
    if cfg.pair or cfg.kernel_w:
        # rectangular kernels and PAIR: the engine's documented arithmetic (rtlcnn.unfold,
        # itself checked against rtlcnn.reference in tests/test_unfold.py)
        return unfold.engine_conv_int(x[None], w, bias, mult, shift, cfg.stride, cfg.pad, cfg.relu,
                                      cfg.pool_mode, cfg.out_int32, pair=cfg.pair, act_min=cfg.act_min,
                                      act_max=cfg.act_max)[0]
    bounds = dict(act_min=cfg.act_min, act_max=cfg.act_max)
    if cfg.op == st.OPCODE_LINEAR:
        y = reference.linear_int(
            x.reshape(1, -1), w.reshape(cfg.out_c, -1), bias, mult, shift, cfg.relu, cfg.out_int32, **bounds
        )
        return y.reshape(cfg.out_c, 1, 1)
    return reference.conv2d_int(
        x[None], w, bias, mult, shift, cfg.stride, cfg.pad, cfg.relu, cfg.pool_mode, cfg.out_int32, **bounds
    )[0]


def random_pads(rng: np.random.Generator, k: int, kw: int) -> tuple:
    """(top, bottom) < K, (left, right) < KW (K when KW is 0)."""
    return tuple(int(v) for v in np.concatenate([rng.integers(0, k, 2), rng.integers(0, kw or k, 2)]))


def random_cfg(rng: np.random.Generator, b: Build, kind: str) -> JobConfig:
    for _ in range(1000):
        if kind == "conv":
            k = int(rng.choice([1, 3, 5, 7]))
            kw = int(rng.integers(1, 8)) if rng.random() < 0.3 else 0  # rectangular K x KW
            pool = int(rng.integers(0, 3))
            int32 = bool(pool == 0 and rng.random() < 0.2)
            cfg = JobConfig(
                op=st.OPCODE_CONV,
                in_c=int(rng.integers(1, 2 * b.p_ic + 3)),
                in_h=int(rng.integers(max(1, k - 3), k + 7)),
                in_w=int(rng.integers(max(1, k - 3), k + 7)),
                out_c=int(rng.integers(1, 2 * b.p_oc + 3)),
                kernel=k,
                kernel_w=kw,
                stride=int(rng.integers(1, 3)),
                pad=random_pads(rng, k, kw) if rng.random() < 0.7 else (0, 0, 0, 0),
                pool=pool,
                relu=bool(not int32 and rng.random() < 0.5),
                out_int32=int32,
            )
        elif kind == "pair":
            k = int(rng.choice([1, 3, 5, 7]))
            kw = int(rng.integers(1, 8)) if rng.random() < 0.5 else 0
            cfg = JobConfig(
                op=st.OPCODE_CONV,
                in_c=int(rng.integers(1, 2 * b.p_ic + 3)),
                in_h=int(rng.integers(max(1, k - 2), k + 7)),
                in_w=int(rng.integers(max(1, (kw or k) - 2), (kw or k) + 7)),
                out_c=int(rng.integers(1, b.p_oc // 2 + 1)),
                kernel=k,
                kernel_w=kw,
                stride=int(rng.integers(1, 3)),
                pad=random_pads(rng, k, kw),
                pool=st.POOL_MAX,
                pair=True,
                relu=bool(rng.random() < 0.5),
            )
        elif kind == "linear":
            int32 = bool(rng.random() < 0.3)
            cfg = JobConfig.linear(
                int(rng.integers(1, 6 * b.p_ic)),
                int(rng.integers(1, 3 * b.p_oc)),
                relu=bool(not int32 and rng.random() < 0.5),
                out_int32=int32,
            )
        else:
            cfg = JobConfig.pool2d(
                kind, int(rng.integers(1, 2 * b.p_oc + 2)), int(rng.integers(2, 9)), int(rng.integers(2, 9))
            )
        if cfg.check(b) == 0 and cfg.mac_steps(b) < 6000:
            return cfg
    raise RuntimeError("no random configuration found")


async def check_job(tb: TB, cfg: JobConfig, x, w, params, y, label=""):
    data = st.job_stream(cfg, tb.build, params, w, x)
    tb.dut._log.info("%s: %s", label, cfg)
    out, status, err = await tb.run_job(cfg, data)
    assert err == 0 and status & st.STATUS_ERROR == 0, f"{label} {cfg}: ERROR={err:#x} STATUS={status:#x}"
    assert len(out) == cfg.out_beats() * 8, f"{label} {cfg}: {len(out)} bytes, expected {cfg.out_beats() * 8}"
    got = st.unpack_output(np.frombuffer(out, np.uint8), cfg)
    if not np.array_equal(got, y):
        bad = np.argwhere(got != y)
        raise AssertionError(
            f"{label} {cfg}: {len(bad)} of {y.size} values differ, first at {bad[0]}: "
            f"engine {got[tuple(bad[0])]}, reference {y[tuple(bad[0])]}"
        )
    cyc = await tb.counters()
    assert cyc[1] == cfg.mac_steps(tb.build), f"{label} CYC_MAC {cyc[1]} != {cfg.mac_steps(tb.build)}"
    tb.dut._log.info("%s ok: %s cycles=%d mac=%d", label, cfg, cyc[0], cyc[1])


# ---------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------
@cocotb.test()
async def test_build_registers(dut):
    """ID, VERSION and build parameters read back as the build was made."""
    tb = TB(dut)
    await tb.reset()
    assert await tb.read(st.REG_ID) == st.ID_VALUE
    assert await tb.read(st.REG_VERSION) == st.VERSION_VALUE
    got = await tb.read_build()
    assert got == tb.build, f"{got} != {tb.build}"
    assert await tb.read(regs.REG_RQ_LANES) == tb.build.rq_lanes
    assert await tb.read(0x0FC) == 0
    await tb.write(st.REG_ID, 0x1234)
    assert await tb.read(st.REG_ID) == st.ID_VALUE
    assert await tb.read(st.REG_STATUS) == 0


@cocotb.test()
async def test_random_layers(dut):
    """Seeded random CONV / LINEAR / MAXPOOL / AVGPOOL jobs, idle and backpressure on both streams."""
    seed = int(os.environ.get("RTLCNN_SEED", "1"))
    cases = int(os.environ.get("RTLCNN_CASES", "8"))
    kinds = os.environ.get("RTLCNN_KINDS", "conv,pair,linear,conv,max,avg,pair,conv").split(",")
    tb = TB(dut, seed)
    await tb.reset()
    rng = np.random.default_rng(seed)
    traffic = itertools.cycle([(0, 0), (0.3, 0.3), (0.1, 0.6), (0.6, 0.1)])
    for n in range(cases):
        kind = kinds[n % len(kinds)]
        cfg = random_cfg(rng, tb.build, kind)
        tb.set_traffic(*next(traffic))
        await check_job(tb, cfg, *make_layer(rng, cfg), label=f"case {n} ({kind}, seed {seed})")


@cocotb.test()
async def test_resident_weights_and_slices(dut):
    """Weights and parameters stay on chip (LOAD_* = 0); oc slices through WBASE/PBASE offsets."""
    tb = TB(dut, 7)
    await tb.reset()
    b = tb.build
    rng = np.random.default_rng(7)
    tb.set_traffic(0.2, 0.3)
    # layer A (conv, two and a bit output groups) at WBASE=wa, PBASE=pa; layer B (linear) after it
    a = JobConfig(
        in_c=b.p_ic + 1,
        in_h=5,
        in_w=6,
        out_c=2 * b.p_oc + 3,
        kernel=3,
        pad=(1, 1, 1, 1),
        relu=True,
        wbase=3,
        pbase=5,
    )
    xa, wa, pa, ya = make_layer(rng, a)
    bl = JobConfig.linear(
        3 * b.p_ic - 1, b.p_oc + 2, wbase=a.wbase + a.weight_words(b), pbase=a.pbase + a.out_c
    )
    xb, wb, pb, yb = make_layer(rng, bl)
    await check_job(tb, a, xa, wa, pa, ya, "A load")
    await check_job(tb, bl, xb, wb, pb, yb, "B load")
    # both again from on-chip weights, with new inputs
    a2 = a.replace(load_params=False, load_weights=False)
    xa2 = rng.integers(-128, 128, xa.shape).astype(np.int8)
    await check_job(tb, a2, xa2, None, None, expected(a2, xa2, wa, pa), "A resident")
    b2 = bl.replace(load_params=False, load_weights=False)
    xb2 = rng.integers(-128, 128, xb.shape).astype(np.int8)
    await check_job(tb, b2, xb2, None, None, expected(b2, xb2, wb, pb), "B resident")
    # output-channel slices of layer A: [P_OC, 2 P_OC + 3) then [0, P_OC)
    kk, icg = a.kernel**2, a.icg(b)
    for o0, n in ((b.p_oc, b.p_oc + 3), (0, b.p_oc)):
        s = a2.replace(out_c=n, pbase=a.pbase + o0, wbase=a.wbase + (o0 // b.p_oc) * kk * icg)
        sel = slice(o0, o0 + n)
        ys = expected(s, xa2, wa[sel], tuple(p[sel] for p in pa))
        await check_job(tb, s, xa2, None, None, ys, f"A slice {o0}+{n}")


def bad_configs(b: Build):
    """One configuration per CONFIG_ERR code."""
    good = JobConfig(in_c=2, in_h=4, in_w=4, out_c=2, kernel=3)
    return [
        good.replace(op=5),
        good.replace(in_w=0),
        good.replace(stride=3),
        JobConfig.linear(4, 4, kernel=3),
        JobConfig.pool2d("max", 4, 4, 4).replace(load_weights=True),
        good.replace(pool=3),
        good.replace(in_h=2),
        good.replace(in_c=b.p_ic, in_h=b.ibuf_depth, in_w=3),
        good.replace(wbase=b.wbuf_depth - 1),
        good.replace(pbase=b.pbuf_depth - 1),
        good.replace(pair=True),  # PAIR without POOL = max
        good.replace(act_min=10, act_max=5),  # empty bounds
        JobConfig.add(3, 4, 4, 100, 200, 0),  # ADD with k = 0 (version 1.4)
    ]


@cocotb.test()
async def test_config_errors(dut):
    """Each CONFIG_ERR code: DONE + ERROR + ERR_CONFIG at once, nothing consumed, next job fine."""
    tb = TB(dut, 11)
    await tb.reset()
    b = tb.build
    rng = np.random.default_rng(11)
    for code, cfg in enumerate(bad_configs(b), start=1):
        assert cfg.check(b) == code, (code, cfg)
        await tb.configure(cfg)
        await tb.write(st.REG_CTRL, st.CTRL_START)
        status = await tb.wait_done(200)
        assert (
            status & (st.STATUS_DONE | st.STATUS_ERROR | st.STATUS_BUSY) == st.STATUS_DONE | st.STATUS_ERROR
        )
        assert await tb.read(st.REG_ERROR) == st.ERR_CONFIG
        assert await tb.read(st.REG_CONFIG_ERR) == code, f"code {code} expected for {cfg}"
        assert int(dut.s_axis_tready.value) == 0
    # a correct job right after
    cfg = JobConfig(in_c=3, in_h=5, in_w=5, out_c=3, kernel=3, pad=(1, 0, 0, 1))
    await check_job(tb, cfg, *make_layer(rng, cfg), label="after config errors")
    assert await tb.read(st.REG_CONFIG_ERR) == 0


@cocotb.test()
async def test_stream_errors(dut):
    """TLAST early (abort), TLAST missing (drain), soft reset mid-job; each followed by a good job."""
    tb = TB(dut, 13)
    await tb.reset()
    b = tb.build
    rng = np.random.default_rng(13)
    tb.set_traffic(0.2, 0.2)
    cfg = JobConfig(
        in_c=b.p_ic + 2,
        in_h=6,
        in_w=5,
        out_c=b.p_oc + 1,
        kernel=3,
        pad=(1, 1, 1, 1),
        relu=True,
        pool=st.POOL_MAX,
    )
    x, w, p, y = make_layer(rng, cfg)
    data = st.job_stream(cfg, b, p, w, x)
    # the output stream of the job, padded to whole beats
    y_bytes = y.transpose(1, 2, 0).astype(np.int8).tobytes()
    y_bytes += bytes(-len(y_bytes) % 8)
    tb.start_stream_monitor()

    async def tlast_early(n_beats: int, sink_stalled: bool, label: str):
        """Send the first n_beats of the job with TLAST on the last one; the output packet
        must still end with TLAST (on a final beat after the values sent so far)."""
        await tb.configure(cfg)
        await tb.write(st.REG_CTRL, st.CTRL_START)
        recv = cocotb.start_soon(tb.sink.recv())
        if sink_stalled:
            # all beats but the last two, then wait for an output beat to be offered
            tb.set_traffic(0, 0)
            tb.sink.set_pause_generator(itertools.repeat(True))
            while not int(dut.s_axis_tready.value):
                await RisingEdge(dut.aclk)
            tb.source.set_pause_generator(itertools.chain([False] * (n_beats - 2), itertools.repeat(True)))
            tb.source.send_nowait(AxiStreamFrame(bytes(data[: 8 * n_beats])))
            for _ in range(20000):
                await RisingEdge(dut.aclk)
                if int(dut.m_axis_tvalid.value):
                    break
            assert int(dut.m_axis_tvalid.value), f"{label}: no output beat offered"
            await ClockCycles(dut.aclk, 5)
            tb.source.set_pause_generator(itertools.repeat(False))
            await tb.source.wait()
        else:
            await tb.source.send(AxiStreamFrame(bytes(data[: 8 * n_beats])))
        status = await tb.wait_done(20000)
        assert status & st.STATUS_ERROR and not status & st.STATUS_BUSY, f"{label}: STATUS={status:#x}"
        assert await tb.read(st.REG_ERROR) == st.ERR_TLAST_EARLY, label
        assert not tb.violations, f"{label}: {tb.violations}"
        if sink_stalled:
            # a beat was being offered when the job aborted: it is still offered
            assert int(dut.m_axis_tvalid.value) == 1, f"{label}: the offered beat was withdrawn"
            await ClockCycles(dut.aclk, 20)
            tb.set_traffic(0.2, 0.2)
        frame = await with_timeout(recv, 20000, "ns")  # recv returns on the beat with TLAST
        out = bytes(frame.tdata)
        assert len(out) % 8 == 0 and 8 <= len(out) <= len(y_bytes), f"{label}: {len(out)} bytes"
        # every beat but the last holds the job's first values; the last one holds the
        # values that did not fill a beat, zero padded
        assert out[:-8] == y_bytes[: len(out) - 8], f"{label}: output before the abort differs"
        tail, rest = out[-8:], y_bytes[len(out) - 8 :]
        assert any(tail == rest[:c] + bytes(8 - c) for c in range(8)), f"{label}: last beat {tail.hex()}"
        await ClockCycles(dut.aclk, 20)
        assert tb.sink.empty() and not int(dut.m_axis_tvalid.value), f"{label}: output after TLAST"
        await tb.write(st.REG_CTRL, st.CTRL_SOFT_RESET)
        await tb.flush_streams()
        assert await tb.read(st.REG_STATUS) == 0 and await tb.read(st.REG_ERROR) == 0
        await check_job(tb, cfg, x, w, p, y, f"after {label}")
        assert not tb.violations, f"after {label}: {tb.violations}"

    # 1. TLAST early: the frame ends 3 beats short (output under random backpressure)
    await tlast_early(len(data) // 8 - 3, False, "TLAST early")
    # 1b. the same with the output stalled, so a beat is being offered at the abort
    await tlast_early(len(data) // 8 - 3, True, "TLAST early, output stalled")
    # 1c. TLAST in the parameter section: no value yet, the packet is one padding beat
    await tlast_early(2, False, "TLAST early in section P")

    # 2. TLAST missing: 5 extra beats, TLAST on the last of them; the output is still complete
    extra = np.concatenate([data, rng.integers(0, 256, 40).astype(np.uint8)])
    await tb.configure(cfg)
    await tb.write(st.REG_CTRL, st.CTRL_START)
    recv = cocotb.start_soon(tb.sink.recv())
    tb.set_traffic(0, 0)
    while not int(dut.s_axis_tready.value):
        await RisingEdge(dut.aclk)
    # all job beats and two extra ones, then a pause: the engine must be draining meanwhile
    tb.source.set_pause_generator(
        itertools.chain([False] * (len(data) // 8 + 2), itertools.repeat(True, 300), itertools.repeat(False))
    )
    tb.source.send_nowait(AxiStreamFrame(bytes(extra)))
    draining = False
    for _ in range(400):
        s = await tb.read(st.REG_STATUS)
        draining |= bool(s & st.STATUS_DRAINING)
        if s & st.STATUS_DONE:
            break
    assert draining, "STATUS.DRAINING never seen while extra beats were pending"
    status = await tb.wait_done(20000)
    assert await tb.read(st.REG_ERROR) == st.ERR_TLAST_MISSING and status & st.STATUS_ERROR
    frame = await with_timeout(recv, 20000, "ns")
    assert np.array_equal(st.unpack_output(np.frombuffer(bytes(frame.tdata), np.uint8), cfg), y)
    assert tb.source.empty() and not tb.source.active
    tb.set_traffic(0.2, 0.2)
    await check_job(tb, cfg, x, w, p, y, "after TLAST missing")

    # 3. soft reset in the middle of a job (input half sent, output stalled)
    await tb.configure(cfg)
    await tb.write(st.REG_CTRL, st.CTRL_START)
    tb.sink.set_pause_generator(itertools.repeat(True))
    tb.source.set_pause_generator(itertools.chain([False] * (len(data) // 16), itertools.repeat(True)))
    tb.source.send_nowait(AxiStreamFrame(bytes(data)))
    await ClockCycles(dut.aclk, len(data) // 8 + 50)
    assert await tb.read(st.REG_STATUS) & st.STATUS_BUSY
    # SOFT_RESET is a hard reset of the output (the DMA is reset too): the only exemption
    tb.out_reset_ok = True
    await tb.write(st.REG_CTRL, st.CTRL_SOFT_RESET)
    await ClockCycles(dut.aclk, 2)
    assert await tb.read(st.REG_STATUS) == 0
    assert int(dut.s_axis_tready.value) == 0 and int(dut.m_axis_tvalid.value) == 0
    await tb.flush_streams()
    tb.out_reset_ok = False
    tb.set_traffic(0.3, 0.3)
    await check_job(tb, cfg, x, w, p, y, "after soft reset")
    # soft reset while idle is harmless, and a second START while BUSY is ignored
    await tb.write(st.REG_CTRL, st.CTRL_SOFT_RESET)
    cfg2 = JobConfig.linear(b.p_ic * 2, 3)
    x2, w2, p2, y2 = make_layer(rng, cfg2)
    await tb.configure(cfg2)
    await tb.write(st.REG_CTRL, st.CTRL_START)
    await tb.write(st.REG_CTRL, st.CTRL_START)
    await tb.write(st.REG_IN_C, 1)  # ignored while BUSY
    assert await tb.read(st.REG_IN_C) == cfg2.in_c
    recv = cocotb.start_soon(tb.sink.recv())
    await tb.source.send(AxiStreamFrame(bytes(st.job_stream(cfg2, b, p2, w2, x2))))
    await tb.wait_done(5000)
    frame = await with_timeout(recv, 20000, "ns")
    assert np.array_equal(st.unpack_output(np.frombuffer(bytes(frame.tdata), np.uint8), cfg2), y2)
    assert await tb.read(st.REG_ERROR) == 0
    assert tb.monitor_cycles > 1000 and not tb.violations, tb.violations


@cocotb.test()
async def test_act_bounds(dut):
    """Requant bounds (ACT, version 1.3): ReLU6- and Hardtanh-like bounds on CONV (fused
    pools, PAIR, K x 1 kernels) and LINEAR jobs under output backpressure, bit-exact with
    rtlcnn.reference; ACT's reset value is the engine 1.2 behaviour, SOFT_RESET restores it,
    writes while BUSY are ignored, check 12 refuses empty bounds and bounds with OUT_INT32,
    and pools ignore ACT."""
    tb = TB(dut, 29)
    await tb.reset()
    b = tb.build
    rng = np.random.default_rng(29)
    assert await tb.read(regs.REG_ACT) == regs.ACT_RESET
    relu6, htanh = dict(relu=True, act_min=-128, act_max=100), dict(act_min=-50, act_max=60)
    conv = JobConfig(in_c=b.p_ic + 1, in_h=6, in_w=7, out_c=b.p_oc + 3, kernel=3, pad=(1, 1, 1, 1))
    lin = JobConfig.linear(2 * b.p_ic + 3, b.p_oc + 2)
    jobs = [
        ("conv relu6", conv.replace(**relu6)),
        ("conv hardtanh", conv.replace(**htanh)),
        ("conv hardtanh + max pool", conv.replace(pool=st.POOL_MAX, **htanh)),
        ("conv relu6 + avg pool", conv.replace(pool=st.POOL_AVG, **relu6)),
        ("conv [3, 3], relu", conv.replace(relu=True, act_min=3, act_max=3)),
        ("conv 5x1 hardtanh", conv.replace(kernel=5, kernel_w=1, pad=(2, 2, 0, 0), **htanh)),
        ("pair relu6", JobConfig(in_c=3, in_h=7, in_w=5, out_c=max(1, b.p_oc // 2), kernel=3, kernel_w=1,
                                 pad=(1, 1, 0, 0), pool=st.POOL_MAX, pair=True, **relu6)),
        ("linear relu6", lin.replace(**relu6)),
        ("linear hardtanh", lin.replace(**htanh)),
    ]
    for kind in ("conv", "linear", "pair", "conv"):  # random bounds on random jobs
        c = random_cfg(rng, b, kind).replace(out_int32=False)
        lo = int(rng.integers(-100, 50))
        hi = int(rng.integers(max(lo, 0) if c.relu else lo, 110))
        jobs.append((f"random {kind}", c.replace(act_min=lo, act_max=hi)))
    traffic = itertools.cycle([(0.2, 0.5), (0, 0.7), (0.4, 0.3)])
    for label, cfg in jobs:
        assert cfg.check(b) == 0 and cfg.has_bounds, (label, cfg)
        tb.set_traffic(*next(traffic))
        x, w, p, y = make_layer(rng, cfg)
        unbounded = expected(cfg.replace(act_min=-128, act_max=127), x, w, p)
        assert not np.array_equal(y, unbounded), f"{label}: the bounds change nothing here"
        await check_job(tb, cfg, x, w, p, y, label)
        assert await tb.read(regs.REG_ACT) == cfg.act_word()

    # writes while BUSY are ignored: the running job keeps its bounds
    cfg = conv.replace(**htanh)
    x, w, p, y = make_layer(rng, cfg)
    await tb.configure(cfg)
    await tb.write(st.REG_CTRL, st.CTRL_START)
    await tb.write(regs.REG_ACT, regs.ACT_RESET)
    assert await tb.read(regs.REG_ACT) == cfg.act_word()
    recv = cocotb.start_soon(tb.sink.recv())
    await tb.source.send(AxiStreamFrame(bytes(st.job_stream(cfg, b, p, w, x))))
    await tb.wait_done(20000)
    frame = await with_timeout(recv, 20000, "ns")
    assert np.array_equal(st.unpack_output(np.frombuffer(bytes(frame.tdata), np.uint8), cfg), y)
    assert await tb.read(st.REG_ERROR) == 0

    # SOFT_RESET restores the reset value; a driver of engine 1.2 (no ACT write) then gets
    # exactly the old results: [-128, 127], or [0, 127] with RELU
    await tb.write(st.REG_CTRL, st.CTRL_SOFT_RESET)
    assert await tb.read(regs.REG_ACT) == regs.ACT_RESET
    tb.legacy = True
    for label, cfg in (("conv, no ACT written", conv.replace(relu=True, pool=st.POOL_MAX)),
                       ("linear, no ACT written", lin)):
        await check_job(tb, cfg, *make_layer(rng, cfg), label=label)
    tb.legacy = False

    # check 12: empty bounds (RELU with act_max < 0 too), bounds with OUT_INT32
    for cfg in (conv.replace(act_min=10, act_max=5), conv.replace(relu=True, act_max=-3),
                lin.replace(out_int32=True, act_max=100)):
        assert cfg.check(b) == regs.CFG_ACT, cfg
        await tb.configure(cfg)
        await tb.write(st.REG_CTRL, st.CTRL_START)
        status = await tb.wait_done(200)
        assert status & st.STATUS_ERROR and await tb.read(st.REG_CONFIG_ERR) == regs.CFG_ACT, cfg
        assert int(dut.s_axis_tready.value) == 0
    # standalone pools ignore ACT (as they ignore RELU), even empty bounds
    pool = JobConfig.pool2d("max", b.p_oc + 1, 6, 4).replace(act_min=100, act_max=-100)
    assert pool.check(b) == 0
    await check_job(tb, pool, *make_layer(rng, pool), label="max pool, ACT ignored")
    pool = JobConfig.pool2d("avg", 3, 4, 4).replace(act_min=-5, act_max=5)
    await check_job(tb, pool, *make_layer(rng, pool), label="avg pool, ACT ignored")


@cocotb.test()
async def test_lenet_layers(dut):
    """The LeNet-5 layer shapes (only on builds with room for them), resident weights."""
    tb = TB(dut, 17)
    await tb.reset()
    b = tb.build
    rng = np.random.default_rng(17)
    layers = [
        JobConfig(in_c=1, in_h=28, in_w=28, out_c=6, kernel=5, pad=(2, 2, 2, 2), relu=True, pool=st.POOL_MAX),
        JobConfig(in_c=6, in_h=14, in_w=14, out_c=16, kernel=5, relu=True, pool=st.POOL_MAX),
        JobConfig.linear(400, 120, relu=True),
        JobConfig.linear(120, 84, relu=True),
        JobConfig.linear(84, 10, out_int32=True),
        # conv1 and conv2 in the host layouts of rtlcnn.unfold (the schedule's choice)
        JobConfig(in_c=6, in_h=28, in_w=14, out_c=6, kernel=5, kernel_w=1, pad=(2, 2, 0, 0), relu=True,
                  pool=st.POOL_MAX, pair=True),
        JobConfig(in_c=30, in_h=14, in_w=10, out_c=16, kernel=5, kernel_w=1, relu=True, pool=st.POOL_MAX),
    ]
    wbase = pbase = 0
    for n, cfg in enumerate(layers):
        cfg = cfg.replace(wbase=wbase, pbase=pbase)
        wbase += cfg.weight_words(b)
        pbase += cfg.out_c
        if cfg.check(b):
            dut._log.info("layer %d does not fit this build (CONFIG_ERR %d): skipped", n, cfg.check(b))
            continue
        await check_job(tb, cfg, *make_layer(rng, cfg), label=f"LeNet layer {n}")
        await RisingEdge(dut.aclk)


@cocotb.test()
async def test_unfolded_layers(dut):
    """Real convs run through the host layouts of rtlcnn.unfold (kx: K x 1 kernels over
    the taps of a kernel row; pair: PAIR jobs), equal to rtlcnn.reference of the conv."""
    tb = TB(dut, 23)
    await tb.reset()
    b = tb.build
    rng = np.random.default_rng(23)
    traffic = itertools.cycle([(0.3, 0.3), (0, 0), (0.1, 0.6)])
    n = 0
    while n < int(os.environ.get("RTLCNN_CASES", "6")):
        layout = ("kx", "pair")[n % 2]
        k = int(rng.choice([3, 5])) if n > 1 else 5
        c = int(rng.integers(1, 4))
        o = int(rng.integers(1, b.p_oc // 2 + 1)) if layout == "pair" else int(rng.integers(1, b.p_oc + 3))
        p = int(rng.integers(0, k))
        h, w = int(rng.integers(k + 1, k + 8)), int(rng.integers(k + 1, k + 8))
        x = rng.integers(-128, 128, (1, c, h, w)).astype(np.int8)
        wt = rng.integers(-127, 128, (o, c, k, k)).astype(np.int8)
        bias = rng.integers(-3000, 3000, o).astype(np.int64)
        zeros = np.zeros(o, np.int64)
        acc = reference.conv2d_int(x, wt, bias, zeros, zeros, 1, p, out_int32=True)[0]
        mult, shift = random_params(rng, acc)
        mult = np.abs(mult)
        relu = bool(rng.random() < 0.5)
        pool = "max" if layout == "pair" else [None, "max", "avg"][int(rng.integers(0, 3))]
        want = reference.conv2d_int(x, wt, bias, mult, shift, 1, p, relu, pool)[0]
        pool_field = {None: st.POOL_NONE, "max": st.POOL_MAX, "avg": st.POOL_AVG}[pool]
        layer = JobConfig(in_c=c, in_h=h, in_w=w, out_c=o, kernel=k, pad=(p,) * 4, relu=relu, pool=pool_field)
        cfg, xin, win = unfold.layer_job(layer, layout, x[0], wt)
        if cfg.check(b):
            continue
        tb.set_traffic(*next(traffic))
        await check_job(tb, cfg, xin, win, (bias, mult, shift), want, label=f"{layout} {n}")
        n += 1


# ---------------------------------------------------------------------------------------
# the ADD op (version 1.4)
# ---------------------------------------------------------------------------------------
def make_add(rng: np.random.Generator, cfg: JobConfig):
    """Random operands a, b for an ADD job and the reference's result."""
    shape = (cfg.in_c, cfg.in_h, cfg.in_w)
    a = rng.integers(-128, 128, shape).astype(np.int8)
    b = rng.integers(-128, 128, shape).astype(np.int8)
    mult, shift = (cfg.add_ma, cfg.add_mb), (cfg.add_k - 31,)
    y = reference.add_int(a, b, mult, shift, cfg.relu, cfg.act_min, cfg.act_max)
    return a, b, y


def random_add(rng: np.random.Generator, b: Build, words=None) -> JobConfig:
    """A random ADD job: multipliers < 2^16, k near the larger one's bit length (outputs
    spread over the int8 range, some saturated), random ReLU and bounds."""
    for _ in range(1000):
        c = int(rng.integers(1, 3 * b.p_ic + 2))
        h, w = int(rng.integers(1, 9)), int(rng.integers(1, 9))
        ma, mb = (int(v) for v in rng.integers(0, 2**16, 2))
        if rng.random() < 0.2:
            ma = int(rng.integers(0, 2**16)) >> int(rng.integers(0, 16))
        k = int(np.clip(max(ma, mb).bit_length() + int(rng.integers(-1, 3)), 1, 62))
        relu = bool(rng.random() < 0.4)
        lo, hi = -128, 127
        if rng.random() < 0.3:
            lo = int(rng.integers(-100, 20))
            hi = int(rng.integers(max(lo, 0) if relu else lo, 120))
        cfg = JobConfig.add(c, h, w, ma, mb, k, relu=relu, act_min=lo, act_max=hi)
        if cfg.check(b) == 0:
            return cfg
    raise RuntimeError("no random ADD configuration found")


async def check_add(tb: TB, cfg: JobConfig, rng, label: str):
    a, bb, y = make_add(rng, cfg)
    await check_job(tb, cfg, (a, bb), None, None, y, label)


@cocotb.test()
async def test_add(dut):
    """ADD jobs (version 1.4): random operands, multipliers, ReLU and bounds, bit-exact with
    rtlcnn.reference.add_int under input stalls and output backpressure; the largest map an
    ADD job holds (IBUF_DEPTH/2 words of each operand), k at its limits, a CONV after an ADD
    (the input buffer's halves and the packer's word input leave nothing behind), the
    cycle count of an unstalled ADD (P_IC values a cycle), check 13, TLAST early."""
    seed = int(os.environ.get("RTLCNN_SEED", "1")) + 100
    tb = TB(dut, seed)
    await tb.reset()
    b = tb.build
    rng = np.random.default_rng(seed)
    assert await tb.read(regs.REG_ADD_MULT) == 0
    traffic = itertools.cycle([(0, 0), (0.3, 0.3), (0.1, 0.6), (0.6, 0.1), (0, 0.8)])
    for n in range(int(os.environ.get("RTLCNN_CASES", "8")) * 2):
        cfg = random_add(rng, b)
        tb.set_traffic(*next(traffic))
        await check_add(tb, cfg, rng, f"add {n}")
        assert await tb.read(regs.REG_ADD_MULT) == cfg.add_mult_word()
    # the largest map, full lanes; then with a channel count that leaves lanes empty
    half = b.ibuf_depth // 2
    big = JobConfig.add(2 * b.p_ic, half // (2 * 16), 16, 46000, 23000, 16, relu=True)
    assert big.input_words(b) == half and big.check(b) == 0
    tb.set_traffic(0, 0)
    await check_add(tb, big, rng, "add, IBUF_DEPTH/2 words")
    cyc = await tb.counters()
    # unstalled: the two operands' beats plus a fixed latency (the add follows b's input)
    assert cyc[0] < big.in_beats(b) + max(0, big.input_words(b) - big.input_beats(b) // 2) + 60, cyc
    odd = JobConfig.add(b.p_ic + 1, 7, 5, 65535, 65535, 17)
    tb.set_traffic(0.2, 0.5)
    await check_add(tb, odd, rng, "add, saturating, last word part full")
    for k, ma, mb in ((1, 3, 1), (62, 65535, 65535), (25, 65535, 1), (26, 65535, 65535), (16, 0, 0)):
        await check_add(tb, JobConfig.add(b.p_ic, 3, 4, ma, mb, k), rng, f"add k={k}")
    # a CONV right after an ADD, and an ADD after it
    conv = JobConfig(in_c=b.p_ic + 1, in_h=5, in_w=6, out_c=b.p_oc + 1, kernel=3, pad=(1, 1, 1, 1), relu=True)
    await check_job(tb, conv, *make_layer(rng, conv), label="conv after add")
    await check_add(tb, odd.replace(relu=True, act_min=-20, act_max=40), rng, "add after conv")
    # check 13 and the other checks an ADD meets
    good = JobConfig.add(3, 4, 4, 1000, 2000, 12)
    for code, cfg in (
        (regs.CFG_ADD, good.replace(out_c=4)),
        (regs.CFG_ADD, good.replace(load_params=True)),
        (regs.CFG_ADD, good.replace(load_weights=True)),
        (regs.CFG_ADD, good.replace(pool=st.POOL_MAX)),
        (regs.CFG_ADD, good.replace(out_int32=True)),
        (regs.CFG_ADD, good.replace(add_k=0)),
        (regs.CFG_ADD, good.replace(add_k=63)),
        (regs.CFG_PAIR, good.replace(pair=True)),
        (regs.CFG_POOL_MODE, good.replace(pool=3)),
        (regs.CFG_ACT, good.replace(act_min=10, act_max=5)),
        (regs.CFG_INPUT_FIT, JobConfig.add(b.p_ic, half + 1, 1, 1, 1, 1)),
        (regs.CFG_ZERO_DIM, good.replace(in_h=0)),
    ):
        assert cfg.check(b) == code, (code, cfg)
        await tb.configure(cfg)
        await tb.write(st.REG_CTRL, st.CTRL_START)
        status = await tb.wait_done(200)
        assert status & st.STATUS_ERROR and await tb.read(st.REG_CONFIG_ERR) == code, (code, cfg)
        assert int(dut.s_axis_tready.value) == 0
    # TLAST early in operand b: an aborted packet with TLAST, then a good job
    cfg = JobConfig.add(b.p_ic, 6, 6, 30000, 20000, 15)
    a, bb, y = make_add(rng, cfg)
    data = st.job_stream(cfg, b, None, None, (a, bb))
    await tb.configure(cfg)
    await tb.write(st.REG_CTRL, st.CTRL_START)
    recv = cocotb.start_soon(tb.sink.recv())
    await tb.source.send(AxiStreamFrame(bytes(data[: len(data) - 16])))
    status = await tb.wait_done(20000)
    assert await tb.read(st.REG_ERROR) == st.ERR_TLAST_EARLY and status & st.STATUS_ERROR
    frame = await with_timeout(recv, 20000, "ns")
    got = bytes(frame.tdata)
    want = y.transpose(1, 2, 0).astype(np.int8).tobytes()
    assert len(got) % 8 == 0 and got[:-8] == want[: len(got) - 8], "ADD: output before the abort differs"
    await tb.write(st.REG_CTRL, st.CTRL_SOFT_RESET)
    await tb.flush_streams()
    tb.set_traffic(0.3, 0.3)
    await check_add(tb, cfg, rng, "add after TLAST early")
