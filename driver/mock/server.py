"""The simulator side of the mock board: a cocotb test that serves register requests.

This module runs inside the simulator process (cocotb imports it as the test module;
:mod:`rtlcnn.mock.overlay` starts that process). It owns:

- the clock and reset of ``rtlcnn_mock_top`` (``rtlcnn_top`` plus stream buffers) and a
  lean AXI4-Lite master on ``s_axi_ctrl_*`` for the engine's registers, both from the
  shared harness :mod:`rtlcnn.sim.harness`;
- a register-level model of the Xilinx AXI DMA in simple mode (PG021), whose MM2S
  channel feeds ``s_axis_*`` from DDR and whose S2MM channel writes ``m_axis_*`` into
  DDR, both a segment at a time through the Verilog buffers of ``rtlcnn_mock_top`` (no
  Python per beat);
- DDR, a file in shared memory that the user's process maps too.

Requests come over a Unix socket (see :mod:`rtlcnn.mock.protocol`). When nothing is in
flight the server blocks on the socket and simulated time stands still. When a DMA
transfer is in flight, a read of a status register lets the simulation run before it
answers: the status of a busy DMA channel until that channel ends or errs, the
engine's STATUS until both channels are idle, each for at most ``chunk_cycles``. A poll
loop of the driver then costs a few socket round trips per job instead of one per clock
cycle, and a stalled stream still answers every poll within ``chunk_cycles``.
"""

from __future__ import annotations

import json
import mmap
import os
import socket

import cocotb
import numpy as np
from cocotb.simtime import get_sim_time
from cocotb.triggers import Event, FallingEdge, ReadOnly, RisingEdge, Timer

# PG021 simple-mode registers: one home, shared with the driver
from rtlcnn.board.dma import (
    ADDR,
    ADDR_MSB,
    CHANNEL_SPAN,
    CR_RESET,
    CR_RESET_VALUE,
    CR_RS,
    DMACR,
    DMASR,
    LENGTH,
    REGISTER_SPACE,
    S2MM,
    SR_DECERR,
    SR_ERR_IRQ,
    SR_HALTED,
    SR_IDLE,
    SR_INTERR,
    SR_IOC_IRQ,
    SR_IRQ_MASK,
    SR_SLVERR,
)
from rtlcnn.core.regs import REG_STATUS
from rtlcnn.mock import protocol as P
from rtlcnn.sim.harness import AxiLiteMaster, reset, start_clock, wait_for  # the engine side


class DmaChannel:
    """One channel of the AXI DMA in simple mode: its registers and its transfer task."""

    def __init__(self, board, name):
        self.board = board
        self.name = name
        self.task = None
        self.reset()

    def reset(self):
        if self.task is not None and not self.task.done():
            self.task.cancel()
        self.task = None
        self.cr = CR_RESET_VALUE
        self.sr = SR_HALTED
        self.addr = 0
        self.length = 0
        self.active = False

    def read(self, off):
        if off == DMACR:
            return self.cr
        if off == DMASR:
            return self.sr
        if off == ADDR:
            return self.addr & 0xFFFFFFFF
        if off == ADDR_MSB:
            return self.addr >> 32
        if off == LENGTH:
            return self.length
        return 0

    def write(self, off, value):
        if off == DMACR:
            if value & CR_RESET:
                self.board.reset_dma()
                return
            self.cr = value & ~CR_RESET
            if value & CR_RS:
                if not self.sr & (SR_INTERR | SR_SLVERR | SR_DECERR):
                    self.sr &= ~SR_HALTED
            else:
                # Stopping takes effect when the channel is idle (PG021); an active
                # transfer keeps the channel running.
                if not self.active:
                    self.sr |= SR_HALTED
        elif off == DMASR:
            self.sr &= ~(value & SR_IRQ_MASK)
        elif off == ADDR:
            self.addr = (self.addr & ~0xFFFFFFFF) | value
        elif off == ADDR_MSB:
            self.addr = (self.addr & 0xFFFFFFFF) | (value << 32)
        elif off == LENGTH:
            self.length = value & self.board.length_mask
            if self.sr & SR_HALTED or self.active:
                return  # ignored, as on hardware when not running or busy
            if self.length == 0:
                self.fail(SR_INTERR)
                return
            lo, hi = self.board.ddr_base, self.board.ddr_base + self.board.ddr_size
            if not (lo <= self.addr and self.addr + self.length <= hi):
                self.fail(SR_DECERR)
                return
            self.sr &= ~SR_IDLE
            self.active = True
            self.task = cocotb.start_soon(self.run())

    def fail(self, bit):
        self.sr = (self.sr | bit | SR_HALTED | SR_ERR_IRQ) & ~SR_IDLE
        self.cr &= ~CR_RS
        self.active = False
        self.board.progress.set()

    def finish(self):
        self.sr |= SR_IDLE | SR_IOC_IRQ
        self.active = False
        if not self.cr & CR_RS:
            self.sr |= SR_HALTED
        self.board.progress.set()


