"""Chained segments: runs of layers whose activations stay in the engine's feature buffer.

On an engine with command streams (1.5) a plan's layers are cut into segments
(:func:`segments`). Within a segment every layer but the last writes its output into the
on-chip feature buffer and the layers after it read it from there
(:class:`rtlcnn.core.commands.Place`), so a batch costs one command stream per segment
(or a few, at the DMA's transfer limit) instead of one per layer, and nothing goes back
to the host in between. The segment runs image by image (each image's layers in turn),
so its layers' weights must all be on chip together; only its first layer's input and
its last layer's output cross the DMA.

What can be chained (everything else is a segment of its own, run layer by layer by
:mod:`rtlcnn.core.runner`, as on engines before 1.5):

- every layer of a segment runs as one job an image: one output-channel slice, one row
  band of the whole width, no split reduction, not a grouped conv's chunks, not a host op;
- a layer after the first reads its map as the engine lays it out (no host layout: im2col,
  kx, pair, pixels need the host), and every tensor it reads from the buffer is that of an
  earlier layer of the segment whose bytes are the map's input stream: a map of one pixel,
  or channels a multiple of P_IC (the output stream packs OUT_C values a pixel, the input
  stream pads a pixel's channels to P_IC), or any map read by a LINEAR, whose weights are
  then permuted from PyTorch's CHW flattening to the engine's HWC order;
- a tensor made inside a segment is read only inside it; the regions of the tensors
  (first fit, each freed after its last reader) fit the feature buffer.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from . import commands as C
from . import stream as S
from .jobs import OPCODE_HOST, Job, JobRecord, dispatch, engine_input

__all__ = ["Segment", "segments", "run_segment"]


@dataclass
class Segment:
    """Layers ``first`` .. ``last`` (positions in ``Plan.layers``) chained on chip."""

    first: int
    last: int
    #: position -> beat address of that layer's output in the feature buffer (all but last)
    regions: dict = field(default_factory=dict)
    #: position -> the LayerPlan to run there (a LINEAR after a map: weights in HWC order)
    plans: dict = field(default_factory=dict)

    @property
    def chained(self) -> bool:
        return self.last > self.first

    def runs_here(self, layers) -> bool:
        """:func:`run_segment` runs it: chained, or one layer of one job an image (not a
        LINEAR, which the runner batches several images a job)."""
        lp = layers[self.first]
        return self.chained or (_single(lp) and lp.opcode != S.OPCODE_LINEAR)


def _single(lp) -> bool:
    """One job an image: one slice, one whole-width band, nothing split or on the host."""
    return (not lp.gsplit and not lp.rsplit and lp.opcode != OPCODE_HOST and len(lp.slices) == 1
            and len(lp.bands) == 1 and lp.bands[0].c1 is None)


def _edge_ok(p, q, build) -> bool:
    """Layer ``q`` can read layer ``p``'s output from the feature buffer as its input."""
    if p.layout == "pixels":  # its output is a transposed map
        return q.opcode == S.OPCODE_LINEAR and int(np.prod(p.out_shape)) == q.engine_in[0]
    if q.opcode == S.OPCODE_LINEAR:
        return int(np.prod(p.out_shape)) == q.engine_in[0]
    if len(p.out_shape) != 3:
        return False
    c, h, w = p.out_shape
    return (h * w == 1 or c % build.p_ic == 0) and tuple(q.engine_in) == (c, h, w)


def _overlap(a, b) -> bool:
    sa, sb = a.slices[0], b.slices[0]
    return (sa.wbase < sb.wbase + sb.words and sb.wbase < sa.wbase + sa.words) or (
        sa.pbase < sb.pbase + (sb.oc1 - sb.oc0) and sb.pbase < sa.pbase + (sa.oc1 - sa.oc0))


def _out_beats(lp) -> int:
    return lp.config(lp.slices[0], lp.bands[0], False, 1).out_beats()


def _alloc(layers, i, j, consumers, depth):
    """First-fit beat regions of the outputs of layers i .. j-1, each live until its last
    reader (a reader's own output never overwrites its input); None if they do not fit."""
    live, regions = [], {}
    for p in range(i, j):
        live = [r for r in live if r[2] >= p]
        size = _out_beats(layers[p])
        at = 0
        for base, n, _ in sorted(live):
            if base - at >= size:
                break
            at = max(at, base + n)
        if at + size > depth:
            return None
        regions[p] = at
        live.append((at, size, max(consumers[p])))
    return regions


