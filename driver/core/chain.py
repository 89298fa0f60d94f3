"""Chained segments: runs of layers whose activations stay in the engine's feature buffer.

On an engine with command streams (1.5) a plan's layers are cut into segments
(:func:`segments`). Within a segment every layer but the last writes its output into the
on-chip feature buffer and the layers after it read it from there
(:class:`rtlcnn.core.commands.Place`), so a batch costs one command stream per segment
(or a few, at the DMA's transfer limit) instead of one per layer, and nothing goes back
to the host in between. Only its first layer's input and its last layer's output cross
the DMA; :mod:`rtlcnn.core.chain_run` runs it.

A segment runs its images in chunks of :attr:`Segment.chunk`: each layer's jobs for the
chunk, then the next layer's, so the buffer holds each tensor of the segment for the
whole chunk (image ``i`` of the chunk at ``regions[p] + i * strides[p]`` beats) and a
LINEAR layer takes the chunk's images in one job, as it does layer by layer
(:attr:`Segment.batched`).

What can be chained (everything else is a segment of its own, run layer by layer by
:mod:`rtlcnn.core.runner`, as on engines before 1.5):

- every layer of a segment runs as one job an image (or a LINEAR's one job for several):
  one output-channel slice, one row band of the whole width, no split reduction, not a
  grouped conv's chunks, not a host op;
- a layer after the first reads its map as the engine lays it out (no host layout: im2col,
  pixels need the host; kx and pair only on an engine that builds them from the buffer,
  1.6: :func:`taps_ok`), and every tensor it reads from the buffer is that of an
  earlier layer of the segment whose bytes are the map's input stream: a map of one pixel,
  or channels a multiple of P_IC (the output stream packs OUT_C values a pixel, the input
  stream pads a pixel's channels to P_IC), or any map read by a LINEAR, whose weights are
  then permuted from PyTorch's CHW flattening to the engine's HWC order. A conv or LINEAR
  whose output channels are not a multiple of P_IC and are read only by convs and LINEARs
  gets zero output channels up to one (zero weights, zero bias: :func:`_pad_out`) and its
  readers zero weights for them (:func:`_pad_in`): the same words of the weight buffer
  (P_OC is a multiple of P_IC), the parameter buffer's room reserved by the planner;
- a tensor made inside a segment is read only inside it; the regions of the tensors
  (first fit, each freed after its last reader) fit the feature buffer.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from . import commands as C
from . import stream as S
from .jobs import OPCODE_HOST
from .tiling import Slice

__all__ = ["Segment", "segments", "one_job", "taps_ok", "taps_of", "MAX_CHUNK"]

#: most images a segment's chunk holds (the LINEAR layers' jobs take at most this many)
MAX_CHUNK = 256


@dataclass
class Segment:
    """Layers ``first`` .. ``last`` (positions in ``Plan.layers``) chained on chip."""

    first: int
    last: int
    #: position -> beat address of that layer's outputs for a chunk (all but last)
    regions: dict = field(default_factory=dict)
    #: position -> the LayerPlan to run there (every position; a variant of the plan's own
    #: where its weights change: HWC order, zero channels)
    plans: dict = field(default_factory=dict)
    #: images a chunk runs layer by layer
    chunk: int = 1
    #: position -> beats one image's output takes in its region
    strides: dict = field(default_factory=dict)
    #: positions of LINEAR layers that run one job for several images of a chunk
    batched: frozenset = frozenset()

    @property
    def chained(self) -> bool:
        return self.last > self.first

    def plan(self, layers, k):
        return self.plans.get(k, layers[k])

    def runs_here(self, layers) -> bool:
        """:mod:`rtlcnn.core.chain_run` runs it: chained, or one layer of one job an image
        (not a LINEAR, which the runner batches several images a job)."""
        lp = layers[self.first]
        return self.chained or (one_job(lp) and lp.opcode != S.OPCODE_LINEAR)


def one_job(lp) -> bool:
    """One job an image: one slice, one whole-width band, nothing split or on the host."""
    return (not lp.gsplit and not lp.rsplit and lp.opcode != OPCODE_HOST and len(lp.slices) == 1
            and len(lp.bands) == 1 and lp.bands[0].c1 is None)


def _is_map(lp) -> bool:
    """Its output is a map of several pixels in the engine's pixel order."""
    return lp.layout != "pixels" and len(lp.out_shape) == 3 and lp.out_shape[1] * lp.out_shape[2] > 1