def _write_hex(path, data: bytes) -> None:
    words = np.frombuffer(data + bytes(-len(data) % 8), "<u8")
    with open(path, "w") as fh:
        fh.write("\n".join(map("{:016x}".format, words.tolist())))
        fh.write("\n")


def _read_hex(path) -> bytes:
    words = []
    with open(path) as fh:
        for line in fh:
            line = line.split("//", 1)[0].strip()  # Icarus writes "// 0x<address>" lines
            if line and line[0] != "@":
                words.extend(int(t, 16) for t in line.split())
    return np.array(words, dtype="<u8").tobytes()


class Mm2sChannel(DmaChannel):
    """Memory to stream: reads DDR and hands it, a segment at a time, to the Verilog
    buffer of rtlcnn_mock_top, which drives ``s_axis_*`` with no Python per beat."""

    async def run(self):
        b = self.board
        dut = b.dut
        off = self.addr - b.ddr_base
        n = self.length
        data = bytes(b.ddr[off:off + n])
        nbeats = (n + 7) // 8
        tail = n - (nbeats - 1) * 8
        stop_after = b.take_fault("mm2s_truncate")
        early = b.take_fault("mm2s_early_tlast")
        total = nbeats if stop_after is None else min(nbeats, int(stop_after))
        end = nbeats
        if early is not None:  # a short packet: TLAST on beat `early`, the rest dropped
            total = end = min(nbeats, int(early))
            tail = 8
        pos = 0
        while pos < total:
            seg = min(b.seg_depth, total - pos)
            last = pos + seg == end
            _write_hex(b.hex_in, data[pos * 8:(pos + seg) * 8])
            dut.mm2s_count.value = seg
            dut.mm2s_tlast.value = int(last)
            dut.mm2s_last_keep.value = (1 << tail) - 1 if last else 0xFF
            dut.mm2s_start.value = 1
            await RisingEdge(b.clk)
            dut.mm2s_start.value = 0
            await ReadOnly()
            if dut.mm2s_busy.value:
                await FallingEdge(dut.mm2s_busy)
            pos += seg
        b.beats_in += total
        if total < end:
            return  # a stalled stream: the channel stays busy until the DMA is reset
        self.finish()


class S2mmChannel(DmaChannel):
    """Stream to memory: the Verilog buffer of rtlcnn_mock_top takes ``m_axis_*`` beats
    a segment at a time; each segment is written to DDR."""

    async def run(self):
        b = self.board
        dut = b.dut
        off = self.addr - b.ddr_base
        limit = self.length
        room = (limit + 7) // 8  # beats the buffer takes
        got = 0
        edge = RisingEdge(b.clk)
        while True:
            # one beat more than fits, so that a longer packet is seen (and is an error)
            dut.s2mm_cap.value = min(b.seg_depth, room - got + 1)
            dut.s2mm_arm.value = 1
            await ReadOnly()
            if not dut.s2mm_stop.value:
                await RisingEdge(dut.s2mm_stop)
                await ReadOnly()
            cnt, last = int(dut.s2mm_cnt.value), bool(dut.s2mm_last.value)
            await edge
            dut.s2mm_dump.value = 1
            await edge
            dut.s2mm_dump.value = 0
            dut.s2mm_clear.value = 1
            await edge
            dut.s2mm_clear.value = 0
            words = _read_hex(b.hex_out)[:cnt * 8]
            take = max(0, min(len(words), limit - got * 8))
            b.ddr[off + got * 8:off + got * 8 + take] = words[:take]
            got += cnt
            b.beats_out += cnt
            if got > room:
                dut.s2mm_arm.value = 0
                self.length = limit
                self.fail(SR_INTERR)  # the packet is longer than the buffer
                return
            if last:
                dut.s2mm_arm.value = 0
                self.length = min(got * 8, limit)
                self.finish()
                return


