"""``rtlcnn.Accelerator``: run programs on the engine of an overlay (board or mock board).

>>> ol = pynq.Overlay("rtlcnn.bit")          # or rtlcnn.mock.MockOverlay()  # doctest: +SKIP
>>> acc = Accelerator(ol)                                                  # doctest: +SKIP
>>> net = acc.load("lenet.rtlcnn.npz")                                     # doctest: +SKIP
>>> logits = net.predict(images)     # float32 (N, C, H, W) in, as rtlcnn.reference.run

Needs numpy and pynq only (no torch, no cocotb), so it runs on the board's image.

Per job (see ``docs/register_map.md``, "Order of operations"): write the configuration
registers, check the engine's derived OUT_H/OUT_W/IN_BEATS/OUT_BEATS against our own,
START, start the DMA receive, then the send, poll STATUS and the receive channel with a
deadline (never pynq's ``DMA.wait()``, which polls forever), check the received length,
invalidate and unpack, read the cycle counters. Any error or timeout resets the engine
and both DMA channels so that the next call works, and raises with the status bits.
"""

from __future__ import annotations

import itertools
import os
import time

import numpy as np

from ..core import chain_run as CR
from ..core import commands as C
from ..core import schedule as SC
from ..core import stream as S
from ..core.errors import AcceleratorError, DmaTimeout, LayerNotSupported
from ..core.program import Program
from . import dma as D
from .ip import dma_max_transfer_bytes, find_ips, pl_clock_mhz

__all__ = ["Accelerator", "Network", "LayerProfile"]

SUPPORTED_MAJOR = S.VERSION_MAJOR

#: seconds the DMA may take to finish its soft reset, and each channel to leave halt
DMA_RESET_TIMEOUT = 1.0


#: network keys are unique in the process, so weights on chip are never mistaken for
#: those of another network, whichever Accelerator loaded them
_NETWORK_KEYS = itertools.count(1)
_RESIDENCY = {}


def _engine_residency(mmio) -> SC.Residency:
    """The one record of what an engine's weight and parameter buffers hold.

    Keyed by the engine's device and register address. A new Accelerator resets the engine
    and so clears it; a stale entry left by a closed board is cleared the same way.
    """
    key = (id(getattr(mmio, "device", None)), int(getattr(mmio, "base_addr", 0)))
    return _RESIDENCY.setdefault(key, SC.Residency())