def segments(pl) -> list:
    """The plan's layers cut into :class:`Segment` s (cached on the plan)."""
    cached = getattr(pl, "_segments", None)
    if cached is not None:
        return cached
    layers, build = pl.layers, pl.build
    n = len(layers)
    if not build.has_command_streams or build.fbuf_depth <= 0:
        segs = [Segment(i, i) for i in range(n)]
        pl._segments = segs
        return segs
    pos = {lp.index: i for i, lp in enumerate(layers)}
    srcs = pl.program.sources()
    src_pos = [[pos.get(s) for s in srcs[lp.index]] for lp in layers]
    consumers = {i: [] for i in range(n)}
    for q in range(n):
        for p in src_pos[q]:
            if p is not None:
                consumers[p].append(q)
    on_host = set()  # positions whose output the host has (segment ends)

    def join_ok(i, k):
        q = layers[k]
        if not _single(q) or q.layout is not None or not q.out_shape:
            return False
        for p in src_pos[k]:
            if p is None or p < i:
                if p is not None and p not in on_host:
                    return False
            elif not (_single(layers[p]) and _edge_ok(layers[p], q, build)):
                return False
        return not any(_overlap(q, layers[m]) for m in range(i, k) if layers[m].has_weights and q.has_weights)

    def closed(i, j):
        return all(consumers[p] and max(consumers[p]) <= j for p in range(i, j))

    segs, i = [], 0
    while i < n:
        j = i
        if _single(layers[i]):
            while j + 1 < n and join_ok(i, j + 1):
                j += 1
        regions = None
        while j > i:
            if closed(i, j):
                regions = _alloc(layers, i, j, consumers, build.fbuf_depth)
                if regions is not None:
                    break
            j -= 1
        seg = Segment(i, j, regions or {})
        for k in range(i + 1, j + 1):
            seg.plans[k] = _hwc_plan(layers[k], [layers[p] for p in src_pos[k] if p is not None and p >= i])
        segs.append(seg)
        on_host.add(j)
        i = j + 1
    pl._segments = segs
    return segs


def _hwc_plan(lp, producers):
    """A LINEAR reading a map of several pixels from the buffer takes its features in the
    engine's HWC order: its weight columns permuted from PyTorch's CHW flattening."""
    if lp.opcode != S.OPCODE_LINEAR or not producers:
        return lp
    shape = producers[0].out_shape
    if producers[0].layout == "pixels" or len(shape) != 3 or shape[1] * shape[2] == 1 or shape[0] == 1:
        return lp
    c, h, w = shape
    wt = lp.weight.reshape(lp.weight.shape[0], c, h, w).transpose(0, 2, 3, 1).reshape(lp.weight.shape[0], -1)
    return replace(lp, weight=np.ascontiguousarray(wt))


def run_segment(pl, seg: Segment, env: dict, engine, residency, net_key, on_job, out, completed, n):
    """Run a chained segment on a batch: image by image, each of its layers one job; returns
    the output of its last layer (N, ...). ``env`` holds the host's tensors (op index ->
    (N, ...)); ``out`` / ``completed`` as :func:`rtlcnn.core.runner.execute` (its last layer
    the batch's last, else None).

    Once the segment's weights are on chip, a batch runs from a :class:`Prepared` stream:
    built once per batch size, its only per-call work is writing the images into their
    slots and cutting the outputs apart, both vectorized."""
    prep = _prepared(pl, seg, engine, residency, net_key, n)
    if prep is not None:
        return prep.run(env, engine, on_job, out, completed, n)
    return _run_generic(pl, seg, env, engine, residency, net_key, on_job, out, completed, n)


