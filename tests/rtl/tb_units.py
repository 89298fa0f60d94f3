"""cocotb unit tests of the datapath blocks: MAC array, serial requant, pooling.

Inputs are driven right after a rising edge and outputs sampled at the next one (the
values the flops see), with random stalls of the block's enable.
"""

import os
import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

from rtlcnn.core import reference

P_OC = int(os.environ.get("UNIT_P_OC", "4"))
P_IC = int(os.environ.get("UNIT_P_IC", "4"))


def pack(vals, width):
    out = 0
    for n, v in enumerate(vals):
        out |= (int(v) & ((1 << width) - 1)) << (n * width)
    return out


def signed(v, width):
    v = int(v) & ((1 << width) - 1)
    return v - (1 << width) if v >> (width - 1) else v


class UnitTB:
    def __init__(self, dut, seed):
        self.dut = dut
        self.rng = random.Random(seed)
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())

    async def reset(self, **inputs):
        for name, val in inputs.items():
            getattr(self.dut, name).value = val
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 3)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)


@cocotb.test()
async def test_mac_array(dut):
    """Groups of random length, bubbles and stalls; out_acc = sum of the lane dot products."""
    tb = UnitTB(dut, 1)
    rng = np.random.default_rng(1)
    await tb.reset(en=0, in_valid=0, in_first=0, in_last=0, in_tag=0, in_w=0, in_x=0)
    steps, expect = [], []
    for g in range(40):
        n = int(rng.integers(1, 7))
        acc = np.zeros(P_OC, np.int64)
        for s in range(n):
            w = rng.integers(-128, 128, (P_OC, P_IC))
            x = rng.integers(-128, 128, P_IC)
            acc += w @ x
            steps.append((s == 0, s == n - 1, g & 0xFF, w, x))
        expect.append((g & 0xFF, acc))
    got = []
    k = 0
    while len(got) < len(expect):
        en = tb.rng.random() < 0.75
        dut.en.value = en
        if k < len(steps) and tb.rng.random() < 0.8:
            first, last, tag, w, x = steps[k]
            dut.in_valid.value, dut.in_first.value, dut.in_last.value = 1, int(first), int(last)
            dut.in_tag.value, dut.in_w.value, dut.in_x.value = tag, pack(w.reshape(-1), 8), pack(x, 8)
            issued = True
        else:
            dut.in_valid.value = 0
            issued = False
        await RisingEdge(dut.clk)
        if en and issued:
            k += 1
        if int(dut.out_valid.value):
            acc = int(dut.out_acc.value)
            got.append((int(dut.out_tag.value), np.array([signed(acc >> (32 * o), 32) for o in range(P_OC)])))
    for (tg, a), (te, e) in zip(got, expect):
        assert tg == te and np.array_equal(a, e), f"group {te}: got {a} (tag {tg}), expected {e}"


