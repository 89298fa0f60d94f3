"""The Python side of the engine's jobs and stream format (pure numpy).

This module is the executable form of ``docs/stream_format.md`` and of the job
registers of ``docs/register_map.md``: the configuration of one job
(:class:`JobConfig`) with every value the hardware derives from it, the configuration
checks the hardware runs at START (:meth:`JobConfig.check`), and the packers that turn
int8 weights, requant parameters and feature maps into the bytes of a job's input
stream, and the output stream back into an array. The register map itself (offsets,
bits, codes, :class:`Build`) is :mod:`rtlcnn.core.regs`; its names are re-exported here.

It needs only numpy, so the same code serves the cocotb tests, the mock board and the
runtime on the board.

Examples
--------
>>> build = Build(p_oc=16, p_ic=8)
>>> cfg = JobConfig(op=OPCODE_CONV, in_c=1, in_h=28, in_w=28, out_c=6, kernel=5,
...                 pad=(2, 2, 2, 2), relu=True, pool=POOL_MAX)
>>> cfg.check(build), cfg.out_h, cfg.out_w, cfg.in_beats(build), cfg.out_beats()
(0, 14, 14, 1196, 147)
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import replace as _dc_replace
from typing import Optional, Tuple

import numpy as np

# The register map, its constants and Build live in rtlcnn.core.regs; they stay importable
# from here, where the driver, the benches and the tests have always found them.
# isort: off
from .regs import (  # noqa: F401  (re-exported)
    REG_ID, REG_VERSION, REG_P_OC, REG_P_IC, REG_WBUF_DEPTH, REG_IBUF_DEPTH, REG_PBUF_DEPTH, REG_CLK_MHZ,
    REG_MAX_KERNEL, REG_STREAM_BYTES, REG_CTRL, REG_STATUS, REG_ERROR, REG_CONFIG_ERR, REG_OP, REG_IN_C,
    REG_IN_H, REG_IN_W, REG_OUT_C, REG_KERNEL, REG_STRIDE, REG_PAD, REG_WBASE, REG_PBASE, REG_OUT_H,
    REG_OUT_W, REG_IN_BEATS, REG_OUT_BEATS, REG_CYC_TOTAL, REG_CYC_MAC, REG_CYC_IN_STALL,
    REG_CYC_OUT_STALL, ID_VALUE, VERSION_MAJOR, VERSION_MINOR, VERSION_VALUE, MAX_KERNEL, STREAM_BYTES,
    CTRL_START, CTRL_SOFT_RESET, STATUS_BUSY, STATUS_DONE, STATUS_ERROR, STATUS_DRAINING, ERR_CONFIG,
    ERR_TLAST_EARLY, ERR_TLAST_MISSING, OPCODE_CONV, OPCODE_LINEAR, OPCODE_MAXPOOL, OPCODE_AVGPOOL,
    OPCODE_MASK, OP_RELU, OP_POOL_SHIFT, OP_POOL_MASK, OP_OUT_INT32, OP_LOAD_PARAMS, OP_LOAD_WEIGHTS,
    OP_PAIR, KERNEL_W_SHIFT, POOL_NONE, POOL_MAX, POOL_AVG, OPCODE_NAMES, CFG_OK, CFG_OPCODE,
    CFG_ZERO_DIM, CFG_CONV, CFG_LINEAR, CFG_POOL_OP, CFG_POOL_MODE, CFG_EMPTY_OUTPUT, CFG_INPUT_FIT,
    CFG_WEIGHT_FIT, CFG_PARAM_FIT, CFG_PAIR, REG_RQ_LANES, ACCESS, REGISTER_TABLE, BUILD_REGISTERS,
    DEFAULT_BUILD, Build, config_error_text, REGISTERS, REG_ACT, ACT_MAX_SHIFT, ACT_RESET, CFG_ACT,
    OPCODE_ADD, OP_ADD_K_SHIFT, REG_ADD_MULT, ADD_MULT_MB_SHIFT, ADD_MULT_LIMIT, CFG_ADD,
    CTRL_RUN_STREAM, STATUS_CMD, REG_JOB_INDEX, CFG_HEADER, CMD_HEADER_BEATS, CMD_MAGIC, CMD_FLAG_LAST,
    CFG_FBUF, REG_FBUF_DEPTH,
)
# isort: on

__all__ = [
    "Build",
    "JobConfig",
    "pack_params",
    "pack_weights",
    "pack_input",
    "job_stream",
    "unpack_output",
    "config_error_text",
]

def _ceil_div(a: int, b: int) -> int:
    return -(-int(a) // int(b))


# ---------------------------------------------------------------------------------------
# Job configuration
# ---------------------------------------------------------------------------------------
@dataclass
class JobConfig:
    """The configuration registers of one job, and every value derived from them.

    ``pool`` is the POOL field (0 none, 1 max, 2 avg) applied after requant by CONV.
    MAXPOOL/AVGPOOL ops ignore KERNEL, STRIDE, PAD, RELU, POOL, WBASE and PBASE (they
    pool the input 2x2 with stride 2); they still must pass check 6 on the POOL field.
    ``pad`` is (top, bottom, left, right). ``kernel`` is the kernel's rows and, unless
    ``kernel_w`` is set (non-zero), its columns.

    ``pair`` (OP.PAIR, engine 1.1): a CONV whose 2x2 max pool is done on the
    accumulators, with the MAC array's lanes ``l`` and ``l + P_OC/2`` computing two
    horizontally adjacent conv pixels from one input pixel of the engine's map (the host
    lays the input and the weights out for that, see :mod:`rtlcnn.unfold`); the engine
    pools those two lanes and two conv rows, so OUT_W = the conv width and OUT_H = half
    the conv height. Weights come as ``(2, OUT_C, IN_C, K, KW)``: the filters of the left
    and of the right pixel.

    ``act_min``, ``act_max`` (the ACT register, engine 1.3): CONV and LINEAR saturate the
    requant to ``[max(act_min, 0 if relu else -128), act_max]`` (ReLU6, Hardtanh, clamp;
    :attr:`rtlcnn.core.ops.Op.bounds`), before a fused pool; MAXPOOL/AVGPOOL ignore them,
    OUT_INT32 takes only the default -128, 127 (check 12). :meth:`registers` always lists
    ACT, the word after PBASE: a job's registers then define it whole, so a bounded job
    never leaves its bounds to the next one, and the driver's block write of OP..ACT stays
    one request on the mock board (on a board, one more word of the same write). The
    accelerator leaves ACT out on engines before 1.3, whose plans never have bounds.

    ADD (engine 1.4, :meth:`add`): ``y = clamp((a*add_ma + b*add_mb + 2^(add_k-1)) >> add_k,
    lo, hi)`` of two (IN_C, IN_H, IN_W) maps, the I section holding a then b (each padded to
    whole beats); ``add_ma``, ``add_mb`` are unsigned 16 bit (ADD_MULT), ``add_k`` = 31 +
    shift in 1..62 (OP[21:16]); OUT_C = IN_C; relu and the bounds as CONV's. :meth:`registers`
    then also lists ADD_MULT (OP .. ADD_MULT: twelve words); it is 0 for the other ops.
    """

    op: int = OPCODE_CONV
    relu: bool = False
    pool: int = POOL_NONE
    out_int32: bool = False
    load_params: bool = True
    load_weights: bool = True
    in_c: int = 1
    in_h: int = 1
    in_w: int = 1
    out_c: int = 1
    kernel: int = 1
    kernel_w: int = 0
    pair: bool = False
    stride: int = 1
    pad: Tuple[int, int, int, int] = (0, 0, 0, 0)
    wbase: int = 0
    pbase: int = 0
    act_min: int = -128
    act_max: int = 127
    add_ma: int = 0
    add_mb: int = 0
    add_k: int = 0

    # -- convenience constructors ------------------------------------------------------
    @classmethod
    def linear(cls, in_features: int, out_features: int, **kw) -> JobConfig:
        """A LINEAR job (IN_H = IN_W = KERNEL = STRIDE = 1)."""
        return cls(op=OPCODE_LINEAR, in_c=in_features, out_c=out_features, **kw)

    @classmethod
    def pool2d(cls, mode: str, c: int, h: int, w: int) -> JobConfig:
        """A standalone MAXPOOL (``mode="max"``) or AVGPOOL (``"avg"``) job."""
        op = {"max": OPCODE_MAXPOOL, "avg": OPCODE_AVGPOOL}[mode]
        return cls(op=op, in_c=c, in_h=h, in_w=w, out_c=c, load_params=False, load_weights=False)

    @classmethod
    def add(cls, c: int, h: int, w: int, ma: int, mb: int, k: int, **kw) -> JobConfig:
        """An ADD job of two (c, h, w) maps: multipliers ``ma``, ``mb``, rounding shift ``k``."""
        return cls(op=OPCODE_ADD, in_c=c, in_h=h, in_w=w, out_c=c, load_params=False,
                   load_weights=False, add_ma=ma, add_mb=mb, add_k=k, **kw)

    def replace(self, **kw) -> JobConfig:
        """A copy with some fields changed."""
        return _dc_replace(self, **kw)

    # -- kinds -------------------------------------------------------------------------
    @property
    def is_pool_op(self) -> bool:
        return self.op in (OPCODE_MAXPOOL, OPCODE_AVGPOOL)

    @property
    def is_add(self) -> bool:
        return self.op == OPCODE_ADD

    @property
    def no_kernel(self) -> bool:
        """MAXPOOL, AVGPOOL and ADD: no kernel, stride, padding, weights or parameters."""
        return self.is_pool_op or self.is_add

    @property
    def pool_mode(self) -> Optional[str]:
        """ "max", "avg" or None: the 2x2 pool this job applies (fused or standalone)."""
        if self.op == OPCODE_MAXPOOL:
            return "max"
        if self.op == OPCODE_AVGPOOL:
            return "avg"
        return {POOL_MAX: "max", POOL_AVG: "avg"}.get(self.pool)

    # -- derived geometry --------------------------------------------------------------
    @property
    def eff_kernel(self) -> int:
        return 1 if self.no_kernel else int(self.kernel)

    @property
    def eff_kernel_w(self) -> int:
        """Kernel columns (KW, or K when KW is 0; 1 for pool ops and ADD)."""
        if self.no_kernel:
            return 1
        return int(self.kernel_w) or int(self.kernel)

    @property
    def eff_stride(self) -> int:
        return 1 if self.no_kernel else int(self.stride)

    @property
    def eff_pad(self) -> Tuple[int, int, int, int]:
        return (0, 0, 0, 0) if self.no_kernel else tuple(int(p) for p in self.pad)

    @property
    def conv_h(self) -> int:
        """Rows of the conv output before pooling (0 if empty)."""
        t, b, _, _ = self.eff_pad
        span = self.in_h + t + b - self.eff_kernel
        return span // self.eff_stride + 1 if span >= 0 else 0

    @property
    def conv_w(self) -> int:
        """Columns of the conv output before pooling (0 if empty)."""
        _, _, lft, r = self.eff_pad
        span = self.in_w + lft + r - self.eff_kernel_w
        return span // self.eff_stride + 1 if span >= 0 else 0

    @property
    def out_h(self) -> int:
        """OUT_H: output rows after pooling."""
        return self.conv_h // 2 if self.pool_mode else self.conv_h

    @property
    def out_w(self) -> int:
        """OUT_W: output columns after pooling."""
        return self.conv_w // 2 if self.pool_mode and not self.pair else self.conv_w

    def icg(self, build: Build) -> int:
        """Input-channel groups ceil(IN_C / P_IC)."""
        return _ceil_div(self.in_c, build.p_ic)

    def nog(self, build: Build) -> int:
        """Output-channel groups ceil(OUT_C / P_OC)."""
        return _ceil_div(self.out_c, build.p_oc)

    def weight_words(self, build: Build) -> int:
        """Weight words the job reads from WBASE on (CONV and LINEAR; 0 for pool ops, ADD)."""
        if self.no_kernel:
            return 0
        return self.nog(build) * self.eff_kernel * self.eff_kernel_w * self.icg(build)

    def input_words(self, build: Build) -> int:
        """Input-buffer words of the feature map (of each operand of ADD): IN_H * IN_W * ICG."""
        return self.in_h * self.in_w * self.icg(build)

    def param_beats(self) -> int:
        return 2 * self.out_c if (self.load_params and not self.no_kernel) else 0

    def weight_beats(self, build: Build) -> int:
        if not self.load_weights or self.no_kernel:
            return 0
        return self.weight_words(build) * build.p_oc * build.p_ic // 8

    def input_beats(self, build: Build) -> int:
        """Beats of the I section (ADD: both operands, each padded to whole beats)."""
        return _ceil_div(self.input_words(build) * build.p_ic, 8) * (2 if self.is_add else 1)

    def in_beats(self, build: Build) -> int:
        """IN_BEATS: beats of the job's whole input stream."""
        return self.param_beats() + self.weight_beats(build) + self.input_beats(build)

    def out_values(self) -> int:
        return self.out_h * self.out_w * self.out_c

    def out_beats(self) -> int:
        """OUT_BEATS: beats of the job's output stream."""
        return _ceil_div(self.out_values() * (4 if self.out_int32 else 1), 8)

    def mac_steps(self, build: Build) -> int:
        """MAC-array steps of the job (the ideal CYC_MAC; ADD: its word steps)."""
        if self.is_add:
            return self.input_words(build)
        sub = (2 if self.pair else 4) if self.pool_mode else 1
        return (self.out_h * self.out_w * sub * self.nog(build) * self.eff_kernel
                * self.eff_kernel_w * self.icg(build))

    def macs(self) -> int:
        """Multiply-accumulates of the job as configured (CONV/LINEAR; 0 for pool ops):
        every conv pixel x OUT_C x IN_C x K x KW. For a layer the host has unfolded
        (:mod:`rtlcnn.unfold`) this counts the engine's view, zero taps included; the
        layer's own MAC count is the program's."""
        if self.no_kernel:
            return 0
        sub = 4 if self.pool_mode else 1
        return (self.out_h * self.out_w * sub * self.out_c * self.in_c * self.eff_kernel
                * self.eff_kernel_w)

    # -- register values ---------------------------------------------------------------
    def op_word(self) -> int:
        """Value of the OP register."""
        return (
            (int(self.op) & OPCODE_MASK)
            | (OP_RELU if self.relu else 0)
            | ((int(self.pool) & 3) << OP_POOL_SHIFT)
            | (OP_OUT_INT32 if self.out_int32 else 0)
            | (OP_LOAD_PARAMS if self.load_params else 0)
            | (OP_LOAD_WEIGHTS if self.load_weights else 0)
            | (OP_PAIR if self.pair else 0)
            | ((int(self.add_k) & 0x3F) << OP_ADD_K_SHIFT if self.is_add else 0)
        )

    def pad_word(self) -> int:
        """Value of the PAD register: [3:0] top, [7:4] bottom, [11:8] left, [15:12] right."""
        t, b, lft, r = (int(p) for p in self.pad)
        for name, v in zip(("top", "bottom", "left", "right"), (t, b, lft, r)):
            if not 0 <= v <= 15:
                raise ValueError(f"pad {name}={v} does not fit the 4-bit PAD field (0..15)")
        return t | (b << 4) | (lft << 8) | (r << 12)

    def act_word(self) -> int:
        """Value of the ACT register: [7:0] act_min, [15:8] act_max, as int8."""
        lo, hi = int(self.act_min), int(self.act_max)
        for name, v in (("act_min", lo), ("act_max", hi)):
            if not -128 <= v <= 127:
                raise ValueError(f"{name}={v} does not fit the int8 field of ACT (-128..127)")
        return (lo & 0xFF) | ((hi & 0xFF) << ACT_MAX_SHIFT)

    def add_mult_word(self) -> int:
        """Value of the ADD_MULT register: [15:0] Ma, [31:16] Mb (0 for other ops)."""
        if not self.is_add:
            return 0
        for name, v in (("add_ma", self.add_ma), ("add_mb", self.add_mb)):
            if not 0 <= int(v) < ADD_MULT_LIMIT:
                raise ValueError(f"{name}={v} does not fit the unsigned 16-bit field of ADD_MULT")
        return int(self.add_ma) | (int(self.add_mb) << ADD_MULT_MB_SHIFT)

    @property
    def has_bounds(self) -> bool:
        """ACT differs from its reset value (bounds other than int8 and RELU's)."""
        return self.act_word() != ACT_RESET

    def registers(self) -> dict:
        """Offset -> value of every configuration register, in the order to write them
        (OP .. ADD_MULT: twelve consecutive words)."""
        return {
            REG_OP: self.op_word(),
            REG_IN_C: int(self.in_c),
            REG_IN_H: int(self.in_h),
            REG_IN_W: int(self.in_w),
            REG_OUT_C: int(self.out_c),
            REG_KERNEL: int(self.kernel) | (int(self.kernel_w) << KERNEL_W_SHIFT),
            REG_STRIDE: int(self.stride),
            REG_PAD: self.pad_word(),
            REG_WBASE: int(self.wbase),
            REG_PBASE: int(self.pbase),
            REG_ACT: self.act_word(),
            REG_ADD_MULT: self.add_mult_word(),
        }

    def derived_registers(self, build: Build) -> dict:
        """Offset -> expected value of OUT_H, OUT_W, IN_BEATS, OUT_BEATS (valid configs)."""
        return {
            REG_OUT_H: self.out_h,
            REG_OUT_W: self.out_w,
            REG_IN_BEATS: self.in_beats(build),
            REG_OUT_BEATS: self.out_beats(),
        }

    # -- the hardware's checks ---------------------------------------------------------
    def check(self, build: Build) -> int:
        """CONFIG_ERR code the engine gives at START (0 if the job is accepted)."""
        op = int(self.op)
        if not 0 <= op <= 4:
            return CFG_OPCODE
        if min(self.in_c, self.in_h, self.in_w, self.out_c) <= 0:
            return CFG_ZERO_DIM
        pads = [int(p) for p in self.pad]
        if op == OPCODE_CONV:
            k_ok = 1 <= self.kernel <= MAX_KERNEL and 0 <= self.kernel_w <= MAX_KERNEL
            kw = self.eff_kernel_w
            if not (k_ok and self.stride in (1, 2) and pads[0] < self.kernel
                    and pads[1] < self.kernel and pads[2] < kw and pads[3] < kw):
                return CFG_CONV
        if op == OPCODE_LINEAR:
            ones = self.in_h == self.in_w == self.kernel == self.stride == 1 and not self.kernel_w
            if not (ones and not any(pads) and self.pool == 0):
                return CFG_LINEAR
        if self.is_pool_op:
            if self.out_c != self.in_c or self.out_int32 or self.load_params or self.load_weights:
                return CFG_POOL_OP
        if not 0 <= self.pool <= 2 or (self.out_int32 and (self.relu or self.pool)):
            return CFG_POOL_MODE
        need = 2 if self.pool_mode else 1
        if self.conv_h < need or self.conv_w < (1 if self.pair else need):
            return CFG_EMPTY_OUTPUT
        if self.input_words(build) > build.ibuf_depth // (2 if self.is_add else 1):
            return CFG_INPUT_FIT
        if not self.no_kernel:
            if self.wbase + self.weight_words(build) > build.wbuf_depth:
                return CFG_WEIGHT_FIT
            if self.pbase + self.out_c > build.pbuf_depth:
                return CFG_PARAM_FIT
        if self.pair and not (op == OPCODE_CONV and self.pool == POOL_MAX and not self.out_int32
                              and build.p_oc > 1 and self.out_c <= build.p_oc // 2):
            return CFG_PAIR
        if not self.is_pool_op and (max(int(self.act_min), 0 if self.relu else -128) > self.act_max
                                    or (self.out_int32 and self.has_bounds)):
            return CFG_ACT
        if self.is_add and not (self.out_c == self.in_c and self.pool == 0 and not self.out_int32
                                and not self.pair and not self.load_params and not self.load_weights
                                and 1 <= int(self.add_k) <= 62):
            return CFG_ADD
        return CFG_OK


# ---------------------------------------------------------------------------------------
# Packers
# ---------------------------------------------------------------------------------------
def _pad_to_beat(b: np.ndarray) -> np.ndarray:
    n = (-len(b)) % STREAM_BYTES
    return np.concatenate([b, np.zeros(n, np.uint8)]) if n else b


def _as_int(a, name: str, lo: int, hi: int) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind not in "iu":
        if not np.all(np.asarray(arr) == np.round(arr)):
            raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
        arr = arr.astype(np.int64)
    if arr.size and (arr.min() < lo or arr.max() > hi):
        raise ValueError(f"{name} has values outside [{lo}, {hi}]")
    return arr.astype(np.int64)


def pack_params(bias, mult, shift) -> np.ndarray:
    """Section P: two beats per output channel (bias|M, then shift), as uint8 bytes.

    Parameters
    ----------
    bias, mult : array of int32, shape (C,)
    shift : array of int, shape (C,); the requant shift k = 31 + shift must be 1..62.
    """
    bias = _as_int(bias, "bias", -(2**31), 2**31 - 1).reshape(-1)
    mult = _as_int(mult, "mult", -(2**31), 2**31 - 1).reshape(-1)
    shift = _as_int(shift, "shift", -30, 31).reshape(-1)
    if not len(bias) == len(mult) == len(shift):
        raise ValueError(f"bias, mult and shift differ in length: {len(bias)}, {len(mult)}, {len(shift)}")
    words = np.zeros((len(bias), 4), dtype="<u4")
    words[:, 0] = bias.astype(np.int32).view(np.uint32)
    words[:, 1] = mult.astype(np.int32).view(np.uint32)
    words[:, 2] = shift.astype(np.int8).view(np.uint8).astype(np.uint32)
    return words.view(np.uint8).reshape(-1).copy()


def pack_weights(w, p_oc: int, p_ic: int) -> np.ndarray:
    """Section W: weight words in (group, ky, kx, icg) order, byte ``o*P_IC + i``.

    Parameters
    ----------
    w : int8 array (O, I, K, KW), or (O, I) for LINEAR
    p_oc, p_ic : MAC array size of the build
    """
    w = _as_int(w, "weights", -128, 127)
    if w.ndim == 2:
        w = w[:, :, None, None]
    if w.ndim != 4:
        raise ValueError(f"weights must be (O, I, K, KW) or (O, I), got shape {w.shape}")
    o, i, k, kw = w.shape
    nog, icg = _ceil_div(o, p_oc), _ceil_div(i, p_ic)
    wp = np.zeros((nog * p_oc, icg * p_ic, k, kw), np.int8)
    wp[:o, :i] = w
    wp = wp.reshape(nog, p_oc, icg, p_ic, k, kw).transpose(0, 4, 5, 2, 1, 3)
    return np.ascontiguousarray(wp).view(np.uint8).reshape(-1)


def pair_lanes(w, p_oc: int) -> np.ndarray:
    """PAIR weights ``(2, O, I, K, KW)`` (left, right pixel) as the ``(P_OC, I, K, KW)``
    lanes of the engine: left filters in lanes 0.., right ones in lanes P_OC/2..."""
    w = np.asarray(w)
    if w.ndim != 5 or w.shape[0] != 2 or w.shape[1] > p_oc // 2:
        raise ValueError(f"PAIR weights must be (2, O, I, K, KW) with O <= P_OC/2 = {p_oc // 2}, "
                         f"got shape {w.shape}")
    lanes = np.zeros((p_oc,) + w.shape[2:], np.int64)
    lanes[:w.shape[1]] = w[0]
    lanes[p_oc // 2:p_oc // 2 + w.shape[1]] = w[1]
    return lanes


def pack_input(x, p_ic: int) -> np.ndarray:
    """Section I: the map in HWC order, channels padded to a multiple of P_IC (unpadded).

    Parameters
    ----------
    x : int8 array (C, H, W), or (F,) for LINEAR
    """
    x = _as_int(x, "input", -128, 127)
    if x.ndim == 1:
        x = x[:, None, None]
    if x.ndim != 3:
        raise ValueError(f"input must be (C, H, W) or (F,), got shape {x.shape}")
    c, h, w = x.shape
    icg = _ceil_div(c, p_ic)
    xp = np.zeros((h, w, icg * p_ic), np.int8)
    xp[:, :, :c] = x.transpose(1, 2, 0)
    return xp.view(np.uint8).reshape(-1)


def job_stream(cfg: JobConfig, build: Build, params=None, weights=None, x=None,
               omit=(False, False)) -> np.ndarray:
    """The whole input stream of one job: sections P, W, I, each padded to whole beats.

    Parameters
    ----------
    cfg, build : the job and the engine it runs on
    params : (bias, mult, shift) for the job's OUT_C channels; needed with LOAD_PARAMS
    weights : int8 (OUT_C, IN_C, K, KW) or (OUT_C, IN_C), for PAIR (2, OUT_C, IN_C, K, KW);
        needed with LOAD_WEIGHTS
    x : int8 (IN_C, IN_H, IN_W) or (IN_C,); ADD: the pair (a, b) of its two operands
    omit : (a, b): leave out the I section's map (an ADD's a) and an ADD's b, which a command
        job takes from the feature buffer (:class:`rtlcnn.core.commands.Place`); x (or its
        entry) may be None then

    Returns
    -------
    ndarray of uint8, ``cfg.in_beats(build) * 8`` bytes less the parts left out
    """
    parts = []
    if cfg.param_beats():
        if params is None:
            raise ValueError("the job has LOAD_PARAMS = 1: pass params=(bias, mult, shift)")
        p = pack_params(*params)
        if len(p) != 16 * cfg.out_c:
            raise ValueError(f"params hold {len(p) // 16} channels, the job has OUT_C = {cfg.out_c}")
        parts.append(p)
    if cfg.weight_beats(build):
        if weights is None:
            raise ValueError("the job has LOAD_WEIGHTS = 1: pass weights")
        wa = np.asarray(weights)
        k, kw = cfg.eff_kernel, cfg.eff_kernel_w
        if cfg.pair:
            want = (2, cfg.out_c, cfg.in_c, k, kw)
        else:
            want = (cfg.out_c, cfg.in_c) + ((k, kw) if wa.ndim == 4 else ())
        if wa.shape != want:
            raise ValueError(f"weights have shape {wa.shape}, the job needs {want}")
        if cfg.pair:
            wa = pair_lanes(wa, build.p_oc)
        parts.append(_pad_to_beat(pack_weights(wa, build.p_oc, build.p_ic)))
    if cfg.is_add and (omit[0] or omit[1]):
        x = x if x is not None else (None, None)
    elif omit[0]:
        return np.concatenate(parts) if parts else np.zeros(0, np.uint8)
    if x is None:
        raise ValueError("every job needs its input x")
    if cfg.is_add:
        if len(x) != 2:
            raise ValueError("an ADD job needs x=(a, b), its two operand maps")
        for xa, left_out in zip(x, omit):
            if left_out:
                continue
            if np.shape(xa) != (cfg.in_c, cfg.in_h, cfg.in_w):
                raise ValueError(f"ADD operand has shape {np.shape(xa)}, the job needs "
                                 f"{(cfg.in_c, cfg.in_h, cfg.in_w)}")
            parts.append(_pad_to_beat(pack_input(xa, build.p_ic)))
        out = np.concatenate(parts) if parts else np.zeros(0, np.uint8)
        assert len(out) == (cfg.in_beats(build) - cfg.input_beats(build) // 2 * (omit[0] + omit[1])) * 8
        return out
    xa = np.asarray(x)
    want = (cfg.in_c,) if xa.ndim == 1 else (cfg.in_c, cfg.in_h, cfg.in_w)
    if xa.shape != want or (xa.ndim == 1 and (cfg.in_h, cfg.in_w) != (1, 1)):
        raise ValueError(f"input has shape {xa.shape}, the job needs {(cfg.in_c, cfg.in_h, cfg.in_w)}")
    parts.append(_pad_to_beat(pack_input(xa, build.p_ic)))
    out = np.concatenate(parts)
    assert len(out) == cfg.in_beats(build) * STREAM_BYTES
    return out


def unpack_output(buf, cfg: JobConfig) -> np.ndarray:
    """The output stream of a job as (OUT_C, OUT_H, OUT_W), int8 or (OUT_INT32) int32.

    ``buf`` holds at least the job's values (bytes, or any array viewed as bytes); the
    padding of the last beat is ignored.
    """
    b = np.asarray(buf)
    b = np.ascontiguousarray(b).view(np.uint8).reshape(-1)
    n = cfg.out_values()
    size = 4 if cfg.out_int32 else 1
    if len(b) < n * size:
        raise ValueError(f"output holds {len(b)} bytes, the job produces {n * size}")
    vals = b[: n * size].view("<i4" if cfg.out_int32 else np.int8)
    return (
        vals.reshape(cfg.out_h, cfg.out_w, cfg.out_c)
        .transpose(2, 0, 1)
        .astype(np.int32 if cfg.out_int32 else np.int8)
    )