def _run_generic(pl, seg, env, engine, residency, net_key, on_job, out, completed, n):
    """:func:`run_segment`, job by job from the plan (weights loaded where needed)."""
    layers, build = pl.layers, pl.build
    srcs = pl.program.sources()
    pos = {lp.index: i for i, lp in enumerate(layers)}
    first = layers[seg.first]
    last = layers[seg.last]
    op0 = pl.program.ops[first.index] if first.op is None else first.op
    xin = engine_input(first, op0, env[srcs[first.index][0]], n)
    pixels = last.layout == "pixels"
    dtype = np.int32 if last.out_int32 else np.int8
    y = np.empty((n,) + ((1, last.in_shape[0], 1) if pixels else tuple(last.out_shape)), dtype)

    def host_part(k, lp, s, img):
        """Input ``s`` of layer ``k`` from the host, as the engine takes it."""
        if k == seg.first and s == srcs[lp.index][0]:
            x = xin[img]
        else:
            x = env[s][img]
        if lp.opcode == S.OPCODE_LINEAR:
            return np.asarray(x).reshape(-1)
        band = lp.bands[0]
        return x[:, band.r0:band.r1]

    def gen():
        for img in range(n):
            for k in range(seg.first, seg.last + 1):
                lp = seg.plans.get(k, layers[k])
                sl, band = lp.slices[0], lp.bands[0]
                key = (net_key, lp.index, 0) if lp is layers[k] else (net_key, lp.index, "hwc")
                load = lp.has_weights and not residency.has(key)
                cfg = lp.config(sl, band, load, 1)
                bases = []
                for s in srcs[lp.index][:2 if lp.opcode == S.OPCODE_ADD else 1]:
                    p = pos.get(s)
                    bases.append(seg.regions[p] if p is not None and seg.first <= p < k else None)
                while len(bases) < 2:
                    bases.append(None)
                place = C.Place(in_base=bases[0], b_base=bases[1],
                                out_base=seg.regions[k] if k < seg.last else None)
                xs = [None if b is not None else host_part(k, lp, s, img)
                      for s, b in zip(srcs[lp.index], bases)]
                x = tuple(xs[:2]) if lp.opcode == S.OPCODE_ADD else xs[0]
                params = weights = None
                if load:
                    params = (lp.bias[sl.oc0:sl.oc1], lp.mult[sl.oc0:sl.oc1], lp.shift[sl.oc0:sl.oc1])
                    weights = lp.slice_weights(sl)
                omit = (bases[0] is not None, bases[1] is not None)
                st = S.job_stream(cfg, build, params, weights, x, omit=omit)
                if load:
                    residency.store(key, sl)

                def done(raw, cfg=cfg, img=img, k=k, lp=lp):
                    if k == seg.last:
                        y[img] = S.unpack_output(raw, cfg).reshape(y.shape[1:])
                        if out is not None:
                            out[img] = y[img].reshape(out.shape[1:])
                        if completed is not None:
                            completed.append(img)
                    return JobRecord(lp.index, img, cfg, macs=lp.job_macs(cfg))

                yield Job(cfg, st, done, place)

    dispatch(engine, build, gen(), on_job)
    return y.reshape((n,) + tuple(last.out_shape)) if pixels else y


def _keys(pl, seg, net_key) -> list:
    """The residency keys of a segment's layers with weights, and their slices."""
    out = []
    for k in range(seg.first, seg.last + 1):
        lp = seg.plans.get(k, pl.layers[k])
        if lp.has_weights:
            key = (net_key, lp.index, 0) if lp is pl.layers[k] else (net_key, lp.index, "hwc")
            out.append(key)
    return out


def _prepared(pl, seg, engine, residency, net_key, n):
    """The :class:`Prepared` batch of ``n`` images for this segment, or None (weights not on
    chip, inputs from the host other than the first layer's map, an engine that takes no
    command streams)."""
    if not hasattr(engine, "run_commands") or not all(residency.has(k) for k in _keys(pl, seg, net_key)):
        return None
    cache = pl.__dict__.setdefault("_prepared", {})
    limit = (getattr(engine, "max_command_bytes", None) or 1 << 62) - S.STREAM_BYTES
    key = (seg.first, n, net_key, limit)
    if key not in cache:
        cache[key] = Prepared.build(pl, seg, n, limit)
    return cache[key]


