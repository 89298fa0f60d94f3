"""Scheduling a program onto the engine: jobs that fit the on-chip buffers (pure numpy).

:func:`plan` turns a :class:`rtlcnn.Program` and an engine :class:`rtlcnn.core.stream.Build`
into a :class:`Plan`: per op, the output-channel slices whose weights fit the weight
buffer, the row bands (with their halo) whose input fits the input buffer, where each
layer's weights and parameters live (WBASE/PBASE) and whether a layer with few input
channels runs "unfolded" because that costs fewer cycles: in one of the host layouts of
:mod:`rtlcnn.core.unfold` ("kx": a K x 1 kernel over the taps of a kernel row; "pair": PAIR
jobs, two conv pixels per input pixel, pooled on the accumulators), or im2col'ed (the
engine a 1x1 conv; streams K*K times the map, so rarely the best, but the layout of kernels
above MAX_KERNEL and strides above 2). Programs are graphs (a concatenation runs on the host). :func:`execute`
(:mod:`rtlcnn.core.runner`) runs a plan on anything with a ``run_job(cfg, stream) ->
bytes`` method: the accelerator on a board or the mock board, or
:class:`rtlcnn.sim.engine_model.EngineModel`, a numpy model of the engine used to test the
tiling without a simulator.

Order of work in a batch: layer by layer; within a layer, slice by slice and image by
image, so a slice's weights go over the stream once per batch (with LOAD_* = 1 on its
first job only). A LINEAR layer runs several images per job: a CONV job with KERNEL = 1
over an IN_H = N, IN_W = 1 map whose rows are the N images' feature vectors (the weight
words of a 1x1 conv are laid out as LINEAR's, so the same resident weights serve), which
pays the fixed cost of a job (configuration check, pipeline fill, waiting for the input)
once per N images instead of once per image; its output is N pixels x OUT_C, image by
image. The batch is cut into balanced chunks of at most :attr:`LayerPlan.images_per_job`
images (what fits the input buffer and the DMA's largest transfer); a chunk of one image
is a plain LINEAR job. When every layer's weights and parameters fit on chip together, each
layer gets its own WBASE/PBASE and the weights are sent once per network and stay (engine
1.5: else those that fit, :func:`rtlcnn.core.tiling.partly_resident`, chained on chip).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from . import chain as CH
from . import stream as S
from . import unfold as U
from .engine_support import check_engine_support
from .errors import LayerNotSupported
from .groups import AVG_WEIGHT, avg_as_conv, chunk_op, gap_as_conv, mean_requant  # noqa: F401  (re-exported)
from .ops import POOL_KINDS, V2_DEFAULTS
from .program import Program

# running a plan lives in rtlcnn.core.runner; execute, Residency, JobRecord are re-exported here
from .runner import OPCODE_HOST, JobRecord, Residency, execute
from .tiling import (  # noqa: F401  (re-exported)
    Band,
    Slice,
    _bands,
    _slices,
    _tiles,
    add_bands,
    balanced,
    partly_resident,
    resident_slices,
)

__all__ = ["Plan", "LayerPlan", "Slice", "Band", "plan", "execute", "Residency", "JobRecord", "job_cycles",
           "HOST_KINDS", "OPCODE_HOST"]

JOB_OVERHEAD_CYCLES = 64  # start, pipeline fill and drain of one job (cost model only)
#: what one more job costs the host (register writes, two DMA starts, polls, in Python on the
#: board's ARM: some 50 us), in engine cycles at 100 MHz: weighs unfolding against its jobs
HOST_JOB_CYCLES = 5000
#: a host layout's cost an image beyond its cycles where the layer could read its input from
#: the feature buffer (engine 1.5): the host lays the map out and the chain ends there
CHAIN_BREAK_CYCLES = HOST_JOB_CYCLES
#: the batch whose per-image cost Plan.summary() shows for layers that batch images
#: (Network.predict's default batch size)
SUMMARY_BATCH = 64
#: most images a LINEAR job takes, whatever the buffers allow: bounds the DMA buffers
#: Accelerator.load allocates (a layer of few features and many outputs could otherwise
#: ask for megabytes); 256 already makes the per-job cost negligible
MAX_IMAGES_PER_JOB = 256
#: op kinds the host runs without the engine (they move bytes only; LayerPlan.opcode OPCODE_HOST).
#: Pools the engine has no window for run there too (:func:`plan`): a max pool other than
#: 2x2/s2, an average pool whose windows have different divisors
HOST_KINDS = ("concat",)
#: the pool fields whose defaults (2x2, stride 2, no padding, floor) the engine's pool has
_POOL_FIELDS = ("pool_kernel", "pool_stride", "pool_padding", "ceil_mode")


def _cdiv(a: int, b: int) -> int:
    return -(-int(a) // int(b))


@dataclass
class LayerPlan:
    """How one op of the program runs on the engine."""

    index: int
    kind: str
    name: str
    in_shape: tuple          # the op's input (C, H, W) or (F,)
    out_shape: tuple         # the op's output
    opcode: int
    unfold: bool             # conv run as host im2col + 1x1 conv
    engine_in: tuple         # (C, H, W) of the map the engine sees (after unfold)
    kernel: int
    stride: int
    pad: int                 # symmetric, left/right on every band
    relu: bool
    pool: int
    out_int32: bool
    slices: list
    bands: list
    weight: Optional[np.ndarray] = None   # as the engine sees it (unfolded: (O, C*K*K, 1, 1))
    bias: Optional[np.ndarray] = None
    mult: Optional[np.ndarray] = None
    shift: Optional[np.ndarray] = None
    est_cycles: int = 0      # cost-model cycles per image, the image run alone (batch of 1)
    #: conv host layout: None (as is), "im2col", "kx" or "pair" (see rtlcnn.core.unfold);
    #: "pixels": a global average pool's map transposed (H*W channels of a C x 1 map,
    #: :func:`rtlcnn.core.groups.gap_as_conv`; the engine's output is (1, C, 1))
    layout: Optional[str] = None
    #: LINEAR: most images one job runs (a 1x1 conv over one input row per image); 1 otherwise
    images_per_job: int = 1
    #: the op's (act_min, act_max): the requant's bounds (ACT, engine 1.3), before a fused pool
    act: tuple = (-128, 127)
    #: LINEAR whose features do not fit the buffers: the feature ranges [f0, f1) of its jobs
    #: (each job's int32 sums the next one's bias; the last requantizes)
    rsplit: tuple = ()
    #: a grouped conv (depthwise included) or an average pool run as dense engine ops on
    #: channel ranges: ((ic0, ic1, oc0, oc1, LayerPlan), ...), each a block-diagonal conv
    #: of a few groups (:func:`_grouped`); the layer itself runs no job of its own
    gsplit: tuple = ()
    #: engine MACs per MAC of the layer: a block-diagonal chunk of m groups computes m times
    #: the products it needs (the others multiply zero weights)
    mac_ratio: int = 1
    #: the op this plan runs, where not the program's (a grouped op's chunk, an average as a conv)
    op: Optional[object] = None

    def units(self) -> list:
        """The plans that run jobs: the chunks of a grouped op, else this plan itself."""
        return [g[4] for g in self.gsplit] if self.gsplit else [self]

    def config(self, sl: Slice, band: Optional[Band], load: bool, images: int = 1) -> S.JobConfig:
        """The JobConfig of one job of this layer (LINEAR: of a chunk of ``images`` images;
        a split LINEAR: its widest part, with LOAD_PARAMS, see :meth:`part_config`)."""
        if self.rsplit:
            r = max(range(len(self.rsplit)), key=lambda j: self.rsplit[j][1] - self.rsplit[j][0])
            return self.part_config(sl, r, load)
        lo, hi = self.act
        if self.opcode == S.OPCODE_LINEAR:
            if images == 1:
                return S.JobConfig.linear(self.engine_in[0], sl.oc1 - sl.oc0, relu=self.relu,
                                          out_int32=self.out_int32, load_params=load,
                                          load_weights=load, wbase=sl.wbase, pbase=sl.pbase,
                                          act_min=lo, act_max=hi)
            # the same computation for several images: image i is input row i of a 1x1 conv
            return S.JobConfig(
                op=S.OPCODE_CONV, relu=self.relu, pool=S.POOL_NONE, out_int32=self.out_int32,
                load_params=load, load_weights=load, in_c=self.engine_in[0], in_h=int(images),
                in_w=1, out_c=sl.oc1 - sl.oc0, kernel=1, stride=1, pad=(0, 0, 0, 0),
                wbase=sl.wbase, pbase=sl.pbase, act_min=lo, act_max=hi)
        c, _, w = self.engine_in
        c0, c1 = band.cols(w)
        if self.opcode == S.OPCODE_ADD:  # the two operands' bands; k = 31 + shift
            return S.JobConfig.add(c, band.r1 - band.r0, c1 - c0, int(self.mult[0]), int(self.mult[1]),
                                   31 + int(self.shift[0]), relu=self.relu, act_min=lo, act_max=hi)
        if self.opcode in (S.OPCODE_MAXPOOL, S.OPCODE_AVGPOOL):
            cfg = S.JobConfig.pool2d("max" if self.opcode == S.OPCODE_MAXPOOL else "avg", c, 1, c1 - c0)
            return cfg.replace(in_h=band.r1 - band.r0)
        rows = self.layout in ("kx", "pair")  # a K x 1 kernel: columns are in the channels
        lr = (0, 0) if rows else (self.pad, self.pad)
        if band.c1 is not None:
            lr = (band.pad_left, band.pad_right)
        w = c1 - c0
        return S.JobConfig(
            op=S.OPCODE_CONV, relu=self.relu, pool=self.pool, out_int32=self.out_int32,
            load_params=load, load_weights=load, in_c=c, in_h=band.r1 - band.r0, in_w=w,
            out_c=sl.oc1 - sl.oc0, kernel=self.kernel, kernel_w=1 if rows else 0,
            pair=self.layout == "pair", stride=self.stride,
            pad=(band.pad_top, band.pad_bottom) + lr,
            wbase=sl.wbase, pbase=sl.pbase, act_min=lo, act_max=hi)

    def part_config(self, sl: Slice, r: int, load_weights: bool) -> S.JobConfig:
        """Part ``r`` of a split LINEAR on one image: features rsplit[r], int32 sums out but
        for the last part, which has the layer's ReLU and requant; parameters (the bias is the
        sums so far) loaded every job."""
        f0, f1 = self.rsplit[r]
        last = r == len(self.rsplit) - 1
        lo, hi = self.act if last else (-128, 127)
        return S.JobConfig.linear(f1 - f0, sl.oc1 - sl.oc0, relu=self.relu and last,
                                  out_int32=self.out_int32 or not last, load_params=True,
                                  load_weights=load_weights, wbase=sl.wbase, pbase=sl.pbase,
                                  act_min=lo, act_max=hi)

    def slice_weights(self, sl: Slice) -> np.ndarray:
        """The weights of a slice's job as :func:`rtlcnn.core.stream.job_stream` takes them."""
        w = self.weight[sl.oc0:sl.oc1]
        return w.swapaxes(0, 1) if self.layout == "pair" else w  # pair: (2, O, ...)

    def job_macs(self, cfg: S.JobConfig) -> int:
        """The layer's own MACs in one job (the pair layout's engine view counts a zero
        tap per kernel row: K+1 taps for K)."""
        if self.layout == "pair":
            return cfg.macs() * self.kernel // (self.kernel + 1) // self.mac_ratio
        return cfg.macs() // self.mac_ratio

    @property
    def has_weights(self) -> bool:
        return self.opcode in (S.OPCODE_CONV, S.OPCODE_LINEAR)

    @property
    def jobs_per_image(self) -> int:
        """Jobs of one image run alone (a batch of 1); :meth:`jobs` for a batch."""
        if self.gsplit:
            return sum(u.jobs_per_image for u in self.units())
        return len(self.slices) * len(self.bands) * max(1, len(self.rsplit))

    def chunks(self, n: int) -> list:
        """The images [i0, i1) of each job of a batch of ``n`` (per slice and band): one
        image a job, except LINEAR: ceil(n / images_per_job) chunks of balanced sizes."""
        return balanced(n, max(1, int(self.images_per_job)))

    def jobs(self, n: int) -> int:
        """Jobs of this layer for a batch of ``n`` images."""
        if self.gsplit:
            return sum(u.jobs(n) for u in self.units())
        return len(self.slices) * len(self.bands) * len(self.chunks(n)) * max(1, len(self.rsplit))

    def batch_cycles(self, n: int, build: S.Build) -> int:
        """Cost-model cycles of this layer for a batch of ``n`` images, weights not loaded."""
        if self.gsplit:
            return sum(u.batch_cycles(n, build) for u in self.units())
        if self.rsplit:
            return n * sum(job_cycles(self.part_config(sl, r, False), build)
                           for sl in self.slices for r in range(len(self.rsplit)))
        per_chunk = {}
        for i0, i1 in self.chunks(n):
            m = i1 - i0
            if m not in per_chunk:
                per_chunk[m] = sum(job_cycles(self.config(sl, b, False, m), build)
                                   for sl in self.slices for b in self.bands)
        return sum(per_chunk[i1 - i0] for i0, i1 in self.chunks(n))


