"""The one cocotb harness of the engine top: what the RTL tests, the RTL benchmark and the
mock board drive its ports with.

- :func:`start_clock`, :func:`reset`: the clock on ``aclk`` and the ``aresetn`` pulse.
- :class:`AxiLiteMaster`: a minimal AXI4-Lite master (one access at a time), driven from
  the mock board's server loop, where cocotbext-axi's queues cost time per access.
- :func:`wait_for`: let simulated time run until a condition holds, for at most a number
  of cycles, waking on an event (the mock board's "run until the DMA is idle").
- :class:`EngineHarness`: clock, reset, registers (cocotbext-axi's AXI-Lite master), the
  build read from the ID registers, and one job: configure, START, send its MM2S stream,
  collect its S2MM stream, wait for DONE with a cycle limit, read the counters.
  ``tests/rtl/tb_top.py`` extends it (a stream monitor, state dumps);
  ``rtlcnn.bench.rtl`` runs LeNet's layers with it.

Who uses what: the RTL tests and the benchmark drive ``rtlcnn_top`` with
:class:`EngineHarness`; the mock board (:mod:`rtlcnn.mock.server`) uses :func:`start_clock`,
:func:`reset`, :class:`AxiLiteMaster` and :func:`wait_for`, with its own DMA model
feeding the streams (that model is the mock's, not a job runner).

Only for code running inside a cocotb simulation (it imports cocotb).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles, Event, First, RisingEdge, Timer, with_timeout

from ..core import regs
from ..core.regs import Build
from ..core.stream import JobConfig

__all__ = ["AxiLiteMaster", "EngineHarness", "JobResult", "pause_gen", "reset", "start_clock", "wait_for"]


def start_clock(dut, period: int, unit: str = "ns") -> Clock:
    """Start the clock on ``dut.aclk`` (high for the first half period) and return it."""
    clock = Clock(dut.aclk, period, unit=unit)
    clock.start()
    return clock


async def reset(dut, low: int = 5, after: int = 5) -> None:
    """Hold ``aresetn`` low for ``low`` clock cycles, then let ``after`` cycles pass."""
    dut.aresetn.value = 0
    await ClockCycles(dut.aclk, low)
    dut.aresetn.value = 1
    await ClockCycles(dut.aclk, after)


async def wait_for(done, period_ps: int, max_cycles: int, wake: Event, settle: int = 0) -> bool:
    """Let simulated time run until ``done()`` or for ``max_cycles`` clock periods.

    ``done`` is checked again whenever ``wake`` is set (by whatever changes what it
    reads). Returns whether ``done()`` held; when time had to run and ``done()`` came
    true, ``settle`` more periods pass before returning.
    """
    if done():
        return True
    end = get_sim_time("ps") + max_cycles * period_ps
    while not done():
        left = end - get_sim_time("ps")
        if left <= 0:
            return False
        wake.clear()
        await First(Timer(left, "ps"), wake.wait())
    if settle:
        await Timer(settle * period_ps, "ps")
    return True


class AxiLiteMaster:
    """A minimal AXI4-Lite master: one access at a time, no pipelining."""

    def __init__(self, dut, clk, prefix="s_axi_ctrl"):
        g = lambda n: getattr(dut, f"{prefix}_{n}")  # noqa: E731
        self.clk = clk
        self.awaddr, self.awvalid, self.awready = g("awaddr"), g("awvalid"), g("awready")
        self.wdata, self.wstrb, self.wvalid, self.wready = g("wdata"), g("wstrb"), g("wvalid"), g("wready")
        self.bvalid, self.bready, self.bresp = g("bvalid"), g("bready"), g("bresp")
        self.araddr, self.arvalid, self.arready = g("araddr"), g("arvalid"), g("arready")
        self.rdata, self.rvalid, self.rready, self.rresp = g("rdata"), g("rvalid"), g("rready"), g("rresp")
        for n in ("awprot", "arprot"):
            if hasattr(dut, f"{prefix}_{n}"):
                g(n).value = 0
        self.awvalid.value = 0
        self.wvalid.value = 0
        self.arvalid.value = 0
        self.bready.value = 0
        self.rready.value = 0
        self.wstrb.value = 0xF
        self.mask = (1 << len(self.awaddr)) - 1

    async def write(self, addr: int, value: int, limit: int = 1000) -> None:
        self.awaddr.value = addr & self.mask
        self.wdata.value = value & 0xFFFFFFFF
        self.awvalid.value = 1
        self.wvalid.value = 1
        self.bready.value = 1
        aw = w = False
        edge = RisingEdge(self.clk)
        for _ in range(limit):
            await edge
            if not aw and self.awready.value:
                aw = True
                self.awvalid.value = 0
            if not w and self.wready.value:
                w = True
                self.wvalid.value = 0
            if self.bvalid.value:
                self.bready.value = 0
                return
        self.awvalid.value = 0
        self.wvalid.value = 0
        self.bready.value = 0
        raise TimeoutError(f"AXI-lite write to 0x{addr:03x} got no response in {limit} cycles")

    async def read(self, addr: int, limit: int = 1000) -> int:
        self.araddr.value = addr & self.mask
        self.arvalid.value = 1
        self.rready.value = 1
        ar = False
        edge = RisingEdge(self.clk)
        for _ in range(limit):
            await edge
            if not ar and self.arready.value:
                ar = True
                self.arvalid.value = 0
            if self.rvalid.value:
                self.rready.value = 0
                return int(self.rdata.value)
        self.arvalid.value = 0
        self.rready.value = 0
        raise TimeoutError(f"AXI-lite read of 0x{addr:03x} got no response in {limit} cycles")


def pause_gen(rng: random.Random, p: float):
    """An endless pause pattern for cocotbext-axi: each cycle paused with probability ``p``."""
    while True:
        yield rng.random() < p


@dataclass
class JobResult:
    """What one job gave: its S2MM bytes, STATUS and ERROR after DONE."""

    data: bytes
    status: int
    error: int

    def __iter__(self):  # data, status, error = await h.run_job(...)
        return iter((self.data, self.status, self.error))


class EngineHarness:
    """``rtlcnn_top`` (or a top with its ports) under cocotb: clock, reset, registers, jobs."""

    def __init__(self, dut, build: Build | None = None, seed: int = 0, period_ns: int = 10,
                 check_derived: bool = False):
        from cocotbext.axi import AxiLiteBus, AxiStreamBus, AxiStreamSink, AxiStreamSource
        from cocotbext.axi import AxiLiteMaster as _AxiLite

        self.dut = dut
        self.rng = random.Random(seed)
        #: run_job's default: check OUT_H/OUT_W/IN_BEATS/OUT_BEATS against JobConfig's
        self.check_derived = check_derived
        self.period_ns = period_ns
        self.clock = start_clock(dut, period_ns)
        self.axil = _AxiLite(AxiLiteBus.from_prefix(dut, "s_axi_ctrl"), dut.aclk, dut.aresetn,
                             reset_active_level=False)
        # the stream models have no reset of their own: flush_streams() stands for a DMA reset
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.aclk)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.aclk)
        self.build = build

    async def reset(self, cycles: int = 5) -> None:
        await reset(self.dut, cycles, cycles)

    async def read(self, off: int) -> int:
        return await self.axil.read_dword(off)

    async def write(self, off: int, value: int) -> None:
        await self.axil.write_dword(off, value)

    async def read_build(self) -> Build:
        """The build as the ID and build registers report it."""
        vals = {off: await self.read(off) for off in regs.BUILD_REGISTERS}
        return Build.from_registers(vals.__getitem__)

    def set_traffic(self, idle: float, backpressure: float) -> None:
        """Random idle cycles on the input and backpressure on the output (0 = none)."""
        if idle:
            self.source.set_pause_generator(pause_gen(self.rng, idle))
        else:
            self.source.clear_pause_generator()
            self.source.pause = False
        if backpressure:
            self.sink.set_pause_generator(pause_gen(self.rng, backpressure))
        else:
            self.sink.clear_pause_generator()
            self.sink.pause = False

    async def flush_streams(self) -> None:
        """Drop what the stream models hold (as resetting both DMA channels would)."""
        self.source.clear()
        self.source._handle_reset(True)
        self.source._handle_reset(False)
        self.sink.clear()
        await ClockCycles(self.dut.aclk, 2)

    async def configure(self, cfg: JobConfig) -> None:
        for off, val in cfg.registers().items():
            await self.write(off, val)

    def stuck(self, status: int, max_cycles: int) -> str:
        """The message when a job is not DONE in time (subclasses add state)."""
        return f"engine not DONE after {max_cycles} cycles (STATUS={status:#x})"

    async def wait_done(self, max_cycles: int, poll: int = 20) -> int:
        """Poll STATUS every ``poll`` cycles until DONE; AssertionError after ``max_cycles``."""
        status = 0
        for _ in range(max_cycles // poll + 1):
            status = await self.read(regs.REG_STATUS)
            if status & regs.STATUS_DONE:
                return status
            await ClockCycles(self.dut.aclk, poll)
        raise AssertionError(self.stuck(status, max_cycles))

    async def run_commands(self, jobs, data, max_cycles=None, poll: int = 20) -> JobResult:
        """Run a command stream (engine 1.5): CTRL = RUN_STREAM, ``data`` (the whole input
        transfer, :func:`rtlcnn.core.commands.command_stream`) in, the output packet back.

        ``max_cycles`` (default: four times the jobs' expected cycles, plus 2000) bounds
        the wait for DONE; the output packet must then end within 2000 more cycles.
        """
        from cocotbext.axi import AxiStreamFrame

        b = self.build
        await self.write(regs.REG_CTRL, regs.CTRL_RUN_STREAM)
        recv = cocotb.start_soon(self.sink.recv())
        await self.source.send(AxiStreamFrame(bytes(np.asarray(data, np.uint8))))
        if max_cycles is None:
            max_cycles = sum(4 * (c.mac_steps(b) + 20 * c.out_values() + c.in_beats(b) + 30)
                             for c in jobs) + 2000
        status = await self.wait_done(max_cycles, poll)
        frame = await with_timeout(recv, 2000 * self.period_ns, "ns")
        err = await self.read(regs.REG_ERROR)
        return JobResult(bytes(frame.tdata), status, err)

    async def counters(self) -> list:
        """CYC_TOTAL, CYC_MAC, CYC_IN_STALL, CYC_OUT_STALL of the last job."""
        return [await self.read(r) for r in (regs.REG_CYC_TOTAL, regs.REG_CYC_MAC, regs.REG_CYC_IN_STALL,
                                             regs.REG_CYC_OUT_STALL)]

    async def run_job(self, cfg: JobConfig, data, check_derived: bool | None = None, max_cycles=None,
                      poll: int = 20) -> JobResult:
        """Configure, START, stream ``data`` in and the output back, wait for DONE.

        ``max_cycles`` (default: four times the job's expected cycles, plus 2000) bounds
        the wait for DONE; the output packet must then end within 2000 more cycles.
        """
        from cocotbext.axi import AxiStreamFrame

        b = self.build
        await self.configure(cfg)
        if self.check_derived if check_derived is None else check_derived:
            for off, want in cfg.derived_registers(b).items():
                got = await self.read(off)
                assert got == want, f"register {off:#x}: engine {got}, stream.py {want} for {cfg}"
        await self.write(regs.REG_CTRL, regs.CTRL_START)
        recv = cocotb.start_soon(self.sink.recv())
        await self.source.send(AxiStreamFrame(bytes(np.asarray(data, np.uint8))))
        if max_cycles is None:
            max_cycles = 4 * (cfg.mac_steps(b) + 20 * cfg.out_values() + cfg.in_beats(b)) + 2000
        status = await self.wait_done(max_cycles, poll)
        frame = await with_timeout(recv, 2000 * self.period_ns, "ns")
        err = await self.read(regs.REG_ERROR)
        return JobResult(bytes(frame.tdata), status, err)
