"""Cycle benchmark of the engine RTL: the LeNet-5 layer shapes on a build, in simulation.

Usage::

    python -m rtlcnn.bench_rtl                    # default build (16x8), Verilator
    python -m rtlcnn.bench_rtl --sim icarus -p P_OC=4 -p P_IC=4

Each layer runs twice with random int8 data: once loading its weights and parameters,
then again with LOAD_PARAMS = LOAD_WEIGHTS = 0 (weights already on chip), which is
the run reported. The output is checked against :mod:`rtlcnn.reference`. Per layer it
prints CYC_TOTAL and CYC_MAC, the MAC-array utilization MACs / (CYC_TOTAL * P_OC * P_IC),
and the ideal bound: max(MAC steps, input beats, output beats) cycles, the time if the
array never waited and both streams ran at one beat per cycle. "conv1 unfolded" is
conv1 fed im2col'ed by the host (a 1x1 conv over K*K*C_in = 25 input channels).

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

from . import stream as st
from .stream import Build, JobConfig


def lenet_layers():
    """(name, JobConfig) of the LeNet-5 layers (weights placed one after the other)."""
    pad2 = (2, 2, 2, 2)
    return [
        ("conv1 1->6 k5 p2 relu maxpool 28x28",
         JobConfig(in_c=1, in_h=28, in_w=28, out_c=6, kernel=5, pad=pad2, relu=True, pool=st.POOL_MAX)),
        ("conv2 6->16 k5 relu maxpool 14x14",
         JobConfig(in_c=6, in_h=14, in_w=14, out_c=16, kernel=5, relu=True, pool=st.POOL_MAX)),
        ("fc1 400->120 relu", JobConfig.linear(400, 120, relu=True)),
        ("fc2 120->84 relu", JobConfig.linear(120, 84, relu=True)),
        ("fc3 84->10 int32", JobConfig.linear(84, 10, out_int32=True)),
        ("conv1 unfolded (im2col, 25->6 1x1)",
         JobConfig(in_c=25, in_h=28, in_w=28, out_c=6, kernel=1, relu=True, pool=st.POOL_MAX)),
    ]  # fmt: skip


def im2col(x: np.ndarray, k: int, pad) -> np.ndarray:
    """(C, H, W) -> (K*K*C, OH, OW) stride 1, channel index (ky*K + kx)*C + c."""
    t, b, lft, r = pad
    c, h, w = x.shape
    xp = np.zeros((c, h + t + b, w + lft + r), x.dtype)
    xp[:, t : t + h, lft : lft + w] = x
    oh, ow = h + t + b - k + 1, w + lft + r - k + 1
    cols = [xp[:, ky : ky + oh, kx : kx + ow] for ky in range(k) for kx in range(k)]
    return np.concatenate(cols, axis=0)


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
        from cocotb.clock import Clock
        from cocotb.triggers import ClockCycles
        from cocotbext.axi import (
            AxiLiteBus,
            AxiLiteMaster,
            AxiStreamBus,
            AxiStreamFrame,
            AxiStreamSink,
            AxiStreamSource,
        )

        from . import reference

        cocotb.start_soon(Clock(dut.aclk, 10, unit="ns").start())
        axil = AxiLiteMaster(
            AxiLiteBus.from_prefix(dut, "s_axi_ctrl"), dut.aclk, dut.aresetn, reset_active_level=False
        )
        src = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.aclk)
        sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.aclk)
        dut.aresetn.value = 0
        await ClockCycles(dut.aclk, 5)
        dut.aresetn.value = 1
        await ClockCycles(dut.aclk, 5)
        regs = {off: await axil.read_dword(off) for off in range(st.REG_P_OC, st.REG_STREAM_BYTES + 4, 4)}
        b = Build.from_registers(regs.__getitem__)
        rng = np.random.default_rng(0)

        async def job(cfg, data):
            for off, val in cfg.registers().items():
                await axil.write_dword(off, val)
            await axil.write_dword(st.REG_CTRL, st.CTRL_START)
            recv = cocotb.start_soon(sink.recv())
            await src.send(AxiStreamFrame(bytes(data)))
            frame = await recv
            while not (await axil.read_dword(st.REG_STATUS)) & st.STATUS_DONE:
                await ClockCycles(dut.aclk, 10)
            assert await axil.read_dword(st.REG_ERROR) == 0
            cyc = [await axil.read_dword(r) for r in (st.REG_CYC_TOTAL, st.REG_CYC_MAC, st.REG_CYC_IN_STALL,
                                                      st.REG_CYC_OUT_STALL)]  # fmt: skip
            return st.unpack_output(np.frombuffer(bytes(frame.tdata), np.uint8), cfg), cyc

        results = []
        wbase = pbase = 0
        for name, cfg in lenet_layers():
            cfg = cfg.replace(wbase=wbase, pbase=pbase)
            wbase += cfg.weight_words(b)
            pbase += cfg.out_c
            if cfg.check(b):
                results.append({"name": name, "skipped": st.config_error_text(cfg.check(b))})
                continue
            k = cfg.kernel
            x = rng.integers(-128, 128, (cfg.in_c, cfg.in_h, cfg.in_w)).astype(np.int8)
            w = rng.integers(-127, 128, (cfg.out_c, cfg.in_c, k, k)).astype(np.int8)
            bias = rng.integers(-2000, 2000, cfg.out_c)
            mult = rng.integers(2**30, 2**31 - 1, cfg.out_c)
            shift = np.full(cfg.out_c, 10 if cfg.in_c * k * k > 100 else 7)
            if cfg.op == st.OPCODE_LINEAR:
                xv, wv = x.reshape(1, -1), w.reshape(cfg.out_c, -1)
                y = reference.linear_int(xv, wv, bias, mult, shift, cfg.relu, cfg.out_int32)
                y = y.reshape(cfg.out_c, 1, 1)
            else:
                y = reference.conv2d_int(x[None], w, bias, mult, shift, cfg.stride, cfg.pad, cfg.relu,
                                         cfg.pool_mode, cfg.out_int32)[0]  # fmt: skip
            await job(cfg, st.job_stream(cfg, b, (bias, mult, shift), w, x))
            resident = cfg.replace(load_params=False, load_weights=False)
            got, cyc = await job(resident, st.job_stream(resident, b, None, None, x))
            assert np.array_equal(got, y), f"{name}: output differs from rtlcnn.reference"
            results.append({
                "name": name, "cyc_total": cyc[0], "cyc_mac": cyc[1], "cyc_in_stall": cyc[2],
                "cyc_out_stall": cyc[3], "macs": cfg.macs(), "mac_steps": cfg.mac_steps(b),
                "in_beats": resident.in_beats(b), "out_beats": cfg.out_beats(),
            })  # fmt: skip
        Path(os.environ["RTLCNN_BENCH_OUT"]).write_text(json.dumps({"build": b.__dict__, "layers": results}))


# ---------------------------------------------------------------------------------------
# host side
# ---------------------------------------------------------------------------------------
def run(sim: str = "verilator", params: dict | None = None) -> dict:
    """Build (cached) and run the benchmark; return {"build": ..., "layers": [...]}."""
    from . import simbuild

    params = dict(params or Build().parameters())
    log_dir = simbuild.default_build_root()
    log_dir.mkdir(parents=True, exist_ok=True)
    path = simbuild.build(sim, params, log_file=log_dir / f"bench_rtl-{sim}-build.log")
    runner = simbuild.runner(sim)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        runner.test(
            test_module="rtlcnn.bench_rtl",
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
    return "\n".join(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m rtlcnn.bench_rtl", description="LeNet-5 layer cycles on the RTL"
    )
    ap.add_argument("--sim", default="verilator", choices=["verilator", "icarus"])
    ap.add_argument("-p", "--param", action="append", default=[], help="Verilog parameter NAME=VALUE")
    ap.add_argument("--json", type=Path, help="also write the raw figures here")
    args = ap.parse_args(argv)
    if cocotb is None:
        print("rtlcnn.bench_rtl needs the simulation extra: pip install 'rtlcnn[sim]'", file=sys.stderr)
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
