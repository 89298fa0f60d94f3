"""Running a chained segment (:mod:`rtlcnn.core.chain`) on a batch: command streams whose
jobs read and write the feature buffer.

A batch runs in chunks of at most ``Segment.chunk`` images; a chunk's jobs are each
layer's jobs for its images (one a image, or a batched LINEAR's one for several), layer
after layer (:func:`chunk_jobs`). Once the segment's weights are on chip, a batch size's
command streams are built once (:class:`Prepared`): a call then only writes the images
into their slots and cuts the outputs apart, both vectorized; before that, and wherever a
layer past the first takes an input from the host, the jobs are made one by one
(:func:`_run_generic`) and :func:`rtlcnn.core.jobs.dispatch` packs them into streams.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from . import chain as CH
from . import commands as C
from . import stream as S
from . import unfold as U
from .jobs import Job, JobRecord, command_limit, dispatch, engine_input, output_array
from .tiling import balanced

__all__ = ["run_segment", "run_batches", "prepare", "chunk_jobs", "Prepared"]


@dataclass(frozen=True)
class Spec:
    """One job of a chunk: layer position ``k`` (plan ``lp``) on the chunk's images
    [a, b), its configuration (no loads) and place."""

    k: int
    lp: object
    a: int
    b: int
    cfg: S.JobConfig
    place: C.Place


def _sources(pl) -> list:
    """``pl.program.sources()``, once per plan (a plan is made for the program as it was)."""
    cached = pl.__dict__.get("_sources")
    if cached is None:
        cached = pl._sources = pl.program.sources()
    return cached


def _pos(pl):
    cached = pl.__dict__.get("_positions")
    if cached is None:
        cached = pl._positions = {lp.index: i for i, lp in enumerate(pl.layers)}
    return cached


def _reads(pl, k) -> list:
    """The tensors layer ``k`` reads (op indices; an ADD's two operands)."""
    lp = pl.layers[k]
    src = _sources(pl)[lp.index]
    return src[:2] if lp.opcode == S.OPCODE_ADD else src[:1]


def chunk_jobs(pl, seg, c: int) -> list:
    """The :class:`Spec` s of a chunk of ``c`` images, in the order they run."""
    pos = _pos(pl)
    out = []
    for k in range(seg.first, seg.last + 1):
        lp = seg.plan(pl.layers, k)
        ranges = lp.chunks(c) if k in seg.batched else [(a, a + 1) for a in range(c)]
        inside = [pos.get(s) for s in _reads(pl, k)]
        inside = [p if p is not None and seg.first <= p < k else None for p in inside]
        for a, b in ranges:
            cfg = lp.config(lp.slices[0], lp.bands[0], False, b - a)
            bases = [None if p is None else seg.regions[p] + a * seg.strides[p] for p in inside] + [None]
            out_base = seg.regions[k] + a * seg.strides[k] if k < seg.last else None
            taps = CH.taps_of(lp) if lp.layout in ("kx", "pair") and bases[0] is not None else None
            out.append(Spec(k, lp, a, b, cfg, C.Place(bases[0], bases[1], out_base, taps)))
    return out


def _macs(pl, sp) -> int:
    """The layer's own MACs in a job (a variant with zero channels computes more)."""
    lp = pl.layers[sp.k]
    if sp.lp is lp:
        return lp.job_macs(sp.cfg)
    return lp.job_macs(lp.config(lp.slices[0], lp.bands[0], False, sp.b - sp.a))


def _key(pl, seg, k, net_key):
    lp = seg.plan(pl.layers, k)
    return (net_key, lp.index, 0) if lp is pl.layers[k] else (net_key, lp.index, "chain")


def _stream_bytes(specs, seg, build) -> tuple:
    """Bytes a chunk's jobs (:func:`chunk_jobs`) stream in (headers included, weights on
    chip) and out."""
    hb = C.CMD_HEADER_BEATS * S.STREAM_BYTES
    nin = sum(hb + C.stream_part_beats(sp.cfg, build, sp.place) * S.STREAM_BYTES for sp in specs)
    return nin, sum(sp.cfg.out_beats() for sp in specs if sp.k == seg.last) * S.STREAM_BYTES


def chunk_size(pl, seg, n: int, limit: int) -> int:
    """Images a chunk takes: the feature buffer's ``seg.chunk``, fewer where one transfer
    (``limit`` bytes each way, the END beat aside) cannot hold a chunk's jobs: a stream can
    end only after a job whose output leaves the engine, so a chunk of a chained segment
    goes in one transfer. 0 if one image's jobs do not fit."""
    size = min(n, seg.chunk)
    while True:
        nin, nout = _stream_bytes(chunk_jobs(pl, seg, size), seg, pl.build)
        if nin + S.STREAM_BYTES <= limit and nout <= limit:
            return size
        if size == 1:
            return 0
        size = (size + 1) // 2


def _load_bytes(pl, seg, k, build) -> int:
    """Bytes layer ``k``'s parameters and weights add to its first job's stream."""
    lp = seg.plan(pl.layers, k)
    if not lp.has_weights:
        return 0
    cfg = lp.config(lp.slices[0], lp.bands[0], True, 1)
    return (cfg.param_beats() + cfg.weight_beats(build)) * S.STREAM_BYTES


def _finish(last, y, n):
    return y.reshape((n,) + tuple(last.out_shape)) if last.layout == "pixels" else y


def _first_input(pl, seg, env, n):
    first = seg.plan(pl.layers, seg.first)
    op0 = pl.program.ops[first.index] if first.op is None else first.op
    return engine_input(first, op0, env[_sources(pl)[first.index][0]], n)


def run_segment(pl, seg, env: dict, engine, residency, net_key, on_job, out, completed, n):
    """Run a chained segment on a batch; returns the output of its last layer (N, ...).
    ``env`` holds the host's tensors (op index -> (N, ...)); ``out`` / ``completed`` as
    :func:`rtlcnn.core.runner.execute` (its last layer the batch's last, else None)."""
    prep = _prepared(pl, seg, engine, residency, net_key, n)
    if prep is not None:
        return prep.run(env, engine, on_job, out, completed, n)
    return _run_generic(pl, seg, env, engine, residency, net_key, on_job, out, completed, n)


def _run_generic(pl, seg, env, engine, residency, net_key, on_job, out, completed, n):
    """:func:`run_segment`, job by job (weights loaded where needed)."""
    layers, build = pl.layers, pl.build
    xin = _first_input(pl, seg, env, n)
    last = seg.plan(layers, seg.last)
    y = output_array(last, n)
    reads = {k: _reads(pl, k) for k in range(seg.first, seg.last + 1)}

    def host_part(k, lp, s, i0, sp):
        """Input ``s`` of a job of layer ``k`` from the host, as the engine takes it."""
        x = xin if k == seg.first and s == reads[k][0] else env[s]
        if lp.opcode == S.OPCODE_LINEAR:
            rows = np.asarray(x[i0 + sp.a:i0 + sp.b]).reshape(sp.b - sp.a, -1)
            return rows[0] if sp.b - sp.a == 1 else rows.T[:, :, None]  # (F, N, 1): image i is row i
        band = lp.bands[0]
        return x[i0 + sp.a][:, band.r0:band.r1]

    limit = command_limit(engine)
    loads = sum(_load_bytes(pl, seg, k, build) for k in range(seg.first, seg.last + 1)
                if not residency.has(_key(pl, seg, k, net_key)))
    size = chunk_size(pl, seg, n, limit - loads) or 1  # (one image's jobs too large: dispatch cuts them)

    def gen():
        for i0, i1 in balanced(n, size):
            for sp in chunk_jobs(pl, seg, i1 - i0):
                lp, sl = sp.lp, sp.lp.slices[0]
                key = _key(pl, seg, sp.k, net_key)
                load = lp.has_weights and not residency.has(key)
                cfg = sp.cfg.replace(load_params=True, load_weights=True) if load else sp.cfg
                streamed = [sp.place.in_base is None, sp.place.b_base is None]
                xs = [host_part(sp.k, lp, s, i0, sp) if on else None for s, on in zip(reads[sp.k], streamed)]
                x = tuple(xs[:2]) if lp.opcode == S.OPCODE_ADD else xs[0]
                params = weights = None
                if load:
                    params = (lp.bias[sl.oc0:sl.oc1], lp.mult[sl.oc0:sl.oc1], lp.shift[sl.oc0:sl.oc1])
                    weights = lp.slice_weights(sl)
                st = S.job_stream(cfg, build, params, weights, x, omit=(not streamed[0], not streamed[1]))
                if load:
                    residency.store(key, sl)

                def done(raw, cfg=cfg, sp=sp, i0=i0):
                    img = i0 + sp.a
                    if sp.k == seg.last:
                        res = S.unpack_output(raw, cfg)
                        if sp.b - sp.a > 1:  # (OUT_C, N, 1): image by image
                            res = res.reshape(cfg.out_c, -1).T
                            y[img:i0 + sp.b] = res.reshape((sp.b - sp.a,) + y.shape[1:])
                        else:
                            y[img] = res.reshape(y.shape[1:])
                        if out is not None:
                            out[img:i0 + sp.b] = y[img:i0 + sp.b].reshape((sp.b - sp.a,) + out.shape[1:])
                        if completed is not None:
                            completed.extend(range(img, i0 + sp.b))
                    return JobRecord(sp.lp.index, img, cfg, images=tuple(range(img, i0 + sp.b)),
                                     macs=_macs(pl, sp))

                yield Job(cfg, st, done, sp.place)

    dispatch(engine, build, gen(), on_job)
    return _finish(last, y, n)


def _prepared(pl, seg, engine, residency, net_key, n):
    """The :class:`Prepared` batch of ``n`` images for this segment, or None (weights not on
    chip, inputs from the host other than the first layer's, an engine that takes no
    command streams)."""
    if not hasattr(engine, "run_commands"):
        return None
    for k in range(seg.first, seg.last + 1):
        if seg.plan(pl.layers, k).has_weights and not residency.has(_key(pl, seg, k, net_key)):
            return None
    return _cached(pl, seg, engine, n)


def _cached(pl, seg, engine, n):
    cache = pl.__dict__.setdefault("_prepared", {})
    limit = command_limit(engine)
    key = (seg.first, n, limit)
    if key not in cache:
        cache[key] = Prepared.build(pl, seg, n, limit)
    return cache[key]


def prepare(pl, engine, n: int) -> int:
    """Build the command streams of a batch of ``n`` images for every segment of the plan
    that runs from prepared streams (``Accelerator.load`` does, for the default batch
    size); the calls then only fill them. Returns how many were built."""
    if not hasattr(engine, "run_commands") or not getattr(engine, "build", pl.build).has_command_streams:
        return 0
    return sum(_cached(pl, seg, engine, n) is not None for seg in CH.segments(pl) if seg.runs_here(pl.layers))


@dataclass
class _Transfer:
    """One command stream of a prepared batch: its jobs, its bytes (the images' slots
    zero), where each run of images' inputs and outputs lies in it, and its profile."""

    cfgs: tuple
    places: tuple
    data: np.ndarray
    ins: list    # (img0, count, view): the slots of count images' inputs, a (count, width) view
    outs: list   # (img0, count, byte offset, stride, first job, jobs)
    records: list  # (layer index, first image, cfg, images, macs, jobs)


class Prepared:
    """A segment's command streams for a batch of ``n`` images, built once (the weights
    are on chip): headers, feature buffer places and zeroed slots for the images."""

    @classmethod
    def build(cls, pl, seg, n, limit):
        build = pl.build
        layers = pl.layers
        first, last = seg.plan(layers, seg.first), seg.plan(layers, seg.last)
        if first.opcode == S.OPCODE_ADD:
            return None
        reads_ok = all(
            _pos(pl).get(s) is not None and seg.first <= _pos(pl)[s] < k
            for k in range(seg.first + 1, seg.last + 1) for s in _reads(pl, k))
        if not reads_ok:
            return None  # an input from the host past the first layer: job by job
        self = cls()
        self.seg, self.pl, self.first, self.last = seg, pl, first, last
        self._padded = {}  # batch size -> (padded map, its taps view): a host layout's input
        cfg1 = last.config(last.slices[0], last.bands[0], False, 1)
        self.out_shape1 = (cfg1.out_h, cfg1.out_w, cfg1.out_c)
        self.value_bytes = cfg1.out_values() * (4 if cfg1.out_int32 else 1)
        row = -(-first.engine_in[0] // build.p_ic) * build.p_ic  # one pixel's (a LINEAR's image's) bytes
        self.row = row
        # a host layout of a one-channel map whose pixels are one word each (LeNet's conv1):
        # the slots filled a 64-bit word a pixel, each the 8 bytes at its taps masked to them
        taps = first.engine_in[0]
        self.mask = (1 << 8 * taps) - 1 if (first.layout in ("kx", "pair") and first.in_shape[0] == 1
                                            and row == 8 and taps < 8 and sys.byteorder == "little") else 0
        self.transfers = []
        cur = None

        size = chunk_size(pl, seg, n, limit)
        if not size:
            return None  # (one image's jobs larger than a transfer: job by job, dispatch cuts them)
        for i0, i1 in balanced(n, size):
            specs = chunk_jobs(pl, seg, i1 - i0)
            nin, nout = _stream_bytes(specs, seg, build)
            if cur is None or cur[1] + nin > limit or cur[2] + nout > limit:
                cur = [[], 0, 0]
                self.transfers.append(cur)
            cur[0].append((i0, specs))
            cur[1] += nin
            cur[2] += nout
        self.transfers = [self._transfer(chunks, build) for chunks, _, _ in self.transfers]
        return self

    def _transfer(self, chunks, build) -> _Transfer:
        hb = C.CMD_HEADER_BEATS * S.STREAM_BYTES
        cfgs, places, parts, ins, outs, recs = [], [], [], [], [], {}
        off = out_off = 0
        for i0, specs in chunks:
            for sp in specs:
                part = C.stream_part_beats(sp.cfg, build, sp.place) * S.STREAM_BYTES
                if sp.k == self.seg.first:  # the images' inputs: after the header
                    stride = hb + part if sp.b - sp.a == 1 else self.row  # (several: a LINEAR's rows)
                    _extend(ins, (i0 + sp.a, sp.b - sp.a, off + hb, stride))
                if sp.k == self.seg.last:
                    nb = sp.cfg.out_beats() * S.STREAM_BYTES
                    stride = nb if sp.b - sp.a == 1 else self.value_bytes
                    _extend(outs, (i0 + sp.a, sp.b - sp.a, out_off, stride, len(cfgs), 1))
                    out_off += nb
                r = recs.setdefault(sp.k, [sp.lp.index, i0 + sp.a, sp.cfg, [], 0, 0])
                r[3].extend(range(i0 + sp.a, i0 + sp.b))
                r[4] += _macs(self.pl, sp)
                r[5] += 1
                cfgs.append(sp.cfg)
                places.append(sp.place)
                parts.append(np.zeros(part, np.uint8))
                off += hb + part
        data = C.command_stream(cfgs, parts, places)
        # each run of inputs as a writable view of the stream's bytes (count, width)
        ins = [(img0, count, self._slots(data[o:], count, stride)) for img0, count, o, stride in ins]
        return _Transfer(tuple(cfgs), tuple(places), data, ins, outs,
                         [(r[0], r[1], r[2], tuple(r[3]), r[4], r[5]) for _, r in sorted(recs.items())])

    def _slots(self, data, count, stride):
        """A writable view of ``count`` images' input slots, ``stride`` bytes apart at the
        start of ``data``, shaped as :meth:`_source` gives the images (the channels past
        the map's are padding, zero in the stream and never written)."""
        first, row = self.first, self.row
        if first.opcode == S.OPCODE_LINEAR:
            return np.lib.stride_tricks.as_strided(data, (count, first.engine_in[0]), (stride, 1))
        band = first.bands[0]
        h, w = band.r1 - band.r0, first.engine_in[2]
        if self.mask:  # a pixel a 64-bit word (beats are whole words of the stream)
            return np.ndarray((count, h, w), "<u8", data, 0, (stride, w * 8, 8))
        if first.layout in ("kx", "pair"):
            c = first.in_shape[0]
            shape, strides = (count, h, w, first.engine_in[0] // c, c), (stride, w * row, row, c, 1)
        else:
            shape, strides = (count, h, w, first.engine_in[0]), (stride, w * row, row, 1)
        return np.lib.stride_tricks.as_strided(data, shape, strides)

    def _source(self, env, n):
        """The batch's inputs of the first layer as :meth:`_slots` takes them (views where
        it can: one copy of the map for a host layout)."""
        pl, first = self.pl, self.first
        x = env[_sources(pl)[first.index][0]]
        if first.opcode == S.OPCODE_LINEAR:
            return x.reshape(n, -1)
        band = first.bands[0]
        if first.layout in ("kx", "pair"):  # a padded copy per batch size, and its window view
            op = pl.program.ops[first.index] if first.op is None else first.op
            k, pad = op.weight.shape[2], int(op.padding)
            if n not in self._padded:
                step, ncols = (2, first.engine_in[2]) if first.layout == "pair" else (1, first.engine_in[2])
                wp = max(x.shape[3] + 2 * pad + k, (ncols - 1) * step + 8)  # (the taps' reach, a word's)
                xp = np.zeros(x.shape[:3] + (wp,), x.dtype)
                if self.mask:  # one channel: pixel j's taps are the 8 bytes at j * step, masked
                    _, _, hh, _ = xp.shape
                    view = np.ndarray((n, band.r1 - band.r0, ncols), "<u8", xp, band.r0 * wp,
                                      (hh * wp, wp, step))
                else:
                    view = U.taps_hwc(xp, k, 0, first.layout, width=x.shape[3] + 2 * pad)[:, band.r0:band.r1]
                self._padded[n] = (xp, view)
            xp, view = self._padded[n]
            xp[:, :, :, pad:pad + x.shape[3]] = x
            return view
        return _first_input(pl, self.seg, env, n)[:, :, band.r0:band.r1].transpose(0, 2, 3, 1)

    def run(self, env, engine, on_job, out, completed, n):
        src = self._source(env, n)
        y = output_array(self.last, n)
        _pipeline(engine, ((self, t, src, y, out, completed, 0) for t in self.transfers), on_job)
        return _finish(self.last, y, n)

    def _fill(self, t, src) -> None:
        """Write a batch's images (:meth:`_source`) into the transfer's slots."""
        for img0, count, view in t.ins:
            if self.mask:  # (the taps of a pixel and zeros for the lanes past them)
                np.bitwise_and(src[img0:img0 + count], self.mask, out=view)
            else:
                view[:] = src[img0:img0 + count]

    def _take(self, t, raw, y, out, completed, jobs_done, offset=0):
        """The outputs of the transfer's jobs before ``jobs_done`` into ``y`` (and ``out``,
        ``completed``: image ``i`` is ``offset + i`` there)."""
        b = np.frombuffer(raw, np.uint8) if isinstance(raw, bytes) else np.asarray(raw).reshape(-1)
        b = b.view(np.uint8)
        dtype = "<i4" if self.last.out_int32 else np.int8
        oh, ow, oc = self.out_shape1
        vb = self.value_bytes
        for img0, count, off, stride, j0, jobs in t.outs:
            if jobs_done <= j0:
                break
            if jobs_done < j0 + jobs:  # (a run of one-image jobs, cut by the failure)
                count = jobs_done - j0
            if off + count * stride > len(b):  # (each job's output is whole beats: stride apart)
                raise ValueError(f"the command stream's output has {len(b)} bytes, its jobs give more")
            vals = b[off:off + count * stride].reshape(count, stride)[:, :vb].copy().view(dtype)
            res = vals.reshape(count, oh, ow, oc).transpose(0, 3, 1, 2).reshape((count,) + y.shape[1:])
            y[img0:img0 + count] = res
            if out is not None:
                out[img0:img0 + count] = res.reshape((count,) + out.shape[1:])
            if completed is not None:
                completed.extend(range(offset + img0, offset + img0 + count))


class _Ran:
    """A stream an engine without ``start_commands`` ran at once: its output or error."""

    def __init__(self, engine, cfgs, data, places):
        try:
            self.raw, self.exc = engine.run_commands(cfgs, data, places), None
        except Exception as exc:  # noqa: BLE001 - raised again by finish
            self.raw, self.exc = None, exc

    def finish(self):
        if self.exc is not None:
            raise self.exc
        return self.raw


def _pipeline(engine, items, on_job) -> None:
    """Run prepared transfers in order: ``items`` yields (Prepared, transfer, source, y, out,
    completed, offset). Each item's images go into its slots while the engine runs the one
    before it (:meth:`Accelerator.start_commands`: the engine works from its own copy of a
    stream); its outputs are taken before the next one starts. A failed transfer gives
    the outputs of the jobs before the failed one and raises; an interruption between
    start and finish resets the engine (``cancel_commands``)."""
    start = getattr(engine, "start_commands", None)
    pending = None  # (item, ticket) started, not yet finished
    try:
        for item in items:
            prep, t, src = item[:3]
            prep._fill(t, src)  # (overlaps the engine running the item before)
            if pending is not None:
                done, pending = pending, None
                _collect(engine, done, on_job)
            ticket = start(t.cfgs, t.data, t.places) if start else _Ran(engine, t.cfgs, t.data, t.places)
            pending = (item, ticket)
        if pending is not None:
            done, pending = pending, None
            _collect(engine, done, on_job)
    except BaseException as exc:
        if pending is not None and start is not None:
            engine.cancel_commands(pending[1], exc)
        raise


def _collect(engine, pending, on_job) -> None:
    """Finish a started transfer and take its outputs (those of the jobs before a failure)."""
    (prep, t, _, y, out, completed, offset), ticket = pending
    try:
        raw = ticket.finish() if isinstance(ticket, _Ran) else engine.finish_commands(ticket)
    except Exception as exc:
        done = getattr(exc, "jobs_done", 0)
        if done:
            prep._take(t, np.asarray(exc.commands_output), y, out, completed, done, offset)
        raise
    prep._take(t, raw, y, out, completed, len(t.cfgs), offset)
    if on_job is not None:  # one record a layer for the transfer's jobs
        recs = t.__dict__.get("_recs")
        if offset or recs is None:
            recs = []
            for j, (index, img, cfg, images, macs, jobs) in enumerate(t.records):
                rec = JobRecord(index, offset + img, cfg, images=tuple(offset + i for i in images), macs=macs,
                                jobs=jobs)
                rec.transfer_end = j == len(t.records) - 1
                rec.dma_bytes = len(t.data) + len(raw) if rec.transfer_end else 0
                recs.append(rec)
            if not offset:  # (the same records each call: on_job reads them, it must not keep them)
                t._recs = recs
        for rec in recs:
            on_job(rec, None)


def run_batches(pl, xq, batch: int, engine, residency, net_key, on_job, out, completed) -> bool:
    """Run the int8 images ``xq`` (N, ...) in batches of ``batch`` when the whole plan is one
    chained segment whose streams are prepared (weights on chip): batch k+1's images go
    into their slots while the engine runs batch k. ``out`` (N, ...) receives the outputs,
    ``completed`` the indices of the images done. False, having run nothing, where that
    does not apply (then run the batches one by one with :func:`rtlcnn.core.runner.execute`)."""
    segs = CH.segments(pl)
    if len(segs) != 1 or not segs[0].runs_here(pl.layers) or _sources(pl)[0][0] != -1:
        return False
    seg, n = segs[0], xq.shape[0]
    bounds = [(b0, min(n, b0 + batch)) for b0 in range(0, n, batch)]
    preps = {}
    for b0, b1 in bounds:
        if b1 - b0 not in preps:
            preps[b1 - b0] = _prepared(pl, seg, engine, residency, net_key, b1 - b0)
            if preps[b1 - b0] is None:
                return False

    def items():
        for b0, b1 in bounds:
            prep = preps[b1 - b0]
            y = output_array(prep.last, b1 - b0)
            src = prep._source({-1: xq[b0:b1]}, b1 - b0)
            for t in prep.transfers:
                yield prep, t, src, y, out[b0:b1], completed, b0

    _pipeline(engine, items(), on_job)
    return True


def _extend(runs, run) -> None:
    """Append ``run`` (img0, count, offset, stride, ...) to ``runs``, merging it into the
    last run where it continues that run's images at the same stride."""
    if runs:
        p = runs[-1]
        one = run[1] == 1 and p[3] == run[3]
        if one and p[0] + p[1] == run[0] and p[2] + p[1] * p[3] == run[2] and (len(run) == 4 or (
                p[4] + p[5] == run[4] and p[5] == p[1])):
            runs[-1] = (p[0], p[1] + 1, p[2], p[3]) + ((p[4], p[5] + 1) if len(run) > 4 else ())
            return
    runs.append(run)
