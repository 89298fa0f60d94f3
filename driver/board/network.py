"""``rtlcnn.Network``: a program loaded on an :class:`rtlcnn.Accelerator`, its ``predict`` and
the profile of its last call."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..core import chain_run as CR
from ..core import schedule as SC
from ..core.errors import AcceleratorError, InputError
from ..core.program import Program

__all__ = ["Network", "LayerProfile"]


@dataclass
class LayerProfile:
    """What one op cost in the last call (``Network.profile()``)."""

    index: int
    name: str
    kind: str
    jobs: int = 0
    #: DMA transfer pairs (one send and one receive): one per job, or per command stream
    transfers: int = 0
    cycles: int = 0
    mac_cycles: int = 0
    in_stall: int = 0
    out_stall: int = 0
    macs: int = 0
    dma_bytes: int = 0
    wall_s: float = 0.0
    utilization: float = 0.0
    unfolded: bool = False
    #: the op ran in a chained segment (engine 1.5: activations on chip) with these ops; the
    #: engine counts cycles per transfer, so a segment's cycles are shared among its ops in
    #: proportion to the cost model's cycles of their jobs
    chained: tuple = ()

    def as_dict(self) -> dict:
        return dict(self.__dict__)



class Network:
    """A program loaded on an accelerator: ``predict`` runs images through it."""

    def __init__(self, acc, program: Program, plan: SC.Plan, key):  # acc: the Accelerator
        self.acc = acc
        self.program = program
        self.plan = plan
        self.key = key
        self._profile = []
        self._totals = {}
        #: images per batch: weights that do not stay on chip are sent once per batch
        self.batch_size = 64

    def predict(self, images, batch_size: int | None = None, strict: bool = False) -> np.ndarray:
        """Dequantized float32 outputs, exactly ``rtlcnn.reference.run(program, images)``.

        Parameters
        ----------
        images : float32 (N, C, H, W) real values, or int8 already quantized
        batch_size : images per batch (default 64); weights that do not stay on chip
            are sent once per batch.
        strict : bool
            Images unlike the calibration images (0..255 pixels for a 0..1 program,
            saturating values) raise InputError instead of an InputRangeWarning.

        Raises
        ------
        InputError
            Wrong shape, dtype or values; raised before anything is sent.
        AcceleratorError, DmaTimeout
            The engine or the DMA failed or timed out. The engine and the DMA have been
            reset (the next call works) unless the message says that reset failed too
            (``e.reset_error``); ``e.completed`` lists the images whose results were
            complete, ``e.partial_output`` holds their raw outputs (other rows are zeros).
        """
        return self.program.dequantize_output(self.predict_int(images, batch_size, strict))

    def predict_int(self, images, batch_size: int | None = None, strict: bool = False) -> np.ndarray:
        """Raw integer outputs of the last op (int8, or int32 accumulators), exactly
        ``rtlcnn.reference.run_int``; arguments and errors as :meth:`predict`."""
        xq = self.program.quantize_input(images, strict)  # InputError before anything is sent
        bs = self.batch_size if batch_size is None else int(batch_size)
        if bs < 1:
            raise InputError(f"batch_size must be >= 1, got {bs}")
        n = xq.shape[0]
        last = self.plan.layers[-1]
        out = np.zeros((n,) + tuple(last.out_shape), np.int32 if last.out_int32 else np.int8)
        prof = {lp.index: LayerProfile(lp.index, lp.name, lp.kind, unfolded=lp.unfold)
                for lp in self.plan.layers}
        t_start = time.perf_counter()
        completed = []
        state = {"t": time.perf_counter()}

        pending = {}  # layer -> cost-model cycles of its jobs since the last transfer's end

        def on_job(rec, raw):
            p = prof[rec.layer]
            p.jobs += rec.jobs
            p.macs += rec.macs
            p.dma_bytes += rec.dma_bytes
            pending[rec.layer] = pending.get(rec.layer, 0) + rec.jobs * SC.job_cycles(rec.cfg, self.acc.build)
            if rec.transfer_end:  # the counters cover the transfer's jobs
                p.transfers += 1
                now = time.perf_counter()
                cyc = self.acc.read_counters()
                total = sum(pending.values())
                names = tuple(sorted(pending)) if len(pending) > 1 else ()
                for layer, est in pending.items():  # one layer, or a chained segment's
                    q = prof[layer]
                    share = est / total if total else 1.0 / len(pending)
                    q.cycles += round(cyc[0] * share)
                    q.mac_cycles += round(cyc[1] * share)
                    q.in_stall += round(cyc[2] * share)
                    q.out_stall += round(cyc[3] * share)
                    q.wall_s += (now - state["t"]) * share
                    q.chained = names or q.chained
                pending.clear()
                state["t"] = now

        acc = self.acc
        for b0 in range(0, n, bs):
            completed.clear()
            state["t"] = time.perf_counter()
            try:
                # the whole network one prepared stream (weights on chip): the batches from
                # here on, each prepared while the engine runs the one before
                if CR.run_batches(self.plan, xq[b0:], bs, acc, acc.residency, self.key, on_job, out[b0:],
                                  completed):
                    break
                # execute writes each image's row of ``out`` as soon as its last job is done,
                # so a failure mid-batch keeps the results of the batch's finished images
                SC.execute(self.plan, xq[b0:b0 + bs], acc, acc.residency, self.key,
                           on_job=on_job, out=out[b0:b0 + bs], completed=completed, chain=True)
            except AcceleratorError as e:
                e.completed = list(range(b0)) + [b0 + i for i in sorted(completed)]
                e.partial_output = out
                self._finish(prof, t_start, n)
                raise
        self._finish(prof, t_start, n)
        return out

    def _finish(self, prof, t_start, n):
        pe = self.acc.build.p_oc * self.acc.build.p_ic
        for p in prof.values():
            p.utilization = p.macs / (p.cycles * pe) if p.cycles else 0.0
        self._profile = [prof[k] for k in sorted(prof)]
        wall = time.perf_counter() - t_start
        cycles = sum(p.cycles for p in self._profile)
        self._totals = {
            "images": n, "jobs": sum(p.jobs for p in self._profile), "cycles": cycles,
            "dma_transfers": 2 * sum(p.transfers for p in self._profile),
            "macs": sum(p.macs for p in self._profile), "wall_s": wall,
            "engine_s": cycles / (self.acc.clock_mhz * 1e6),
            "dma_bytes": sum(p.dma_bytes for p in self._profile),
        }
        self._totals["utilization"] = (self._totals["macs"] / (cycles * pe)) if cycles else 0.0

    def profile(self) -> list:
        """Per-op figures of the last ``predict`` call: a list of dicts (jobs, cycles,
        MACs, utilization = MACs / (cycles * P_OC * P_IC), DMA bytes, wall time)."""
        return [p.as_dict() for p in self._profile]

    def totals(self) -> dict:
        """Totals of the last call: images, jobs, cycles, engine seconds at the clock, wall."""
        return dict(self._totals)

    def profile_table(self) -> str:
        rows = [f"{'op':>3} {'name':12s} {'jobs':>6} {'cycles':>10} {'MACs':>11} {'util':>6} "
                f"{'DMA KiB':>8} {'wall ms':>8}"]
        for p in self._profile:
            rows.append(f"{p.index:3d} {(p.name or p.kind)[:12]:12s} {p.jobs:6d} {p.cycles:10,d} "
                        f"{p.macs:11,d} {p.utilization:6.1%} {p.dma_bytes / 1024:8.1f} "
                        f"{p.wall_s * 1e3:8.1f}")
        return "\n".join(rows)

    def __repr__(self):
        return f"<rtlcnn.Network {self.program.name!r} on {self.acc!r}>"