def _pad_to(lp, build) -> int:
    """Output channels of ``lp`` padded up to a multiple of P_IC, or 0 if that is not
    possible without changing its weight words (a conv or LINEAR of one slice, int8)."""
    c = lp.out_shape[0]
    c2 = -(-c // build.p_ic) * build.p_ic
    lim = build.p_oc // 2 if lp.layout == "pair" else -(-c // build.p_oc) * build.p_oc
    if (not lp.has_weights or lp.out_int32 or not one_job(lp) or c2 > lim or build.p_oc % build.p_ic
            or lp.slices[0].pbase + c2 > build.pbuf_depth):
        return 0
    return c2


def taps_ok(p, q, build) -> bool:
    """Layer ``q`` (kx or pair layout, one job an image) can build its input from layer
    ``p``'s output in the feature buffer (IN_TAPS, engine 1.6): ``p`` writes a map of at
    most 8 channels, one beat a pixel (padded with zero channels up to 8 if need be)."""
    if not build.has_taps or q.layout not in ("kx", "pair") or p.layout == "pixels" or len(p.out_shape) != 3:
        return False
    c = p.out_shape[0]
    return (tuple(q.in_shape) == tuple(p.out_shape) and c <= S.STREAM_BYTES and one_job(q) and one_job(p)
            and (c == S.STREAM_BYTES or _pad_to(p, build) == S.STREAM_BYTES))


def taps_of(lq) -> C.Taps:
    """The taps a kx or pair layer builds from its source map (its op's input, one beat a pixel)."""
    c, _, w = lq.in_shape
    pair = lq.layout == "pair"
    return C.Taps(c=int(c), t=int(lq.kernel) + pair, pad=int(lq.pad), step=1 + pair, src_w=int(w))


def _edge_ok(p, q, build) -> bool:
    """Layer ``q`` can read layer ``p``'s output from the feature buffer as its input."""
    if q.layout in ("kx", "pair"):
        return taps_ok(p, q, build)
    if p.layout == "pixels":  # its output is a transposed map
        return q.opcode == S.OPCODE_LINEAR and int(np.prod(p.out_shape)) == q.engine_in[0]
    if q.opcode == S.OPCODE_LINEAR:
        return int(np.prod(p.out_shape)) == q.engine_in[0]
    if len(p.out_shape) != 3:
        return False
    c, h, w = p.out_shape
    if tuple(q.engine_in) != (c, h, w):
        return False
    return h * w == 1 or c % build.p_ic == 0 or (q.opcode == S.OPCODE_CONV and _pad_to(p, build) > 0)


def _overlap(a, b) -> bool:
    sa, sb = a.slices[0], b.slices[0]
    return (sa.wbase < sb.wbase + sb.words and sb.wbase < sa.wbase + sa.words) or (
        sa.pbase < sb.pbase + (sb.oc1 - sb.oc0) and sb.pbase < sa.pbase + (sa.oc1 - sa.oc0))


def out_beats(lp, images: int = 1) -> int:
    return lp.config(lp.slices[0], lp.bands[0], False, images).out_beats()


def _weight_beats(lp, build) -> int:
    return lp.config(lp.slices[0], lp.bands[0], True, 1).weight_beats(build)


def _alloc(sizes, i, j, consumers, depth):
    """First-fit beat regions of the outputs of layers i .. j-1 (``sizes[p]`` beats), each
    live until its last reader (a reader's own output never overwrites its input); None
    if they do not fit."""
    live, regions = [], {}
    for p in range(i, j):
        live = [r for r in live if r[2] >= p]
        size = sizes[p]
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
        if not one_job(q) or q.layout not in (None, "kx", "pair") or not q.out_shape:
            return False
        for p in src_pos[k]:
            if p is None or p < i:
                if p is not None and p not in on_host:
                    return False
            elif not (one_job(layers[p]) and _edge_ok(layers[p], q, build)):
                return False
        return not any(_overlap(q, layers[m]) for m in range(i, k) if layers[m].has_weights and q.has_weights)

    def closed(i, j):
        return all(consumers[p] and max(consumers[p]) <= j for p in range(i, j))

    segs, i = [], 0
    while i < n:
        j = i
        if one_job(layers[i]):
            while j + 1 < n and join_ok(i, j + 1):
                j += 1
        seg = None
        while j > i and seg is None:
            if closed(i, j):
                seg = _build(layers, build, i, j, src_pos, consumers)
            if seg is None:
                j -= 1
        if seg is None:  # (no tensors in the buffer: a chunk as large as the runner likes)
            seg = Segment(i, i, plans={i: layers[i]}, chunk=MAX_CHUNK)
        segs.append(seg)
        on_host.add(seg.last)
        i = seg.last + 1
    pl._segments = segs
    return segs


def _build(layers, build, i, j, src_pos, consumers):
    """The segment of layers i .. j (its plans, chunk and regions), or None if its
    variants or its tensors do not fit."""
    plans = {k: layers[k] for k in range(i, j + 1)}
    inside = {k: [p for p in src_pos[k] if p is not None and i <= p < k] for k in range(i, j + 1)}
    for p in range(i, j):  # zero channels where a conv reads a map of channels not a multiple of P_IC
        lp = plans[p]
        readers = consumers[p]
        if _is_map(lp) and lp.out_shape[0] % build.p_ic and any(
                plans[q].opcode != S.OPCODE_LINEAR for q in readers):
            c2 = _pad_to(lp, build)
            if not c2 or any(plans[q].opcode not in (S.OPCODE_CONV, S.OPCODE_LINEAR) for q in readers):
                return None
            for q in readers:  # (a kx / pair reader takes the real channels of each beat)
                if plans[q].layout not in ("kx", "pair"):
                    plans[q] = _pad_in(plans[q], lp.out_shape, c2)
            plans[p] = _pad_out(lp, c2)
    for k in range(i + 1, j + 1):  # a LINEAR reading a map: its weights in HWC order
        if inside[k]:
            plans[k] = _hwc_plan(plans[k], plans[inside[k][0]])
    batched = set()
    for k in range(i, j + 1):
        lp = plans[k]
        if lp.opcode != S.OPCODE_LINEAR or lp.images_per_job < 2:
            continue
        row = -(-lp.engine_in[0] // build.p_ic) * build.p_ic  # bytes of one image's input row
        if not all(out_beats(plans[p]) * S.STREAM_BYTES == row for p in inside[k]):
            continue
        if k < j and out_beats(lp) * S.STREAM_BYTES != lp.out_shape[0]:  # images' outputs back to back
            c2 = _pad_to(lp, build)
            if not c2 or c2 % S.STREAM_BYTES or any(plans[q].opcode != S.OPCODE_LINEAR for q in consumers[k]):
                continue
            for q in consumers[k]:
                plans[q] = _pad_in(plans[q], lp.out_shape, c2)
            plans[k] = lp = _pad_out(lp, c2)
        batched.add(k)
    weighted = [plans[k] for k in range(i, j + 1) if plans[k].has_weights]
    for k in range(i, j + 1):  # the same weight words as planned, nothing overlapping
        if plans[k].has_weights and _weight_beats(plans[k], build) != _weight_beats(layers[k], build):
            return None
    if any(_overlap(a, b) for x, a in enumerate(weighted) for b in weighted[x + 1:]):
        return None
    strides = {p: out_beats(plans[p]) for p in range(i, j)}
    regions = _alloc(strides, i, j, consumers, build.fbuf_depth)
    if regions is None:
        return None
    end = max([regions[p] + strides[p] for p in range(i, j)] or [1])
    chunk = max(1, min(MAX_CHUNK, build.fbuf_depth // end))  # (first fit scales with the sizes)
    regions = {p: r * chunk for p, r in regions.items()}
    return Segment(i, j, regions, plans, chunk, strides, frozenset(batched) if chunk > 1 else frozenset())


def _pad_out(lp, c2):
    """``lp`` with output channels up to ``c2``: zero weights and bias (their values are
    multiplied by the zero weights of :func:`_pad_in` only)."""
    c = lp.out_shape[0]
    extra = c2 - c
    w = np.concatenate([lp.weight, np.zeros((extra,) + lp.weight.shape[1:], lp.weight.dtype)])
    sl = lp.slices[0]
    return replace(lp, weight=w, bias=np.concatenate([lp.bias, np.zeros(extra, lp.bias.dtype)]),
                   mult=np.concatenate([lp.mult, np.repeat(lp.mult[-1:], extra)]),
                   shift=np.concatenate([lp.shift, np.repeat(lp.shift[-1:], extra)]),
                   out_shape=(c2,) + tuple(lp.out_shape[1:]),
                   slices=[Slice(sl.oc0, sl.oc1 + extra, sl.wbase, sl.pbase, sl.words)])


def _pad_in(lq, shape, c2):
    """``lq`` reading a map of ``shape`` (C, ...) with zero channels up to ``c2``."""
    c = shape[0]
    if lq.opcode == S.OPCODE_LINEAR:  # (O, C*H*W) in PyTorch's order: pad C
        rest = tuple(shape[1:])
        w = lq.weight.reshape((lq.weight.shape[0], c) + rest)
        pad = np.zeros((w.shape[0], c2 - c) + rest, w.dtype)
        w = np.concatenate([w, pad], axis=1).reshape(w.shape[0], -1)
        return replace(lq, weight=w, engine_in=(w.shape[1], 1, 1), in_shape=(c2,) + rest)
    w = lq.weight
    pad = np.zeros((w.shape[0], c2 - c) + w.shape[2:], w.dtype)
    return replace(lq, weight=np.concatenate([w, pad], axis=1), in_shape=(c2,) + tuple(shape[1:]),
                   engine_in=(c2,) + tuple(lq.engine_in[1:]))


def _hwc_plan(lp, producer):
    """A LINEAR reading a map of several pixels from the buffer takes its features in the
    engine's HWC order: its weight columns permuted from PyTorch's CHW flattening."""
    if lp.opcode != S.OPCODE_LINEAR:
        return lp
    shape = producer.out_shape
    if producer.layout == "pixels" or len(shape) != 3 or shape[1] * shape[2] == 1 or shape[0] == 1:
        return lp
    c, h, w = shape
    wt = lp.weight.reshape(lp.weight.shape[0], c, h, w).transpose(0, 2, 3, 1).reshape(lp.weight.shape[0], -1)
    return replace(lp, weight=np.ascontiguousarray(wt))
