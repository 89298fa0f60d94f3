"""Runtime and mock-board figures: ``python -m rtlcnn.bench.runtime``.

Prints, for the shipped ``lenet5_mnist`` program (random LeNet-5-shaped weights when it
is missing):

- engine cycles per image at batch 1 and at batch 64 (the sum of the engine's CYC_TOTAL
  over the jobs), images/s they project at the overlay clock, and the ideal compute
  bound (MACs / (P_OC * P_IC) cycles per image): for a first call, which sends the
  weights, and for the next call, with the weights already on chip;
- the mock board's own speed: wall seconds per image, simulated images/s and simulated
  clock cycles/s, on Verilator and on Icarus;
- the driver's host-side work per image at batch 1 and 64: scheduling, packing and
  unpacking against a zero-cost engine (what the CPU does apart from register and DMA
  traffic), job by job (an engine before 1.5) and with command streams (1.5: each
  layer's jobs for the batch in one transfer each way);
- on the mock board: DMA transfers and register accesses per batch.

Figures, not a test; docs/benchmarks.md ("Runtime and mock board") quotes them.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from ..core import chain_run as CR
from ..core import commands as C
from ..core import schedule as SC
from ..core import stream as S


def _program():
    from .. import models

    try:
        return models.load("lenet5_mnist"), "lenet5_mnist"
    except LookupError:
        from ..core.random_programs import lenet5

        return lenet5(seed=0), "lenet5 (random weights)"


def _images(prog, n, seed=0):
    try:
        from ..compile import datasets

        imgs, _ = datasets.load_mnist()
        if tuple(prog.input_shape) == (1, 28, 28):
            return imgs[8000:8000 + n].astype(np.float32)[:, None] / np.float32(255)
    except (FileNotFoundError, OSError, ImportError):
        pass
    return np.random.default_rng(seed).uniform(0, 1, (n,) + tuple(prog.input_shape)).astype(np.float32)


class _NullEngine:
    """Returns zero bytes at once: what is left is the driver's own host work. With a
    build of engine 1.5 it takes command streams too."""

    def __init__(self, build: S.Build):
        self.build = build
        self._out = {}  # as the accelerator: a prepared stream's sizes are known once

        def run_commands(cfgs, stream, places=None):
            key = id(cfgs)
            if key not in self._out or self._out[key][0] is not cfgs:
                self._out[key] = (cfgs, bytes(C.command_out_beats(cfgs, places) * 8))
            return self._out[key][1]

        if build.has_command_streams:
            self.run_commands = run_commands

    def run_job(self, cfg, stream):
        return bytes(cfg.out_beats() * 8)


def host_overhead(prog, build: S.Build, n: int = 64, repeat: int = 0) -> dict:
    """Host work of ``predict_int`` minus the engine, weights on chip: quantize, the plan's
    jobs, pack, unpack; the best of ``repeat`` runs (this is a shared machine)."""
    repeat = repeat or max(20, 320 // n)  # (the best of many runs: this is a shared machine)
    pl = SC.plan(prog, build)
    x = _images(prog, n)
    eng = _NullEngine(build)
    res = SC.Residency()
    SC.execute(pl, prog.quantize_input(x), eng, res, "x", chain=True)  # the weights go on chip
    best = float("inf")
    jobs = [0]

    def count(rec, raw):
        jobs[0] += rec.jobs

    last = pl.layers[-1]
    out = np.zeros((n,) + tuple(last.out_shape), np.int32 if last.out_int32 else np.int8)
    for _ in range(repeat):  # as predict's next calls: weights on chip, streams prepared
        jobs[0] = 0
        t = time.perf_counter()
        xq = prog.quantize_input(x)
        if not CR.run_batches(pl, xq, n, eng, res, "x", count, out, []):  # (as Network.predict)
            SC.execute(pl, xq, eng, res, "x", chain=True, on_job=count)
        best = min(best, time.perf_counter() - t)
    return {"jobs": jobs[0], "us_per_job": best / jobs[0] * 1e6, "us_per_image": best / n * 1e6}


#: the board projection's stated model (docs/benchmarks.md, "Board projection"): how much
#: slower the PYNQ-Z2's 650 MHz Cortex-A9 runs the driver's Python and numpy than this
#: machine's x86 core (an assumption, no board measured: 10x, with 5x and 20x shown too)
ARM_SLOWDOWN = 10.0
#: one register access from Python on the board, pynq's MMIO or a DMA register inside
#: pynq's transfer(): 30 us, from a PYNQ-Z1 measurement of 5,600 MMIO.write calls taking
#: 150-200 ms (discuss.pynq.io/t/mmio-write-is-too-slow/389); an upper figure, pynq's
#: later releases are faster
US_PER_ACCESS = 30.0


def board_projection(engine_cycles: float, host_us: float, accesses: float, batch: int,
                     clock_mhz: float = 100.0, slowdown: float = ARM_SLOWDOWN,
                     us_per_access: float = US_PER_ACCESS) -> dict:
    """Projected PYNQ-Z2 images/s for a batch size: the engine's cycles per image at the
    clock; the host's work per image (measured here, times ``slowdown``); the batch's
    register accesses at ``us_per_access`` each, shared by its images. ``serial``: the
    host waits for the engine and the engine for the host (the driver today);
    ``overlapped``: the host prepares batch k+1 while the engine runs batch k."""
    engine = engine_cycles / clock_mhz
    host = host_us * slowdown + accesses * us_per_access / batch
    return {"engine_us": engine, "host_us": host, "engine_only": 1e6 / engine,
            "serial": 1e6 / (engine + host), "overlapped": 1e6 / max(engine, host)}


def run_mock(sim: str, prog, batches, icarus_images: int = 2) -> list:
    from ..board.accelerator import Accelerator
    from ..mock import MockOverlay

    rows = []
    with MockOverlay(sim) as ol:
        acc = Accelerator(ol)
        net = acc.load(prog)
        b = acc.build
        pe = b.p_oc * b.p_ic
        ideal = prog.macs() / pe
        for batch in batches:
            n = batch if sim == "verilator" else min(batch, icarus_images)
            x = _images(prog, n)
            net.predict_int(x[:1])  # warm-up: DMA buffers allocated, configurations checked
            acc.residency.clear()  # the measured call sends the weights once, as a first call
            net.predict_int(x)  # this batch's configurations checked once (cached)
            acc.residency.clear()  # the measured call sends the weights once, as a first call
            c0, a0 = ol.sim_cycles, ol.device.register_accesses
            t = time.perf_counter()
            net.predict_int(x)
            wall = time.perf_counter() - t
            tot = net.totals()
            cyc_img = tot["cycles"] / n
            cold_profile = net.profile_table()
            sim_cycles, accesses = ol.sim_cycles - c0, ol.device.register_accesses - a0
            net.predict_int(x)  # again: the weights are on chip now (new job shapes checked once)
            a1 = ol.device.register_accesses
            net.predict_int(x)  # and once more, as every call from now on
            warm = net.totals()
            warm_accesses = ol.device.register_accesses - a1
            rows.append({
                "sim": sim, "batch": batch, "images": n, "engine_cycles_per_image": cyc_img,
                "images_per_s_at_clock": acc.clock_mhz * 1e6 / cyc_img,
                "ideal_cycles_per_image": ideal,
                "ideal_images_per_s": acc.clock_mhz * 1e6 / ideal,
                "utilization": tot["utilization"],
                "sim_cycles_per_image": sim_cycles / n,
                "wall_s_per_image": wall / n,
                "sim_images_per_s": n / wall,
                "sim_cycles_per_s": sim_cycles / wall,
                "register_accesses_per_job": accesses / tot["jobs"],
                "register_accesses_per_batch": accesses * batch / n,
                "dma_transfers_per_batch": tot["dma_transfers"] * batch / n,
                "clock_mhz": acc.clock_mhz, "build": f"P_OC={b.p_oc} P_IC={b.p_ic}",
                "profile": cold_profile,
                "resident_cycles_per_image": warm["cycles"] / n,
                "resident_register_accesses": warm_accesses * batch / n,
                "resident_dma_transfers": warm["dma_transfers"] * batch / n,
                "resident_utilization": warm["utilization"],
                "resident_profile": net.profile_table(),
            })
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rtlcnn.bench.runtime", description=__doc__.split("\n")[0])
    ap.add_argument("--sim", nargs="*", default=["verilator", "icarus"], choices=["verilator", "icarus"])
    ap.add_argument("--batch", nargs="+", type=int, default=[1, 64])
    ap.add_argument("--icarus-images", type=int, default=2,
                    help="images per batch on Icarus (it is ~20x slower)")
    args = ap.parse_args(argv)
    prog, name = _program()
    print(f"program {name}: {prog.macs():,d} MACs per image")
    host = {}
    for batch in (1, 64):
        streams = f"command streams (engine 1.{S.VERSION_MINOR})"
        for minor, how in ((4, "job by job (engine 1.4)"), (S.VERSION_MINOR, streams)):
            ho = host_overhead(prog, S.Build(version_minor=minor), batch)
            host[batch, minor] = ho["us_per_image"]
            print(f"host work at batch {batch}, {how}, zero-cost engine: {ho['us_per_image']:.1f} us/image "
                  f"({ho['jobs']} jobs, {ho['us_per_job']:.1f} us/job)")
    for sim in args.sim:
        for r in run_mock(sim, prog, args.batch, args.icarus_images):
            if sim == "verilator" and (r["batch"], S.VERSION_MINOR) in host:
                r["projection"] = {k: board_projection(
                    r["resident_cycles_per_image"], host[r["batch"], S.VERSION_MINOR],
                    r["resident_register_accesses"], r["batch"], r["clock_mhz"], slowdown=k)
                    for k in (5.0, ARM_SLOWDOWN, 20.0)}
            print(f"\n[{r['sim']}] batch {r['batch']} ({r['images']} images measured), {r['build']} "
                  f"at {r['clock_mhz']:g} MHz")
            print(f"  engine cycles/image {r['engine_cycles_per_image']:,.0f} -> "
                  f"{r['images_per_s_at_clock']:,.0f} images/s at the clock; ideal compute bound "
                  f"{r['ideal_cycles_per_image']:,.0f} cycles -> {r['ideal_images_per_s']:,.0f} images/s; "
                  f"MAC utilization {r['utilization']:.1%}")
            print(f"  mock board: {r['wall_s_per_image']:.3f} s wall/image = {r['sim_images_per_s']:.2f} "
                  f"images/s, {r['sim_cycles_per_s']:,.0f} simulated cycles/s "
                  f"({r['sim_cycles_per_image']:,.0f} simulated cycles/image incl. DMA and register "
                  f"traffic); {r['register_accesses_per_job']:.1f} register accesses/job, "
                  f"{r['register_accesses_per_batch']:.0f} and {r['dma_transfers_per_batch']:.0f} DMA "
                  f"transfers per batch")
            print("  " + r["profile"].replace("\n", "\n  "))
            rc = r["resident_cycles_per_image"]
            print(f"  next call, weights on chip: engine cycles/image {rc:,.0f} = "
                  f"{rc / r['ideal_cycles_per_image']:.2f}x the ideal compute bound; MAC utilization "
                  f"{r['resident_utilization']:.1%}; {r['resident_register_accesses']:.0f} register "
                  f"accesses and {r['resident_dma_transfers']:.0f} DMA transfers per batch")
            print("  " + r["resident_profile"].replace("\n", "\n  "))
            for k, pr in r.get("projection", {}).items():
                print(f"  PYNQ-Z2 projection, ARM {k:g}x slower than this core, {US_PER_ACCESS:g} us a "
                      f"register access: engine {pr['engine_us']:.1f} us/image, host {pr['host_us']:.1f} "
                      f"us/image -> {pr['serial']:,.0f} images/s serial, {pr['overlapped']:,.0f} overlapped "
                      f"(engine only {pr['engine_only']:,.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