class Accelerator:
    """The rtlcnn engine of an overlay, with its DMA.

    Parameters
    ----------
    overlay : pynq.Overlay or rtlcnn.mock.MockOverlay
        Must hold an ``xilinx.com:module_ref:rtlcnn_top`` IP and an AXI DMA.
    timeout : float, optional
        Seconds one job may take before it is declared stuck. Default: the overlay's
        ``default_job_timeout`` (the mock board sets a long one), else 1 s plus the job's
        expected time ten times over.

    Raises
    ------
    AcceleratorError
        The overlay has no engine or no DMA, or the engine's ID or major version is not
        one this driver knows. Nothing is sent to the engine in that case.
    """

    def __init__(self, overlay, timeout: float | None = None):
        self.overlay = overlay
        self.ip, self.dma = find_ips(overlay)  # AcceleratorError listing the IP if absent
        self.engine_name = self.ip.description.get("fullpath", "rtlcnn_0")
        self.mmio = self.ip.mmio
        self.dma_mmio = self.dma.mmio
        ident = self.mmio.read(S.REG_ID)
        if ident != S.ID_VALUE:
            raise AcceleratorError(
                f"IP {self.engine_name} does not identify as an rtlcnn engine (ID register 0x{ident:08x}, "
                f"expected 0x{S.ID_VALUE:08x}); is the bitstream loaded and the right one?")
        version = self.mmio.read(S.REG_VERSION)
        self.version = (version >> 16, version & 0xFFFF)
        if self.version[0] != SUPPORTED_MAJOR:
            raise AcceleratorError(
                f"engine {self.engine_name} has register map version {self.version[0]}.{self.version[1]}; "
                f"this rtlcnn driver speaks major version {SUPPORTED_MAJOR}. Install the rtlcnn "
                "release that matches the bitstream")
        self.build = S.Build.from_registers(self.mmio.read)
        self.clock_mhz = pl_clock_mhz(overlay)
        self.max_transfer = dma_max_transfer_bytes(overlay)
        self.timeout = timeout if timeout is not None else getattr(overlay, "default_job_timeout", None)
        # What the engine's buffers hold belongs to the engine, not to this object: every
        # Accelerator made on the same engine shares it, so one cannot trust weights that
        # another has overwritten since.
        self.residency = _engine_residency(self.mmio)
        self._sendbuf = None
        self._recvbuf = None
        self._verified = set()
        self._streams_checked = {}
        self._inflight = None  # the command stream start_commands started, until finished
        self.jobs_run = 0
        #: the overlay is the mock board, whose status reads run the simulation: poll at once
        self._simulated = bool(getattr(overlay, "is_mock", False))
        self.reset()

    # ------------------------------------------------------------------ set-up
    def _buffers(self, in_bytes: int, out_bytes: int):
        """DMA buffers, allocated once and grown only when a job needs more."""
        import pynq

        device = getattr(self.dma, "device", None)
        kw = {"target": device} if device is not None else {}
        if self._sendbuf is None or self._sendbuf.nbytes < in_bytes:
            self._sendbuf = None
            self._sendbuf = pynq.allocate((max(in_bytes, 4096),), np.uint8, **kw)
        if self._recvbuf is None or self._recvbuf.nbytes < out_bytes:
            self._recvbuf = None
            self._recvbuf = pynq.allocate((max(out_bytes, 4096),), np.uint8, **kw)
        return self._sendbuf, self._recvbuf

    def reset(self) -> None:
        """Reset both DMA channels and soft-reset the engine, then restart the channels.

        Weights held on chip are forgotten (the next job of each layer reloads them).

        Raises
        ------
        AcceleratorError
            The DMA did not finish its reset, or a channel did not leave halt, within
            ``DMA_RESET_TIMEOUT`` seconds (naming the channel and its DMASR). Never hangs.
        """
        self.residency.clear()  # whatever happens below, trust nothing on chip
        dread = self.dma_mmio.read
        # Order: the DMA first, then the engine. After SOFT_RESET the engine drops both
        # stream handshakes (s_axis_tready stays 0 until the next START,
        # docs/register_map.md), and the DMA's soft reset is graceful (PG021): MM2S must
        # still retire the AXI reads it has issued, whose data may be waiting for a
        # stream beat to be taken, so resetting the engine first can keep an MM2S reset
        # from ever completing. Resetting the DMA first leaves the engine as it was: if it
        # is taking input, MM2S's leftovers flow into it and the SOFT_RESET below drops
        # them; if it is not, this is no worse than the other order, and the deadline
        # reports it. S2MM receives the stream: its reset only drops its tready, which
        # stalls the engine's output until the SOFT_RESET ends the job.
        self.dma_mmio.write(D.MM2S + D.DMACR, D.CR_RESET)  # resets both channels (PG021)
        try:
            deadline = time.monotonic() + DMA_RESET_TIMEOUT
            while (cr := dread(D.MM2S + D.DMACR)) & D.CR_RESET:
                if time.monotonic() > deadline:
                    raise AcceleratorError(
                        f"the DMA did not come out of its soft reset within {DMA_RESET_TIMEOUT:g} s "
                        f"(MM2S DMACR 0x{cr:08x}, MM2S DMASR 0x{dread(D.MM2S + D.DMASR):08x}, "
                        f"S2MM DMASR 0x{dread(D.S2MM + D.DMASR):08x}); reload the overlay")
        finally:
            self.mmio.write(S.REG_CTRL, S.CTRL_SOFT_RESET)  # the engine in any case
        self._start_dma()

    def _start_dma(self) -> None:
        """Set each channel's run bit and wait, with a deadline, until it leaves halt.

        Done here rather than with pynq's ``_SDMAChannel.start()``, which polls with no
        deadline. Writes what that method writes (run, plus the completion interrupt
        enable when pynq gave the channel an interrupt) and leaves pynq's channel objects
        as it would: ``transfer()`` then sees ``running`` (read from DMASR) and, since a
        freshly started channel is not yet idle, needs ``_first_transfer`` set.
        """
        dread = self.dma_mmio.read
        chans = (("MM2S (send)", D.MM2S, self.dma.sendchannel),
                 ("S2MM (recv)", D.S2MM, self.dma.recvchannel))
        for _, off, ch in chans:
            irq = D.CR_IOC_IRQ_EN if getattr(ch, "_interrupt", None) else 0
            self.dma_mmio.write(off + D.DMACR, D.CR_RS | irq)
        deadline = time.monotonic() + DMA_RESET_TIMEOUT
        for name, off, ch in chans:
            while (sr := dread(off + D.DMASR)) & D.SR_HALTED:
                if time.monotonic() > deadline:
                    errs = ", ".join(t for bit, t in ((D.SR_INTERR, "internal"), (D.SR_SLVERR, "slave"),
                                                      (D.SR_DECERR, "decode")) if sr & bit)
                    raise AcceleratorError(
                        f"the DMA's {name} channel did not start within {DMA_RESET_TIMEOUT:g} s "
                        f"after a reset: DMASR 0x{sr:08x} still has bit 0 (halted) set"
                        + (f", with {errs} error" if errs else "")
                        + "; reload the overlay")
            if hasattr(ch, "_first_transfer"):
                ch._first_transfer = True  # as pynq's start(): the first transfer may go
            if hasattr(ch, "_active_buffer"):
                ch._active_buffer = None

    # ------------------------------------------------------------------ programs
    def load(self, program, unfold: bool | None = None) -> Network:
        """Schedule a program (a :class:`rtlcnn.Program` or the path of a program file).

        Raises LayerNotSupported (naming the op and the limit) when this engine build
        cannot run it; nothing is sent to the engine then.
        """
        if isinstance(program, (str, os.PathLike)):
            program = Program.load(program)
        if not isinstance(program, Program):
            raise TypeError("load() takes a rtlcnn.Program or a program file path, "
                            f"not {type(program).__name__}")
        # LINEAR layers batch images per job up to what the DMA's largest transfer allows
        plan = SC.plan(program, self.build, unfold=unfold, max_transfer=self.max_transfer)
        in_bytes, out_bytes = plan.max_stream_bytes()
        if max(in_bytes, out_bytes) > self.max_transfer:
            raise LayerNotSupported(
                f"a job of {program.name or 'the program'} streams {max(in_bytes, out_bytes)} bytes, "
                f"more than the DMA's largest transfer ({self.max_transfer} bytes)")
        self._buffers(in_bytes, out_bytes)  # allocated once, reused by every job
        net = Network(self, program, plan, next(_NETWORK_KEYS))
        CR.prepare(plan, self, net.batch_size)  # (engine 1.5: the streams of a default batch)
        return net

    # ------------------------------------------------------------------ one job
    def _deadline(self, cfgs) -> float:
        if self.timeout is not None:  # (per job: a command stream gets it for each of its jobs)
            return time.monotonic() + self.timeout * len(cfgs)
        return time.monotonic() + 1.0 + 10 * self._cycles(cfgs) / (self.clock_mhz * 1e6)

    def _cycles(self, cfgs) -> int:
        """Cost-model cycles of a job list (a prepared stream's: from its checked entry)."""
        known = self._streams_checked.get(id(cfgs))
        if known is not None and known[0] is cfgs:
            return known[4]
        return sum(SC.job_cycles(c, self.build) for c in cfgs)

    def _check_config(self, cfg: S.JobConfig, write: bool = True) -> None:
        regs = cfg.registers()
        key = tuple(regs.values())
        if key in self._verified:
            return
        if write:  # (run_job has written them already)
            self._write_config(cfg)
        code = cfg.check(self.build)
        if cfg.is_add and not self.build.has_add:
            raise AcceleratorError(f"an ADD job needs engine version 1.4; this engine is "
                                   f"{self.build.version} ({cfg})")
        if cfg.has_bounds and not self.build.has_act_bounds:
            raise AcceleratorError(f"activation bounds [{cfg.act_min}, {cfg.act_max}] need engine "
                                   f"version 1.3 (the ACT register); this engine is "
                                   f"{self.build.version} ({cfg})")
        if code:
            raise AcceleratorError(f"job configuration rejected by the driver's own check: "
                                   f"{S.config_error_text(code)} ({cfg})")
        for off, want in cfg.derived_registers(self.build).items():
            got = self.mmio.read(off)
            if got != want:
                name = next(k for k, v in S.REGISTERS.items() if v == off)
                raise AcceleratorError(
                    f"the engine derives {name} = {got} for {cfg}, the driver {want}: driver and "
                    "bitstream disagree on the stream format; use matching versions")
        if len(self._verified) > 4096:
            self._verified.clear()
        self._verified.add(key)

    def run_job(self, cfg: S.JobConfig, stream: np.ndarray) -> np.ndarray:
        """Run one job: ``stream`` (uint8, the whole input stream) in, output bytes out."""
        in_bytes = cfg.in_beats(self.build) * 8
        out_bytes = cfg.out_beats() * 8
        if len(stream) != in_bytes:
            raise AcceleratorError(f"job stream has {len(stream)} bytes, the job needs {in_bytes}")
        self._write_config(cfg)
        self._check_config(cfg, write=False)
        return self._transfer(S.CTRL_START, [cfg], stream, in_bytes, out_bytes)

    @property
    def max_command_bytes(self) -> int:
        """The largest command stream (each way) :meth:`run_commands` takes: the DMA's limit."""
        return self.max_transfer

    def run_commands(self, cfgs, stream: np.ndarray, places=None) -> np.ndarray:
        """Run a command stream (engine 1.5): the jobs ``cfgs`` whose headers and sections
        ``stream`` holds (:func:`rtlcnn.core.commands.command_stream`, ``places`` as given
        to it), one DMA transfer each way; the outputs sent on m_axis back to back.

        Raises
        ------
        AcceleratorError, DmaTimeout
            As :meth:`run_job`, naming the failed job (JOB_INDEX); ``e.jobs_done`` is the
            number of jobs before it, whose outputs ``e.commands_output`` holds.
        """
        return self.finish_commands(self.start_commands(cfgs, stream, places))

    def start_commands(self, cfgs, stream: np.ndarray, places=None):
        """:meth:`run_commands`' first half: the stream copied into the DMA buffer, the
        engine and both DMA channels started; returns at once. The host may then prepare
        the next stream (the engine has its own copy) and must call
        :meth:`finish_commands` with what this returns (or :meth:`cancel_commands`)
        before it starts another. Raises as :meth:`run_commands`."""
        if self._inflight is not None:
            raise AcceleratorError("a command stream is still running on the engine: finish_commands() "
                                   "(or cancel_commands()) it before starting another")
        in_bytes, out_bytes = self._command_sizes(cfgs, stream, places)
        ticket = self._start(S.CTRL_RUN_STREAM, cfgs, stream, in_bytes, out_bytes, places)
        self._inflight = ticket
        return ticket

    def finish_commands(self, ticket) -> np.ndarray:
        """Wait for the command stream :meth:`start_commands` started (a deadline from its
        expected engine time) and return its output bytes (valid until the next stream
        starts). Raises as :meth:`run_commands`; the engine and DMA are reset then."""
        if ticket is not self._inflight:
            raise AcceleratorError("finish_commands() takes the stream start_commands() started last")
        self._inflight = None
        return self._finish(ticket)

    def cancel_commands(self, ticket, exc: BaseException | None = None) -> None:
        """Abandon a started command stream (the caller was interrupted): reset engine and
        DMA, so the next call works."""
        if ticket is self._inflight:
            self._inflight = None
            self._recover(exc if exc is not None else AcceleratorError("command stream cancelled"))

    def _command_sizes(self, cfgs, stream, places) -> tuple:
        if not self.build.has_command_streams:
            raise AcceleratorError(f"command streams need engine version 1.5; this engine is "
                                   f"{self.build.version}")
        known = self._streams_checked.get(id(cfgs))
        if known is not None and known[0] is cfgs and known[1] is places:  # a prepared stream again
            in_bytes, out_bytes = known[2:4]
        else:
            in_bytes = C.command_in_beats(cfgs, self.build, places) * 8
            out_bytes = C.command_out_beats(cfgs, places) * 8
            for cfg in {id(c): c for c in cfgs}.values():  # the driver's checks of each new configuration
                self._check_config(cfg)
            if isinstance(cfgs, tuple):  # (kept alive here, so its id stays its own)
                if len(self._streams_checked) > 64:
                    self._streams_checked.clear()
                self._streams_checked[id(cfgs)] = (cfgs, places, in_bytes, out_bytes,
                                                   sum(SC.job_cycles(c, self.build) for c in cfgs))
        if len(stream) != in_bytes:
            raise AcceleratorError(f"command stream has {len(stream)} bytes, its {len(cfgs)} jobs "
                                   f"need {in_bytes}")
        return in_bytes, out_bytes

    def _write_config(self, cfg: S.JobConfig) -> None:
        # OP..ADD_MULT are twelve consecutive words, one block write; an engine before 1.4 has
        # no ADD_MULT, one before 1.3 no ACT (their plans have no adds or bounds:
        # engine_support), so they get OP..ACT or OP..PBASE only
        words = np.fromiter(cfg.registers().values(), dtype="<u4", count=12)
        n = 12 if self.build.has_add else 11 if self.build.has_act_bounds else 10
        self.mmio.write(S.REG_OP, words[:n].tobytes())

    def _transfer(self, ctrl, cfgs, stream, in_bytes, out_bytes, places=None):
        """CTRL = ``ctrl`` (START or RUN_STREAM), one receive and one send, the wait."""
        return self._finish(self._start(ctrl, cfgs, stream, in_bytes, out_bytes, places))

    def _start(self, ctrl, cfgs, stream, in_bytes, out_bytes, places):
        send, recv = self._buffers(in_bytes, out_bytes)
        send[:in_bytes] = stream
        view = recv[:out_bytes]
        try:
            self.mmio.write(S.REG_CTRL, ctrl)
            self.dma.recvchannel.transfer(view)
            self.dma.sendchannel.transfer(send[:in_bytes])  # flushes these bytes of the CPU's view
        except (KeyboardInterrupt, RuntimeError) as exc:
            # interrupted (or pynq refused a transfer): leave engine and DMA idle for the next call
            self._recover(exc)
            raise
        return (cfgs, in_bytes, out_bytes, view, places, self._deadline(cfgs))

    def _finish(self, ticket):
        cfgs, in_bytes, out_bytes, view, places, deadline = ticket
        try:
            self._wait(cfgs, in_bytes, out_bytes, deadline, view, places)
        except (KeyboardInterrupt, RuntimeError) as exc:
            self._recover(exc)
            raise
        got = self.dma_mmio.read(D.S2MM + D.LENGTH)
        if got != out_bytes:
            raise self._recover(AcceleratorError(
                f"the DMA received {got} bytes, the {'job produces' if len(cfgs) == 1 else 'jobs produce'} "
                f"{out_bytes}"))
        view.invalidate()  # DDR -> the CPU's view
        self.jobs_run += len(cfgs)
        return np.asarray(view)

    def read_counters(self) -> tuple:
        """CYC_TOTAL, CYC_MAC, CYC_IN_STALL, CYC_OUT_STALL of the last job."""
        dev = self.mmio.device
        if dev.has_capability("REGISTER_RW"):  # one request instead of four (mock board)
            raw = dev.read_registers(self.mmio.base_addr + S.REG_CYC_TOTAL, 16)
            return tuple(int(v) for v in np.frombuffer(raw, "<u4"))
        r = self.mmio.read
        return (r(S.REG_CYC_TOTAL), r(S.REG_CYC_MAC), r(S.REG_CYC_IN_STALL), r(S.REG_CYC_OUT_STALL))

    def _wait(self, cfgs, in_bytes, out_bytes, deadline, view=None, places=None):
        """Poll the receive channel and STATUS until the job (or command stream) is done,
        or raise. On a board the first poll waits for the jobs' expected time and the
        polls after it back off; the mock board's time passes only on requests: it runs the
        simulation for most of the expected cycles first (one request), then its status
        reads run it on."""
        read, dread = self.mmio.read, self.dma_mmio.read
        cfg = cfgs[0] if len(cfgs) == 1 else f"a command stream of {len(cfgs)} jobs"
        cycles = self._cycles(cfgs)
        expect = 0.0 if self._simulated else cycles / (self.clock_mhz * 1e6)
        advance = getattr(self.mmio.device, "control", None) if self._simulated else None
        if advance is not None and cycles >= 5000:  # the mock board's time passes only on requests:
            advance(cmd="run", cycles=int(cycles * 0.9))  # its sleep, as a board's below (one request)
        # the first poll after the expected time (at once for jobs under 50 us), then polls
        # backing off from an eighth of it, doubling up to 10 ms
        pause, step = (expect if expect >= 5e-5 else 0.0), max(expect / 8, 2e-5)
        while True:
            if pause:
                time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            if not self._simulated:
                pause, step = step, min(2 * step, 0.01)
            s2 = dread(D.S2MM + D.DMASR)
            st = read(S.REG_STATUS)
            mm = 0 if s2 & D.SR_IDLE else dread(D.MM2S + D.DMASR)
            if st & S.STATUS_ERROR:
                err, cerr = read(S.REG_ERROR), read(S.REG_CONFIG_ERR)
                what = S.config_error_text(cerr) if err & S.ERR_CONFIG else (
                    "input TLAST early" if err & S.ERR_TLAST_EARLY else "input TLAST missing")
                if len(cfgs) == 1:
                    raise self._recover(AcceleratorError(
                        f"the engine reported an error (ERROR=0x{err:x}: {what}) in {cfg}",
                        status=st, error_bits=err))
                raise self._recover(self._stream_error(cfgs, st, err, what, deadline, view, places))
            if (s2 | mm) & D.SR_ERRORS:
                raise self._recover(AcceleratorError(
                    f"DMA error (MM2S status 0x{mm:x}, S2MM status 0x{s2:x}; bit 4 internal, 5 slave, "
                    f"6 decode error) in {cfg}", status=st))
            if st & S.STATUS_DONE and s2 & D.SR_IDLE:
                return
            if time.monotonic() > deadline:
                mm = dread(D.MM2S + D.DMASR)
                channel = "send" if not mm & D.SR_IDLE else "recv"
                status = mm if channel == "send" else s2
                err = read(S.REG_ERROR)
                raise self._recover(DmaTimeout(
                    f"job did not finish in time: {channel} channel (DMASR 0x{status:x}) not idle, "
                    f"engine STATUS 0x{st:x}; {cfg}",
                    channel=channel, sent_bytes=in_bytes if channel == "send" else out_bytes,
                    dma_status=status, status=st, error_bits=err))

    def _stream_error(self, cfgs, st, err, what, deadline, view, places) -> AcceleratorError:
        """The error of a failed command stream: JOB_INDEX names the job; the jobs before it
        gave their outputs (the engine ended the output packet with TLAST: wait for S2MM)."""
        k = min(int(self.mmio.read(S.REG_JOB_INDEX)), len(cfgs) - 1)
        exc = AcceleratorError(f"the engine reported an error (ERROR=0x{err:x}: {what}) in job {k} of a "
                               f"command stream of {len(cfgs)} jobs: {cfgs[k]}", status=st, error_bits=err)
        exc.jobs_done = 0
        while time.monotonic() < deadline:
            if self.dma_mmio.read(D.S2MM + D.DMASR) & D.SR_IDLE:
                got = self.dma_mmio.read(D.S2MM + D.LENGTH)
                need = int(C.output_offsets(cfgs[:k], None if places is None else places[:k])[-1])
                if view is not None and got >= need:
                    view.invalidate()
                    exc.jobs_done = k
                    exc.commands_output = np.array(view[:need])
                break
        return exc

    def _recover(self, exc: BaseException) -> BaseException:
        """Reset engine and DMA after ``exc`` and say in ``exc`` how that went; returns it.

        The reset's own failure is not swallowed: an AcceleratorError's message gains it
        (and ``reset_error`` holds it), any other exception gets it as a note (Python
        3.11+) or as its cause, so the user sees both what failed and that the board still
        needs attention, instead of a later "DMA channel not started" from pynq.
        """
        try:
            self.reset()
        except Exception as reset_err:  # noqa: BLE001 - reported with the original error
            note = (f"then resetting the engine and DMA failed as well: {reset_err}")
            if isinstance(exc, AcceleratorError):
                exc.args = (f"{exc.args[0] if exc.args else ''}; {note}",) + exc.args[1:]
                exc.reset_error = reset_err
            elif hasattr(exc, "add_note"):
                exc.add_note(note)
            elif exc.__cause__ is None:
                exc.__cause__ = reset_err
        else:
            if isinstance(exc, AcceleratorError) and exc.args:
                exc.args = (f"{exc.args[0]}; the engine and DMA were reset",) + exc.args[1:]
        return exc

    def close(self):
        """Free the DMA buffers."""
        for b in (self._sendbuf, self._recvbuf):
            if b is not None:
                b.freebuffer()
        self._sendbuf = self._recvbuf = None

    def __repr__(self):
        b = self.build
        return (f"<rtlcnn.Accelerator {self.engine_name} v{self.version[0]}.{self.version[1]} "
                f"P_OC={b.p_oc} P_IC={b.p_ic} WBUF={b.wbuf_depth} IBUF={b.ibuf_depth} "
                f"PBUF={b.pbuf_depth} at {self.clock_mhz:g} MHz>")


from .network import LayerProfile, Network  # noqa: E402  (Network uses Accelerator's module)