class Board:
    """Everything on the simulated board except the user's CPU."""

    def __init__(self, dut, cfg):
        self.dut = dut
        self.cfg = cfg
        self.clk = dut.aclk
        self.period = int(cfg["period_ps"])  # even, so half periods are whole ps
        self.ddr_base = int(cfg["ddr_base"])
        self.ddr_size = int(cfg["ddr_size"])
        self.engine_base = int(cfg["engine_base"])
        self.engine_range = int(cfg["engine_range"])
        self.dma_base = int(cfg["dma_base"])
        self.dma_range = int(cfg["dma_range"])
        self.chunk = int(cfg.get("chunk_cycles", 20000))
        self.length_mask = (1 << int(cfg.get("dma_length_width", 26))) - 1
        fd = os.open(cfg["ddr_path"], os.O_RDWR)
        self.ddr = mmap.mmap(fd, self.ddr_size)
        os.close(fd)
        self.progress = Event()
        self.reset_pending = False
        self.faults = {}
        self.beats_in = 0
        self.beats_out = 0
        self.mm2s = Mm2sChannel(self, "mm2s")
        self.s2mm = S2mmChannel(self, "s2mm")
        self.axil = AxiLiteMaster(dut, self.clk)
        self.seg_depth = int(cfg.get("seg_depth", 65536))
        self.hex_in = os.path.abspath("mm2s.hex")    # the simulator's working folder
        self.hex_out = os.path.abspath("s2mm.hex")
        for name in ("dma_reset", "mm2s_start", "mm2s_count", "mm2s_tlast", "s2mm_arm",
                     "s2mm_cap", "s2mm_dump", "s2mm_clear"):
            getattr(dut, name).value = 0
        dut.mm2s_last_keep.value = 0xFF

    def take_fault(self, name):
        """The armed fault's value if it is due on this transfer (then it is disarmed)."""
        f = self.faults.get(name)
        if f is None:
            return None
        if f["after"] > 0:
            f["after"] -= 1
            return None
        del self.faults[name]
        return f["value"]

    def reset_dma(self):
        """Abort both channels (registers to reset values, stream buffers emptied)."""
        self.mm2s.reset()
        self.s2mm.reset()
        dut = self.dut
        for name in ("mm2s_start", "s2mm_arm", "s2mm_dump", "s2mm_clear"):
            getattr(dut, name).value = 0
        dut.dma_reset.value = 1
        self.reset_pending = True

    def cycles(self) -> int:
        return int(get_sim_time("ps")) // self.period

    def busy(self) -> bool:
        return self.mm2s.active or self.s2mm.active

    async def wait_until(self, done):
        """Let time pass until ``done()`` (a transfer ended or erred), or for one chunk;
        the channels set ``progress`` when they end, and the engine gets 16 cycles to
        settle after the last beat."""
        await wait_for(done, self.period, self.chunk, self.progress, settle=16)

    async def read(self, addr: int, n: int) -> bytes:
        out = bytearray()
        for a in range(addr, addr + n, 4):
            out += (await self.read_word(a)).to_bytes(4, "little")
        return bytes(out[:n])

    async def read_word(self, addr: int) -> int:
        if self.dma_base <= addr < self.dma_base + self.dma_range:
            off = addr - self.dma_base
            ch = self.s2mm if off >= S2MM else self.mm2s
            if off % CHANNEL_SPAN == DMASR and ch.active:
                await self.wait_until(lambda: not ch.active)
            return ch.read(off % CHANNEL_SPAN if off < REGISTER_SPACE else -1)
        if self.engine_base <= addr < self.engine_base + self.engine_range:
            off = addr - self.engine_base
            if off == REG_STATUS and self.busy():
                await self.wait_until(lambda: not self.busy())
            return await self.axil.read(off)
        raise ValueError(f"read of unmapped address 0x{addr:x}")

    async def write(self, addr: int, data: bytes) -> None:
        for i in range(0, len(data), 4):
            await self.write_word(addr + i, int.from_bytes(data[i:i + 4].ljust(4, b"\0"), "little"))

    async def write_word(self, addr: int, value: int) -> None:
        if self.dma_base <= addr < self.dma_base + self.dma_range:
            off = addr - self.dma_base
            if off < REGISTER_SPACE:
                ch = self.s2mm if off >= S2MM else self.mm2s
                ch.write(off % CHANNEL_SPAN, value)
            if self.reset_pending:  # hold dma_reset for one clock edge
                await RisingEdge(self.clk)
                self.dut.dma_reset.value = 0
                self.reset_pending = False
            return
        if self.engine_base <= addr < self.engine_base + self.engine_range:
            await self.axil.write(addr - self.engine_base, value)
            return
        raise ValueError(f"write to unmapped address 0x{addr:x}")

    async def control(self, req: dict) -> dict:
        cmd = req.get("cmd")
        if cmd == "fault":
            self.faults[req["name"]] = {"value": req.get("value"), "after": int(req.get("after", 0))}
            return {}
        if cmd == "run":
            await Timer(int(req["cycles"]) * self.period, "ps")
            return {}
        if cmd == "stats":
            return {"cycles": self.cycles(), "beats_in": self.beats_in, "beats_out": self.beats_out,
                    "mm2s_active": self.mm2s.active, "s2mm_active": self.s2mm.active}
        raise ValueError(f"unknown control command {cmd!r}")