@cocotb.test()
async def test_requant(dut):
    """Serial requant of shadow-loaded accumulators against rtlcnn.reference.requant (int8, ReLU,
    bounds [0, 100] and [-50, 60] (ReLU6 / Hardtanh-like), int32, bypass)."""
    tb = UnitTB(dut, 2)
    rng = np.random.default_rng(2)
    depth = 64
    await tb.reset(
        en=0,
        load=0,
        cfg_lo=0x80,
        cfg_hi=0x7F,
        cfg_int32=0,
        cfg_bypass=0,
        pb_wr_en=0,
        load_acc=0,
        load_nvalid=0,
        load_pbase=0,
        load_sub=0,
        load_job_last=0,
        pb_wr_addr=0,
        pb_wr_data=0,
    )
    bias = rng.integers(-(2**20), 2**20, depth)
    mult = rng.integers(-(2**31), 2**31, depth)
    shift = rng.integers(-30, 32, depth)
    shift[:8] = [-30, 31, 0, -1, 5, -20, 10, 1]
    for a in range(depth):
        dut.pb_wr_en.value, dut.pb_wr_addr.value = 1, a
        dut.pb_wr_data.value = (
            (int(shift[a]) & 0xFF) << 64 | (int(mult[a]) & 0xFFFFFFFF) << 32 | (int(bias[a]) & 0xFFFFFFFF)
        )
        await RisingEdge(dut.clk)
    dut.pb_wr_en.value = 0
    # mode -> (relu, act_min, act_max) of the reference; the unit takes the resolved bounds
    bounds = {"relu": (True, -128, 127), "relu6": (True, -128, 100), "hardtanh": (False, -50, 60)}
    for mode in ("int8", "relu", "relu6", "hardtanh", "int32", "bypass"):
        relu, lo, hi = bounds.get(mode, (False, -128, 127))
        dut.cfg_lo.value = max(lo, 0 if relu else -128) & 0xFF
        dut.cfg_hi.value = hi & 0xFF
        dut.cfg_int32.value = int(mode == "int32")
        dut.cfg_bypass.value = int(mode == "bypass")
        groups, expect = [], []
        for g in range(12):
            nv = int(rng.integers(1, P_OC + 1))
            pb = int(rng.integers(0, depth - P_OC))
            if mode == "bypass":
                acc = rng.integers(-128, 128, P_OC)
            else:
                acc = rng.integers(-(2**31) + 2**20, 2**31 - 2**20, P_OC)
                acc[: P_OC // 2] = rng.integers(-5000, 5000, P_OC // 2)
            groups.append((acc, nv, pb, g & 3))
            c = slice(pb, pb + nv)
            s = acc[:nv] + bias[c]
            if mode == "int32":
                e = s
            elif mode == "bypass":
                e = acc[:nv]
            else:
                e = reference.requant(s[None, :], mult[c], shift[c], relu=relu, act_min=lo, act_max=hi)[0]
            expect += [(int(v), lane, g & 3) for lane, v in enumerate(e)]
        got, k = [], 0
        for _ in range(4000):
            en = tb.rng.random() < 0.7
            dut.en.value = en
            load = k < len(groups)
            if load:
                acc, nv, pb, sub = groups[k]
                dut.load_acc.value = pack(acc, 32)
                dut.load_nvalid.value, dut.load_pbase.value, dut.load_sub.value = nv, pb, sub
            dut.load.value = int(load)
            await RisingEdge(dut.clk)
            if load and not int(dut.full.value):
                k += 1
            if en and int(dut.out_valid.value):
                got.append(
                    (signed(int(dut.out_data.value), 32), int(dut.out_lane.value), int(dut.out_sub.value))
                )
            if len(got) == len(expect):
                break
        dut.load.value = 0
        assert got == expect, (
            f"{mode}: first difference at {next(i for i, (a, b) in enumerate(zip(got, expect)) if a != b)}"
        )


@cocotb.test()
async def test_pool(dut):
    """2x2 max and average per lane against rtlcnn.reference.pool2d_int; mode 0 passes through."""
    tb = UnitTB(dut, 3)
    rng = np.random.default_rng(3)
    await tb.reset(en=0, cfg_mode=0, in_valid=0, in_data=0, in_lane=0, in_sub=0, in_last=0)
    for mode in (1, 2, 0):
        dut.cfg_mode.value = mode
        # windows: (groups, lanes, 2, 2) int8, fed sub-major then lane
        n = 10
        v = rng.integers(-128, 128, (n, P_OC, 2, 2)).astype(np.int8)
        v[0] = 127
        v[1] = -128
        seq = []
        for g in range(n):
            subs = range(4) if mode else range(1)
            for sub in subs:
                for lane in range(P_OC):
                    seq.append((int(v[g, lane, sub >> 1, sub & 1]), lane, sub))
        if mode:
            x = v.transpose(1, 0, 2, 3).reshape(1, P_OC, n * 2, 2)  # (N, C, H, W) with windows stacked
            ref = reference.pool2d_int(x, "max" if mode == 1 else "avg")[0]  # (C, n, 1)
            expect = [int(ref[lane, g, 0]) for g in range(n) for lane in range(P_OC)]
        else:
            expect = [s[0] for s in seq]
        got, k = [], 0
        while len(got) < len(expect):
            en = tb.rng.random() < 0.7
            dut.en.value = en
            if k < len(seq):
                val, lane, sub = seq[k]
                dut.in_valid.value, dut.in_data.value = 1, val & 0xFFFFFFFF
                dut.in_lane.value, dut.in_sub.value = lane, sub
            else:
                dut.in_valid.value = 0
            await RisingEdge(dut.clk)
            if en and int(dut.out_valid.value):
                got.append(signed(int(dut.out_data.value), 32))
            if en and k < len(seq):
                k += 1
        assert got == expect, f"mode {mode}: {got} != {expect}"