@dataclass
class Plan:
    """A program scheduled for one engine build."""

    program: Program
    build: S.Build
    layers: list
    all_resident: bool       # every layer's weights stay on chip together

    def jobs_per_image(self) -> int:
        """Jobs of one image run alone (a batch of 1); :meth:`jobs` for a batch."""
        return sum(lp.jobs_per_image for lp in self.layers)

    def jobs(self, batch: int) -> int:
        """Jobs :func:`execute` runs for a batch of ``batch`` images."""
        return sum(lp.jobs(batch) for lp in self.layers)

    def max_stream_bytes(self) -> tuple:
        """(input, output) bytes of the largest job streams (weights loaded; LINEAR
        layers with their largest chunk of images)."""
        cfgs = [u.config(sl, b, u.has_weights, u.images_per_job) for lp in self.layers
                for u in lp.units() for sl in u.slices for b in u.bands]
        return (max(c.in_beats(self.build) for c in cfgs) * 8, max(c.out_beats() for c in cfgs) * 8)

    def est_cycles(self, batch: int = 1) -> int:
        """Cost-model cycles for a batch (weights counted once per batch)."""
        return sum(lp.batch_cycles(batch, self.build) for lp in self.layers) + sum(
            _weight_beats(lp, self.build) for lp in self.layers)

    def summary(self) -> str:
        alone, total = resident_slices(self.layers)
        lines = [f"plan for P_OC={self.build.p_oc} P_IC={self.build.p_ic} WBUF={self.build.wbuf_depth} "
                 f"IBUF={self.build.ibuf_depth} PBUF={self.build.pbuf_depth}; weights " + (
                     "resident across batches" if self.all_resident else "loaded per batch" if not alone
                     else f"of {alone} of {total} slices resident across batches, the others per batch")]
        for lp in self.layers:
            if lp.gsplit:
                u = lp.gsplit[0][4]
                lines.append(
                    f"  {lp.index:2d} {lp.name or lp.kind:12s} {S.OPCODE_NAMES.get(u.opcode, 'host'):7s}"
                    f" {len(lp.gsplit)} chunks of {u.mac_ratio} groups (block-diagonal"
                    f"{', ' + u.layout if u.layout else ''}), {lp.jobs_per_image} jobs "
                    f"~{lp.est_cycles:,d} cycles/image")
                continue
            batched = ""
            if lp.images_per_job > 1:
                per = lp.batch_cycles(SUMMARY_BATCH, self.build) / SUMMARY_BATCH
                batched = (f" (~{per:,.0f} at batch {SUMMARY_BATCH}: up to "
                           f"{lp.images_per_job} images a job)")
            lines.append(
                f"  {lp.index:2d} {lp.name or lp.kind:12s} {S.OPCODE_NAMES.get(lp.opcode, 'host'):7s}"
                f"{' unfolded' if lp.unfold else '         '} slices {len(lp.slices):3d} bands "
                f"{len(lp.bands):3d} ~{lp.est_cycles:,d} cycles/image{batched}")
        return "\n".join(lines)


