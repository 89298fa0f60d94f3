"""Cycle benchmark of the engine RTL: the LeNet-5 layer shapes on a build, in simulation.

Usage::

    python -m rtlcnn.bench.rtl                    # default build (16x8), Verilator
    python -m rtlcnn.bench.rtl --sim icarus -p P_OC=4 -p P_IC=4

Each layer runs twice with random int8 data: once loading its weights and parameters,
then again with LOAD_PARAMS = LOAD_WEIGHTS = 0 (weights already on chip), which is
the run reported. The output is checked against :mod:`rtlcnn.reference`. Per layer it
prints CYC_TOTAL and CYC_MAC, the MAC-array utilization MACs / (CYC_TOTAL * P_OC * P_IC),
and the ideal bound: max(MAC steps, input beats, output beats) cycles, the time if the
array never waited and both streams ran at one beat per cycle. Convs also run in the
host layouts of :mod:`rtlcnn.unfold` ("kx": K x 1 kernels over a kernel row's taps;
"pair": PAIR jobs) and, for conv1, im2col'ed (a 1x1 conv over K*K*C_in = 25 input
channels); MACs are always the layer's own, so utilization compares layouts fairly.
The last line sums the fastest layout of each layer against the whole network's ideal
compute bound, all MACs / (P_OC * P_IC).

The module is also the cocotb test module the simulator runs (``bench``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..core import stream as st
from ..core.stream import Build, JobConfig


def lenet_layers():
    """(name, layer, layout) of the LeNet-5 layers: ``layer`` the real layer as a JobConfig,
    ``layout`` how the engine runs it (None: as is; "im2col", "kx", "pair")."""
    pad2 = (2, 2, 2, 2)
    conv1 = JobConfig(in_c=1, in_h=28, in_w=28, out_c=6, kernel=5, pad=pad2, relu=True, pool=st.POOL_MAX)
    conv2 = JobConfig(in_c=6, in_h=14, in_w=14, out_c=16, kernel=5, relu=True, pool=st.POOL_MAX)
    return [
        ("conv1 1->6 k5 p2 relu maxpool 28x28", conv1, None),
        ("conv2 6->16 k5 relu maxpool 14x14", conv2, None),
        ("fc1 400->120 relu", JobConfig.linear(400, 120, relu=True), None),
        ("fc2 120->84 relu", JobConfig.linear(120, 84, relu=True), None),
        ("fc3 84->10 int32", JobConfig.linear(84, 10, out_int32=True), None),
        ("conv1 unfolded (im2col, 25->6 1x1)", conv1, "im2col"),
        ("conv1 pair layout (6->6 5x1 PAIR, 28x14)", conv1, "pair"),
        ("conv2 kx layout (30->16 5x1, 14x10)", conv2, "kx"),
    ]  # fmt: skip


def engine_job(layer: JobConfig, layout, x: np.ndarray, w: np.ndarray):
    """The engine's JobConfig, input map and weights for running ``layer`` in ``layout``."""
    from ..core import unfold
    from ..core.unfold import im2col

    if layout is None:
        return layer, x, w
    if layout == "im2col":  # the schedule's im2col: channel c*K*K + ky*K + kx
        xe = im2col(x[None], layer.kernel, layer.stride, layer.pad[0])[0]
        we = w.reshape(w.shape[0], -1, 1, 1)
        return layer.replace(in_c=xe.shape[0], in_h=xe.shape[1], in_w=xe.shape[2], kernel=1,
                             pad=(0, 0, 0, 0)), xe, we
    return unfold.layer_job(layer, layout, x, w)


# ---------------------------------------------------------------------------------------
# inside the simulator
# ---------------------------------------------------------------------------------------
try:
    import cocotb
except ImportError:  # host side without cocotb: main() will say what to install
    cocotb = None

if cocotb is not None:

    @cocotb.test()
    async def bench(dut):
        """Run the layers of lenet_layers() and write the counters to $RTLCNN_BENCH_OUT."""
        from ..core import reference
        from ..sim.harness import EngineHarness

        h = EngineHarness(dut)
        await h.reset()
        b = h.build = await h.read_build()
        rng = np.random.default_rng(0)

        async def job(cfg, data):
            r = await h.run_job(cfg, data, poll=10)
            assert r.error == 0, f"ERROR {r.error:#x} after {cfg}"
            return st.unpack_output(np.frombuffer(r.data, np.uint8), cfg), await h.counters()

        results = []
        wbase = pbase = 0
        for name, layer, layout in lenet_layers():
            k = layer.kernel
            x = rng.integers(-128, 128, (layer.in_c, layer.in_h, layer.in_w)).astype(np.int8)
            w = rng.integers(-127, 128, (layer.out_c, layer.in_c, k, k)).astype(np.int8)
            bias = rng.integers(-2000, 2000, layer.out_c)
            mult = rng.integers(2**30, 2**31 - 1, layer.out_c)
            shift = np.full(layer.out_c, 10 if layer.in_c * k * k > 100 else 7)
            if layer.op == st.OPCODE_LINEAR:
                xv, wv = x.reshape(1, -1), w.reshape(layer.out_c, -1)
                y = reference.linear_int(xv, wv, bias, mult, shift, layer.relu, layer.out_int32)
                y = y.reshape(layer.out_c, 1, 1)
            else:
                y = reference.conv2d_int(x[None], w, bias, mult, shift, layer.stride, layer.pad, layer.relu,
                                         layer.pool_mode, layer.out_int32)[0]  # fmt: skip
            cfg, xe, we = engine_job(layer, layout, x, w)
            cfg = cfg.replace(wbase=wbase, pbase=pbase)
            if cfg.check(b):
                results.append({"name": name, "skipped": st.config_error_text(cfg.check(b))})
                continue
            wbase += cfg.weight_words(b)
            pbase += cfg.out_c
            await job(cfg, st.job_stream(cfg, b, (bias, mult, shift), we, xe))
            resident = cfg.replace(load_params=False, load_weights=False)
            got, cyc = await job(resident, st.job_stream(resident, b, None, None, xe))
            assert np.array_equal(got, y), f"{name}: output differs from rtlcnn.reference"
            results.append({
                "name": name, "layer": name.split()[0], "cyc_total": cyc[0], "cyc_mac": cyc[1],
                "cyc_in_stall": cyc[2], "cyc_out_stall": cyc[3], "macs": layer.macs(),
                "mac_steps": cfg.mac_steps(b), "in_beats": resident.in_beats(b), "out_beats": cfg.out_beats(),
            })  # fmt: skip
        Path(os.environ["RTLCNN_BENCH_OUT"]).write_text(json.dumps({"build": b.__dict__, "layers": results}))