class Prepared:
    """A segment's command streams for a batch, built once: headers, the feature buffer
    places and zeroed slots for each image's input map; the weights are on chip."""

    @classmethod
    def build(cls, pl, seg, n, limit):
        layers, build = pl.layers, pl.build
        srcs = pl.program.sources()
        pos = {lp.index: i for i, lp in enumerate(layers)}
        self = cls()
        self.seg, self.pl = seg, pl
        first, last = layers[seg.first], layers[seg.last]
        self.first, self.last = first, last
        cfgs, places, parts = [], [], []
        for k in range(seg.first, seg.last + 1):
            lp = seg.plans.get(k, layers[k])
            cfg = lp.config(lp.slices[0], lp.bands[0], False, 1)
            bases = []
            for s_ in srcs[lp.index][:2 if lp.opcode == S.OPCODE_ADD else 1]:
                p = pos.get(s_)
                bases.append(seg.regions[p] if p is not None and seg.first <= p < k else None)
            bases += [None] * (2 - len(bases))
            if k > seg.first and None in bases[:2 if lp.opcode == S.OPCODE_ADD else 1]:
                return None  # an input from the host past the first layer: job by job
            out_base = seg.regions[k] if k < seg.last else None
            place = C.Place(in_base=bases[0], b_base=bases[1], out_base=out_base)
            cfgs.append(cfg)
            places.append(place)
            parts.append(C.stream_part_beats(cfg, build, place) * S.STREAM_BYTES)
        if first.opcode == S.OPCODE_ADD:
            return None
        self.in_bytes = parts[0]  # the first layer's input map: the only per-image bytes
        self.job_cfgs, self.job_places = cfgs, places
        hb = C.CMD_HEADER_BEATS * S.STREAM_BYTES
        per_image = sum(parts) + hb * len(cfgs)
        self.out_bytes = last.config(last.slices[0], last.bands[0], False, 1).out_beats() * S.STREAM_BYTES
        m = max(1, min(n, (limit - S.STREAM_BYTES) // per_image, limit // max(self.out_bytes, 1)))
        self.chunks = []
        for i0 in range(0, n, m):
            k = min(m, n - i0)
            jc = tuple(cfgs * k)
            data = C.command_stream(list(jc), [np.zeros(b, np.uint8) for b in parts] * k, places * k)
            self.chunks.append((i0, k, jc, tuple(places * k), data))
        self.per_image = per_image
        self.jobs_per_image = len(cfgs)
        self.macs = [seg.plans.get(j, layers[j]).job_macs(c)
                     for j, c in zip(range(seg.first, seg.last + 1), cfgs)]
        return self

    def run(self, env, engine, on_job, out, completed, n):
        pl, first, last = self.pl, self.first, self.last
        build = pl.build
        srcs = pl.program.sources()
        op0 = pl.program.ops[first.index] if first.op is None else first.op
        xin = engine_input(first, op0, env[srcs[first.index][0]], n)
        packed = _pack_batch(first, xin, build, self.in_bytes)
        pixels = last.layout == "pixels"
        dtype = np.int32 if last.out_int32 else np.int8
        y = np.empty((n,) + ((1, last.in_shape[0], 1) if pixels else tuple(last.out_shape)), dtype)
        hb = C.CMD_HEADER_BEATS * S.STREAM_BYTES
        for i0, k, jc, pc, data in self.chunks:
            # image i's input map: after its first header, one image's bytes apart
            view = data[:k * self.per_image].reshape(k, self.per_image)
            view[:, hb:hb + self.in_bytes] = packed[i0:i0 + k]
            try:
                raw = engine.run_commands(jc, data, pc)
            except Exception as exc:
                done = getattr(exc, "jobs_done", 0) // self.jobs_per_image
                if done:
                    self._take(np.asarray(exc.commands_output), i0, done, y, out, completed, on_job, False)
                raise
            self._take(raw, i0, k, y, out, completed, on_job, True, len(data) + len(raw))
        return y.reshape((n,) + tuple(last.out_shape)) if pixels else y

    def _take(self, raw, i0, k, y, out, completed, on_job, whole, dma=0):
        b = np.asarray(raw if not isinstance(raw, bytes) else np.frombuffer(raw, np.uint8)).reshape(-1)
        b = b.view(np.uint8)
        cfg = self.job_cfgs[-1]
        size = cfg.out_values() * (4 if cfg.out_int32 else 1)
        vals = b[:k * self.out_bytes].reshape(k, self.out_bytes)[:, :size]  # (padding dropped)
        res = vals.copy().view("<i4" if cfg.out_int32 else np.int8)
        res = res.reshape(k, cfg.out_h, cfg.out_w, cfg.out_c)
        y[i0:i0 + k] = res.transpose(0, 3, 1, 2).reshape((k,) + y.shape[1:])
        if out is not None:
            out[i0:i0 + k] = y[i0:i0 + k].reshape((k,) + out.shape[1:])
        if completed is not None:
            completed.extend(range(i0, i0 + k))
        if on_job is not None and whole:  # one record a layer for the chunk's jobs
            ks = list(range(self.seg.first, self.seg.last + 1))
            for j, (kk, cfg_j) in enumerate(zip(ks, self.job_cfgs)):
                rec = JobRecord(self.pl.layers[kk].index, i0, cfg_j, images=tuple(range(i0, i0 + k)),
                                macs=self.macs[j] * k, jobs=k)
                rec.transfer_end = j == len(ks) - 1
                rec.dma_bytes = dma if rec.transfer_end else 0
                on_job(rec, None)


def _pack_batch(lp, xin, build, nbytes) -> np.ndarray:
    """The I sections of a batch (N, nbytes): each image's map in HWC order, channels padded
    to P_IC, padded to whole beats (LINEAR: its feature vector)."""
    n = xin.shape[0]
    x = xin.reshape(n, -1, 1, 1) if lp.opcode == S.OPCODE_LINEAR else xin
    band = lp.bands[0]
    x = x[:, :, band.r0:band.r1]
    _, c, h, w = x.shape
    icg = -(-c // build.p_ic)
    out = np.zeros((n, nbytes), np.uint8)
    xp = np.zeros((n, h, w, icg * build.p_ic), np.int8)
    xp[..., :c] = x.transpose(0, 2, 3, 1)
    out[:, :h * w * icg * build.p_ic] = xp.reshape(n, -1).view(np.uint8)
    return out