def _weight_beats(lp: LayerPlan, build: S.Build) -> int:
    if lp.opcode == S.OPCODE_ADD:
        return 0
    return sum(2 * (s.oc1 - s.oc0) + s.words * build.p_oc * build.p_ic // 8
               for u in lp.units() for s in u.slices)


# --------------------------------------------------------------------------- planning
def job_cycles(cfg: S.JobConfig, build: S.Build) -> int:
    """Cost-model engine cycles of one job: its input stream, MAC steps, output stream
    (ADD: operand a's beats, then b's, its word steps and its output, which overlap)."""
    if cfg.is_add:
        half = cfg.input_beats(build) // 2
        return half + max(half, cfg.mac_steps(build), cfg.out_beats()) + JOB_OVERHEAD_CYCLES
    return cfg.in_beats(build) + cfg.mac_steps(build) + cfg.out_beats() + JOB_OVERHEAD_CYCLES


def _images_per_job(lp: LayerPlan, build: S.Build, max_transfer: Optional[int]) -> int:
    """Most images one job of a LINEAR layer can take: its N input rows of ICG words must
    fit the input buffer (check 8), and its streams (weights loaded) the DMA's largest
    transfer (if one is given; a layer whose single-image job is already too large gets 1,
    and Accelerator.load rejects it)."""
    hi = max(1, min(MAX_IMAGES_PER_JOB, build.ibuf_depth // _cdiv(lp.engine_in[0], build.p_ic)))

    def fits(m):
        cfgs = [lp.config(sl, b, True, m) for sl in lp.slices for b in lp.bands]
        return all(max(c.in_beats(build), c.out_beats()) * 8 <= max_transfer for c in cfgs)

    if max_transfer is None or fits(hi):
        return hi
    lo = 1
    while lo < hi:  # the streams grow with the images: the most that fit
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    return lo


def _layer(i: int, op, in_shape: tuple, out_shape: tuple, build: S.Build, layout: Optional[str],
           wbase: int, pbase: int, wroom: int, proom: int,
           max_transfer: Optional[int] = None) -> LayerPlan:
    where = f"op {i} ({op.name or op.kind})"
    if op.kind in ("maxpool", "avgpool"):
        c, h, w = in_shape
        opcode = S.OPCODE_MAXPOOL if op.kind == "maxpool" else S.OPCODE_AVGPOOL
        bands = _tiles(h, w, c, 2, 2, 0, False, build.ibuf_depth, build.p_ic, where)
        lp = LayerPlan(i, op.kind, op.name, in_shape, out_shape, opcode, False, (c, h, w), 1, 1, 0,
                       False, 0, False, [Slice(0, c, 0, 0, 0)], bands)
    elif op.kind == "linear":
        f = int(np.prod(in_shape))
        icg = _cdiv(f, build.p_ic)
        cap = min(build.ibuf_depth, wroom)  # words of one job's features (and of a group's weights)
        rsplit = ()
        if icg > cap:  # the reduction in parts whose int32 sums carry over as the next bias
            parts = _cdiv(icg, cap)
            base, extra = divmod(icg, parts)
            bounds = [0]
            for j in range(parts):
                bounds.append(bounds[-1] + (base + (1 if j < extra else 0)) * build.p_ic)
            bounds[-1] = f
            rsplit = tuple(zip(bounds[:-1], bounds[1:]))
            icg = max(_cdiv(f1 - f0, build.p_ic) for f0, f1 in rsplit)
        slices = _slices(op.weight.shape[0], icg, build, wbase, pbase, wroom, proom, where)
        lp = LayerPlan(i, op.kind, op.name, in_shape, out_shape, S.OPCODE_LINEAR, False, (f, 1, 1),
                       1, 1, 0, op.relu, 0, op.out_int32, slices, [Band(0, 1, 0, 0, 0, 1)],
                       weight=op.weight.reshape(op.weight.shape[0], -1), bias=op.bias,
                       mult=op.mult, shift=op.shift, rsplit=rsplit)
        lp.images_per_job = 1 if rsplit else _images_per_job(lp, build, max_transfer)
    elif op.kind == "conv2d":
        o, c, k, _ = op.weight.shape
        _, h, w = in_shape
        s, p = int(op.stride), int(op.padding)
        if layout != "im2col" and k > build.max_kernel:  # im2col makes any conv a 1x1 conv
            raise LayerNotSupported(f"{where}: kernel {k}x{k} is larger than the engine's "
                                    f"MAX_KERNEL {build.max_kernel} (it runs in the im2col layout)")
        if layout != "im2col" and s not in (1, 2):
            raise LayerNotSupported(f"{where}: stride {s}; the engine supports 1 and 2 (other "
                                    "strides run in the im2col layout)")
        if p >= k:
            raise LayerNotSupported(f"{where}: padding {p} >= kernel {k}; the engine needs pad < K")
        pool = {None: S.POOL_NONE, "max": S.POOL_MAX, "avg": S.POOL_AVG}[op.pool]
        kw = kk = k
        if layout == "im2col":
            oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
            eng_in, kk, kw, ss, pp = (c * k * k, oh, ow), 1, 1, 1, 0
            weight = op.weight.reshape(o, c * k * k, 1, 1)
        elif layout in ("kx", "pair"):
            ow = U.conv_width(w, k, p)
            why = None
            if not build.has_unfold_modes:
                why = "needs engine version 1.1 (K x KW kernels, PAIR)"
            elif s != 1:
                why = "needs stride 1"
            elif layout == "pair" and (op.pool != "max" or o > build.p_oc // 2 or ow < 2
                                       or not U.pair_exact(op.mult)):
                why = (f"needs a 2x2 max pool, at most P_OC/2 = {build.p_oc // 2} output channels "
                       "and requant multipliers >= 0")
            if why:
                raise LayerNotSupported(f"{where}: the {layout} layout {why}")
            if layout == "pair":
                eng_in = ((k + 1) * c, h, ow // 2)
                weight = U.pair_weights(op.weight).swapaxes(0, 1)  # (O, 2, ...): sliced on O
            else:
                eng_in = (k * c, h, ow)
                weight = U.kx_weights(op.weight)
            kw, ss, pp = 1, 1, p
        elif layout is None:
            eng_in, ss, pp = (c, h, w), s, p
            weight = op.weight
        else:
            raise ValueError(f"unknown layout {layout!r}")
        icg = _cdiv(eng_in[0], build.p_ic)
        slices = _slices(o, kk * kw * icg, build, wbase, pbase, wroom, proom, where)
        if layout == "pair":  # PAIR jobs pool column pairs inside a job: row bands only
            bands = _bands(eng_in[1], eng_in[2], eng_in[0], kk, ss, pp, pool != S.POOL_NONE,
                           build.ibuf_depth, build.p_ic, where)
        else:
            bands = _tiles(eng_in[1], eng_in[2], eng_in[0], kk, ss, pp, pool != S.POOL_NONE,
                           build.ibuf_depth, build.p_ic, where, kw, pp if layout is None else 0)
        lp = LayerPlan(i, op.kind, op.name, in_shape, out_shape, S.OPCODE_CONV, layout is not None,
                       eng_in, kk, ss, pp, op.relu, pool, op.out_int32, slices, bands, weight=weight,
                       bias=op.bias, mult=op.mult, shift=op.shift, layout=layout)
    elif op.kind == "add":  # elementwise: row bands (column tiles) of both operands, no halo
        c, h, w = in_shape
        lp = LayerPlan(i, op.kind, op.name, in_shape, out_shape, S.OPCODE_ADD, False, (c, h, w), 1, 1,
                       0, op.relu, 0, False, [Slice(0, c, 0, 0, 0)], add_bands(c, h, w, build, where),
                       mult=op.mult, shift=op.shift)
    else:
        raise LayerNotSupported(f"{where}: op kind {op.kind!r} is not supported by the engine")
    if lp.has_weights or lp.opcode == S.OPCODE_ADD:  # ReLU6 / Hardtanh / clamp (pools have none)
        lp.act = (int(op.act_min), int(op.act_max))
    lp.op = op
    lp.est_cycles = (lp.batch_cycles(1, build) if lp.rsplit else
                     sum(job_cycles(lp.config(sl, b, False), build) for sl in lp.slices for b in lp.bands))
    return lp


def _host_layer(i: int, op, in_shape: tuple, out_shape: tuple) -> LayerPlan:
    """An op the host does without the engine: a concatenation only moves bytes (each
    input's channels go to their place in the output map, no arithmetic); a pool the
    engine has no window for is the reference's :func:`rtlcnn.core.ref_ops.pool_int`."""
    return LayerPlan(i, op.kind, op.name, in_shape, out_shape, OPCODE_HOST, False, in_shape, 1, 1,
                     0, False, 0, False, [], [], op=op)


# --------------------------------------------------------------------------- groups, averages
def _grouped(i: int, op, in_shape: tuple, out_shape: tuple, choose) -> LayerPlan:
    """A grouped conv (depthwise included, or an average pool as
    :func:`rtlcnn.core.groups.avg_as_conv`) as dense engine convs on chunks of m consecutive
    groups, each block-diagonal over its channel range. The engine's MAC array multiplies one input word
    with P_OC weight words, so a depthwise conv uses at most one product per lane and
    input word whatever the mapping: m trades zero taps (m times the MAC steps) against
    jobs (g/m chunks); the cost model picks m among the powers of two and g.
    ``choose(op, in_shape, out_shape)`` plans one dense op (its layout included)."""
    g = int(op.groups)
    c, h, w = in_shape
    o = op.weight.shape[0]
    cin, cout = c // g, o // g
    tail = tuple(out_shape[1:])

    def chunks(m):
        return [(g0, min(g, g0 + m)) for g0 in range(0, g, m)]

    def sub(g0, g1):
        so = chunk_op(op, g0, g1, cin, cout)
        return choose(so, ((g1 - g0) * cin, h, w), ((g1 - g0) * cout,) + tail)

    cands = sorted({1 << j for j in range(g.bit_length()) if 1 << j <= g} | {g})
    best_m, best_cost, err = None, None, None
    for m in cands:
        try:
            u = sub(0, m)
        except LayerNotSupported as e:
            err = err or e
            continue
        cost = len(chunks(m)) * (u.est_cycles + HOST_JOB_CYCLES * u.jobs_per_image)
        if best_cost is None or cost < best_cost:
            best_m, best_cost = m, cost
    if best_m is None:
        raise err
    parts = []
    for g0, g1 in chunks(best_m):
        u = sub(g0, g1)
        u.index, u.mac_ratio = i, g1 - g0
        parts.append((g0 * cin, g1 * cin, g0 * cout, g1 * cout, u))
    u0 = parts[0][4]
    lp = LayerPlan(i, op.kind, op.name, in_shape, out_shape, u0.opcode, False, in_shape, u0.kernel,
                   u0.stride, u0.pad, op.relu, u0.pool, op.out_int32, [], [], gsplit=tuple(parts),
                   op=op, mac_ratio=best_m)
    lp.est_cycles = sum(u.est_cycles for u in lp.units())
    return lp


def _words(lp: LayerPlan) -> int:
    return sum(s.words for s in lp.slices)


def plan(program: Program, build: S.Build, unfold: Optional[bool] = None,
         max_transfer: Optional[int] = None) -> Plan:
    """Schedule ``program`` for ``build``.

    Parameters
    ----------
    unfold : bool, optional
        None (default): run a conv layer in the host layout (:mod:`rtlcnn.core.unfold`'s kx or
        pair, or im2col) the cost model finds cheapest, or as is; True: in the cheapest
        of those layouts wherever one is possible; False: every conv as is.
    max_transfer : int, optional
        The DMA's largest transfer in bytes: LINEAR layers put no more images in one job
        than keeps its streams within it. None: no limit but the input buffer.

    Raises
    ------
    LayerNotSupported
        An op the engine cannot run with this build, naming the op and the limit (graphs
        and the ops of format version 2: :mod:`rtlcnn.core.engine_support`).
    """
    program.check()
    check_engine_support(program, build.max_kernel, build.version_minor)  # new ops: a clear refusal
    shapes = [tuple(program.input_shape)] + [tuple(s) for s in program.shapes()]
    srcs = program.sources()
    in_shapes = [shapes[src[0] + 1] for src in srcs]  # each op's (first) input
    big = dict(wroom=build.wbuf_depth, proom=build.pbuf_depth)

    chaining = build.has_command_streams and build.fbuf_depth > 0

    def chain_break(i, lp, made) -> int:  # (a host layout ends a chain its input could continue)
        p = made[srcs[i][0]] if chaining and lp.unfold and 0 <= srcs[i][0] < len(made) else None
        return CHAIN_BREAK_CYCLES if p is not None and CH.one_job(p) and not CH.taps_ok(p, lp, build) else 0

    def best(i, op, ins, outs, wbase, pbase, wroom, proom, made=()):
        if op.kind in HOST_KINDS:
            return _host_layer(i, op, ins, outs)
        if op.kind == "globalavgpool":  # a 1x1 conv over the transposed map
            gap = gap_as_conv(op, ins)
            if gap is None:
                return _host_layer(i, op, ins, outs)
            c, h, w = ins
            lp = _layer(i, gap, (h * w, c, 1), (1, c, 1), build, None, wbase, pbase, wroom, proom,
                        max_transfer)
            lp.kind, lp.layout, lp.in_shape, lp.out_shape = op.kind, "pixels", ins, outs
            return lp
        avg = None
        if op.kind in POOL_KINDS and any(getattr(op, f) != V2_DEFAULTS[f] for f in _POOL_FIELDS):
            avg = avg_as_conv(op, ins) if op.kind != "maxpool" else None
            if avg is None:  # a window the engine has no pool for: the host's
                return _host_layer(i, op, ins, outs)
        if avg is not None or int(op.groups) > 1:  # (its chunks are dense: groups 1)
            lp = _grouped(i, op if avg is None else avg, ins, outs, lambda so, si, so_shape: best(
                i, so, si, so_shape, wbase, pbase, wroom, proom))
            lp.kind = op.kind  # (an average: the pool it computes)
            return lp
        foldable = op.kind == "conv2d" and op.weight.shape[2] > 1
        layouts = ["pair", "kx", "im2col"]
        cands = [None]
        if op.kind == "conv2d" and (op.kernel > build.max_kernel or int(op.stride) > 2):
            cands = ["im2col"]  # the only layout for kernels above MAX_KERNEL, strides above 2
        elif foldable and unfold is None:
            cands = [None] + layouts
        elif foldable and unfold:
            cands = layouts + [None]
        options, err = [], None
        for u in cands:
            try:
                options.append(_layer(i, op, ins, outs, build, u, wbase, pbase, wroom, proom,
                                      max_transfer))
            except LayerNotSupported as e:
                err = err or e
        if not options:
            raise err
        if unfold and any(lp.unfold for lp in options):
            options = [lp for lp in options if lp.unfold]
        return min(options, key=lambda lp: (
            lp.est_cycles + HOST_JOB_CYCLES * lp.jobs_per_image + chain_break(i, lp, made), lp.unfold))

    # first try: every layer at its own place, all resident (parameters: room for chain._pad_out)
    for room in ((build.p_ic, 1) if chaining else (1,)):
        layers, wbase, pbase, resident = [], 0, 0, True
        try:
            for i, op in enumerate(program.ops):
                lp = best(i, op, in_shapes[i], shapes[i + 1], 0, 0, made=layers, **big)
                for u in lp.units():
                    if not u.has_weights:
                        continue
                    if u.rsplit or len(u.slices) > 1 or wbase + _words(u) > build.wbuf_depth or \
                            pbase + u.slices[-1].oc1 > build.pbuf_depth:
                        raise LayerNotSupported("does not fit together")
                    sl = u.slices[0]
                    u.slices = [Slice(sl.oc0, sl.oc1, wbase, pbase, sl.words)]
                    wbase += _words(u)
                    pbase += _cdiv(u.slices[-1].oc1, room) * room
                layers.append(lp)
        except LayerNotSupported:
            resident = False
        if resident:
            break
    if not resident:  # the layers that fit at places of their own (chaining builds), the rest after
        layers = partly_resident(program.ops, build, best, in_shapes, shapes) if chaining else None
        if layers is None:  # every layer at the buffers' start, its weights loaded each batch
            layers = []
            for i, op in enumerate(program.ops):
                layers.append(best(i, op, in_shapes[i], shapes[i + 1], 0, 0, made=layers, **big))
    return Plan(program, build, layers, resident)