# ---------------------------------------------------------------------------------------
# host side
# ---------------------------------------------------------------------------------------
def run(sim: str = "verilator", params: dict | None = None) -> dict:
    """Build (cached) and run the benchmark; return {"build": ..., "layers": [...]}."""
    from ..sim import simbuild

    params = dict(params or Build().parameters())
    log_dir = simbuild.default_build_root()
    log_dir.mkdir(parents=True, exist_ok=True)
    path = simbuild.build(sim, params, log_file=log_dir / f"bench_rtl-{sim}-build.log")
    runner = simbuild.runner(sim)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        runner.test(
            test_module="rtlcnn.bench.rtl",
            hdl_toplevel="rtlcnn_top",
            hdl_toplevel_lang="verilog",
            build_dir=str(path),
            test_dir=tmp,
            parameters=params if sim == "icarus" else None,
            extra_env={
                "RTLCNN_BENCH_OUT": str(out),
                "COCOTB_LOG_LEVEL": "WARNING",
                "PYTHONWARNINGS": "ignore",
            },
            results_xml=str(Path(tmp) / "results.xml"),
            log_file=str(log_dir / f"bench_rtl-{sim}-sim.log"),
        )
        if not out.exists():
            raise RuntimeError(f"the benchmark did not finish: see {log_dir}/bench_rtl-{sim}-sim.log")
        return json.loads(out.read_text())


def format_table(res: dict) -> str:
    b = res["build"]
    lanes = b["p_oc"] * b["p_ic"]
    head = (f"Build P_OC={b['p_oc']} P_IC={b['p_ic']} ({lanes} MACs/cycle), weights on chip\n"
            "| layer | MACs | CYC_TOTAL | CYC_MAC | in stall | out stall | util. (MACs/(CYC_TOTAL*lanes)) "
            "| ideal cycles | util. at ideal |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|")  # fmt: skip
    rows = [head]
    for r in res["layers"]:
        if "skipped" in r:
            rows.append(f"| {r['name']} | skipped: {r['skipped']} |||||||")
            continue
        ideal = max(r["mac_steps"], r["in_beats"], r["out_beats"])
        rows.append(
            f"| {r['name']} | {r['macs']} | {r['cyc_total']} | {r['cyc_mac']} | {r['cyc_in_stall']} "
            f"| {r['cyc_out_stall']} | {100 * r['macs'] / (r['cyc_total'] * lanes):.1f} % | {ideal} "
            f"| {100 * r['macs'] / (ideal * lanes):.1f} % |"
        )
    best = {}
    for r in res["layers"]:
        if "skipped" not in r and r["cyc_total"] < best.get(r["layer"], (10**12, 0))[0]:
            best[r["layer"]] = (r["cyc_total"], r["macs"])
    if best:
        cycles = sum(c for c, _ in best.values())
        macs = sum(m for _, m in best.values())
        bound = macs / lanes
        rows.append(f"\nWhole network, fastest layout of each layer: {cycles} cycles for {macs} MACs; "
                    f"ideal compute bound {bound:.0f} cycles; {cycles / bound:.2f}x the bound "
                    f"({100 * bound / cycles:.1f} % utilization)")
    return "\n".join(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m rtlcnn.bench.rtl", description="LeNet-5 layer cycles on the RTL"
    )
    ap.add_argument("--sim", default="verilator", choices=["verilator", "icarus"])
    ap.add_argument("-p", "--param", action="append", default=[], help="Verilog parameter NAME=VALUE")
    ap.add_argument("--json", type=Path, help="also write the raw figures here")
    args = ap.parse_args(argv)
    if cocotb is None:
        print("rtlcnn.bench.rtl needs the simulation extra: pip install 'rtlcnn[sim]'", file=sys.stderr)
        return 2
    params = Build().parameters()
    for p in args.param:
        k, _, v = p.partition("=")
        params[k.strip()] = int(v)
    t0 = time.time()
    print(f"building and running rtlcnn_top {params} on {args.sim} ...", file=sys.stderr)
    res = run(args.sim, params)
    print(format_table(res))
    print(f"(simulation wall time {time.time() - t0:.0f} s)", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