@cocotb.test()
async def serve(dut):
    """Serve register requests from the user's process until it says stop or goes away."""
    cfg = json.loads(os.environ["RTLCNN_MOCK_CONFIG"])
    board = Board(dut, cfg)
    start_clock(dut, board.period, unit="ps")
    await reset(dut, low=16, after=4)

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(cfg["socket"])
    sock.sendall(P.REP.pack(P.ST_OK, 0))  # ready
    posted_error = None
    while True:
        try:
            op, addr, n = P.REQ.unpack(P.recv_exact(sock, P.REQ.size))
            payload = P.recv_exact(sock, n) if op in (P.OP_WRITE, P.OP_POST, P.OP_CONTROL) else b""
        except ConnectionError:
            break  # the user's process went away: end the simulation
        if op == P.OP_POST:
            try:
                await board.write(addr, payload)
            except Exception as exc:  # reported with the next reply
                posted_error = posted_error or f"posted write to 0x{addr:x}: {type(exc).__name__}: {exc}"
            continue
        try:
            if posted_error:
                msg, posted_error = posted_error, None
                raise RuntimeError(msg)
            if op == P.OP_READ:
                reply = await board.read(addr, n)
            elif op == P.OP_WRITE:
                await board.write(addr, payload)
                reply = b""
            elif op == P.OP_CYCLES:
                reply = board.cycles().to_bytes(8, "little")
            elif op == P.OP_CONTROL:
                reply = json.dumps(await board.control(json.loads(payload))).encode()
            elif op == P.OP_STOP:
                sock.sendall(P.REP.pack(P.ST_OK, 0))
                break
            else:
                raise ValueError(f"unknown request {op}")
            sock.sendall(P.REP.pack(P.ST_OK, len(reply)) + reply)
        except Exception as exc:  # report to the user, keep serving
            msg = f"{type(exc).__name__}: {exc}".encode()
            sock.sendall(P.REP.pack(P.ST_ERROR, len(msg)) + msg)
    sock.close()
    board.reset_dma()
