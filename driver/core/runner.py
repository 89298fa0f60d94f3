"""Running a :class:`rtlcnn.core.schedule.Plan`: the jobs of a batch, in order, on an engine.

:func:`execute` runs a plan on anything with a ``run_job(cfg, stream) -> bytes`` method: the
accelerator on a board or the mock board, or :class:`rtlcnn.sim.engine_model.EngineModel`,
a numpy model of the engine. Ops read the tensors their program names (a table of the
batch's tensors); a host op (a concatenation) only places bytes. :class:`Residency` tracks
which weights the engine holds, :class:`JobRecord` what a job did (profiles).

An engine that also has ``run_commands(stream) -> bytes`` and a build with command streams
(engine 1.5) gets each layer's jobs for the whole batch as command streams
(:mod:`rtlcnn.core.commands`), as few as its ``max_command_bytes`` allows: one transfer each
way instead of one per job. The jobs, their order and their outputs are the same.
"""

from __future__ import annotations

import numpy as np

from . import chain as CH
from . import chain_run as CR
from . import ref_ops
from . import stream as S
from .jobs import FLUSH, OPCODE_HOST, Job, JobRecord, dispatch, engine_input, output_array

__all__ = ["Residency", "JobRecord", "execute", "OPCODE_HOST", "Job", "dispatch", "engine_input"]


class Residency:
    """What the engine's weight and parameter buffers hold: key -> (wbase, words, pbase, n)."""

    def __init__(self):
        self.held = {}

    def has(self, key) -> bool:
        return key in self.held

    def store(self, key, sl) -> None:
        """``sl``: the :class:`rtlcnn.core.schedule.Slice` just loaded; what it overwrites goes."""
        w0, w1, p0, p1 = sl.wbase, sl.wbase + sl.words, sl.pbase, sl.pbase + (sl.oc1 - sl.oc0)
        for k, (a0, a1, b0, b1) in list(self.held.items()):
            if a0 < w1 and w0 < a1 or b0 < p1 and p0 < b1:
                del self.held[k]
        self.held[key] = (w0, w1, p0, p1)

    def clear(self) -> None:
        self.held.clear()


def execute(pl, xq: np.ndarray, engine, residency: Residency, net_key, layers=None,
            on_job=None, out=None, completed=None, chain: bool = False) -> list:
    """Run the plan on a batch of int8 inputs (N, C, H, W); return every op's raw output.

    ``engine.run_job(cfg, stream) -> bytes`` runs one job. ``residency`` tracks what the
    engine holds; ``net_key`` names this network's weights in it. ``on_job(record, raw)``
    is called after every job (profiling).

    ``out`` (optional, shape (N,) + the last op's output shape) receives each image's
    output of the last op as soon as that image's last job is done, and ``completed``
    (optional list) gets the image's index appended at that moment; both before
    ``on_job`` sees the job. So when a job raises, ``out`` already holds every image
    listed in ``completed``, whatever the others did. A LINEAR layer's job runs a chunk
    of images (:meth:`LayerPlan.chunks`), so several images can complete with one job;
    they are appended in image order.

    ``chain`` (an engine with command streams and a feature buffer, the whole plan): run
    the segments of :func:`rtlcnn.core.chain.segments` on chip; the outputs of the layers
    inside a segment stay there (None in the list returned).
    """
    build = pl.build
    outs = []
    n = xq.shape[0]
    run = list(pl.layers if layers is None else layers)
    srcs = pl.program.sources()
    env = {-1: xq}  # tensor table: -1 the input, j op j's output
    if out is not None and out.shape != (n,) + tuple(run[-1].out_shape):
        raise ValueError(f"execute: out has shape {out.shape}, the batch's last op "
                         f"gives {(n,) + tuple(run[-1].out_shape)}")
    segs = {}
    if chain and layers is None and hasattr(engine, "run_commands") and getattr(
            engine, "build", build).has_command_streams:
        segs = {s.first: s for s in CH.segments(pl) if s.runs_here(pl.layers)}
    skip = -1
    for at, lp in enumerate(run):
        if at <= skip:  # inside a chained segment (outs has its entries)
            continue
        final = lp is run[-1]
        if at in segs:
            seg = segs[at]
            last = run[seg.last]
            fin = last is run[-1]
            y = CR.run_segment(pl, seg, env, engine, residency, net_key, on_job, out if fin else None,
                               completed if fin else None, n)
            outs.extend([None] * (seg.last - at) + [y])  # (the layers before its last: on chip)
            skip = seg.last
            env[last.index] = y
            continue
        op = pl.program.ops[lp.index] if lp.op is None else lp.op  # (an average: as a conv)
        src = srcs[lp.index]
        x = env[src[0]] if src[0] in env else outs[-1]  # (a partial run: the op before it)
        fout, fdone = (out, completed) if final else (None, None)
        if lp.opcode == OPCODE_HOST or lp.gsplit:  # the whole batch's output at once
            if lp.opcode == OPCODE_HOST:  # concat: the inputs' channels side by side; a pool
                y = _host_op(op, [env[j] for j in src] if op.kind == "concat" else [x])
            else:  # chunks of groups, each its own dense conv on a channel range
                y = np.empty((n,) + tuple(lp.out_shape), np.int32 if lp.out_int32 else np.int8)
                for gi, (ic0, ic1, oc0, oc1, u) in enumerate(lp.gsplit):
                    y[:, oc0:oc1] = _engine_layer(u, u.op, x[:, ic0:ic1], None, n, build, engine, residency,
                                                  (net_key, lp.index, gi), on_job, None, None)
            if fout is not None:
                fout[:] = y
            if fdone is not None:
                fdone.extend(range(n))
        else:
            x2 = env[src[1]] if lp.opcode == S.OPCODE_ADD else None  # ADD: the second operand
            if lp.layout == "pixels" and fout is not None:  # (the engine's (1, C, 1) is (C, 1, 1))
                fout = fout.reshape((n, 1, -1, 1))
            y = _engine_layer(lp, op, x, x2, n, build, engine, residency, (net_key, lp.index), on_job,
                              fout, fdone)
            if lp.layout == "pixels":
                y = y.reshape((n,) + tuple(lp.out_shape))
        outs.append(y)
        env[lp.index] = y
    return outs


def _host_op(op, xs: list) -> np.ndarray:
    """What the host computes of an op (LayerPlan.opcode OPCODE_HOST), as the reference does."""
    if op.kind == "concat":
        return np.concatenate(xs, axis=1)
    if op.kind == "globalavgpool":
        return ref_ops.globalavgpool_int(xs[0])
    return ref_ops.pool_int(xs[0], "max" if op.kind == "maxpool" else "avg", int(op.pool_kernel),
                            int(op.pool_stride), int(op.pool_padding), bool(op.ceil_mode),
                            bool(op.count_include_pad))


def _engine_layer(lp, op, x, x2, n, build, engine, residency, key0, on_job, out, completed):
    """The jobs of one dense layer plan on a batch ``x`` (and an ADD's second operand
    ``x2``); its output. ``key0`` prefixes the residency keys of its slices; ``out`` and
    ``completed`` as :func:`execute` (None unless it is the batch's last layer)."""
    xin = engine_input(lp, op, x, n)
    y = output_array(lp, n)
    gen = _split_linear if lp.rsplit else _layer_jobs
    dispatch(engine, build, gen(lp, build, xin, x2, y, residency, key0, out, completed), on_job)
    return y


def _layer_jobs(lp, build, xin, x2, y, residency, key0, out, completed):
    """The jobs of a dense layer plan (slices, image chunks, row bands): each places its
    output in ``y``; an image's row of ``out`` is written when its last job is done."""
    n = xin.shape[0]
    left = [lp.jobs_per_image] * n  # jobs of this layer still to run, per image
    for si, sl in enumerate(lp.slices):
        key = key0 + (si,)
        params = weights = None
        if lp.has_weights:
            params = (lp.bias[sl.oc0:sl.oc1], lp.mult[sl.oc0:sl.oc1], lp.shift[sl.oc0:sl.oc1])
            weights = lp.slice_weights(sl)
        for i0, i1 in lp.chunks(n):  # one image a job; LINEAR: several
            for band in lp.bands:
                load = lp.has_weights and not residency.has(key)
                cfg = lp.config(sl, band, load, i1 - i0)
                if lp.opcode != S.OPCODE_LINEAR:
                    c0, c1 = band.cols(xin.shape[3])
                    xb = xin[i0, :, band.r0:band.r1, c0:c1]
                    if x2 is not None:
                        xb = (xb, x2[i0, :, band.r0:band.r1, c0:c1])
                elif i1 - i0 == 1:
                    xb = xin[i0]
                else:  # (F, N, 1): image i is input row i of a 1x1 conv
                    xb = xin[i0:i1].T[:, :, None]
                st = S.job_stream(cfg, build, params if load else None, weights if load else None, xb)
                if load:  # (the jobs run in this order; a failure resets the engine)
                    residency.store(key, sl)

                def done(raw, cfg=cfg, sl=sl, band=band, i0=i0, i1=i1):
                    res = S.unpack_output(raw, cfg)
                    if lp.opcode == S.OPCODE_LINEAR:  # (OUT_C, N, 1): HWC = image by image
                        y[i0:i1, sl.oc0:sl.oc1] = res.reshape(cfg.out_c, i1 - i0).T
                    else:
                        x0, x1 = band.out_cols(y.shape[3])
                        y[i0, sl.oc0:sl.oc1, band.o0:band.o1, x0:x1] = res
                    _complete(range(i0, i1), left, y, out, completed)
                    return JobRecord(lp.index, i0, cfg, images=tuple(range(i0, i1)), macs=lp.job_macs(cfg))

                yield Job(cfg, st, done)


def _complete(images, left, y, out, completed) -> None:
    """One more job of each of ``images`` is done; those with none left are complete."""
    for img in images:
        left[img] -= 1
        if not left[img]:  # this image's result is complete
            if out is not None:
                out[img] = y[img]
            if completed is not None:
                completed.append(img)


def _split_linear(lp, build, xin, x2, y, residency, key0, out, completed):
    """A LINEAR too wide for the buffers, part by part (features ``lp.rsplit``): part r's
    int32 sums (the bias and the parts before included) are part r+1's bias, so the last
    part's requant sees the exact sum of the whole reduction. Each part's weights go over
    the stream once per slice and batch; parameters (the bias) every job. A part's jobs
    for the batch run before the next part's (they need its sums)."""
    n = xin.shape[0]
    parts = len(lp.rsplit)
    left = [len(lp.slices)] * n
    for si, sl in enumerate(lp.slices):
        oc = slice(sl.oc0, sl.oc1)
        sums = np.repeat(lp.bias[oc][None, :].astype(np.int32), n, axis=0)
        for r, (f0, f1) in enumerate(lp.rsplit):
            key = key0 + (si, r)
            weights = lp.weight[oc, f0:f1]
            for img in range(n):
                load = not residency.has(key)
                cfg = lp.part_config(sl, r, load)
                params = (sums[img], lp.mult[oc], lp.shift[oc])
                st = S.job_stream(cfg, build, params, weights if load else None, xin[img, f0:f1])
                residency.store(key, sl)  # params (and maybe weights) are loaded

                def done(raw, cfg=cfg, img=img, r=r, oc=oc, sums=sums):
                    res = S.unpack_output(raw, cfg).reshape(-1)
                    if r < parts - 1:
                        sums[img] = res
                    else:
                        y[img, oc] = res
                        _complete((img,), left, y, out, completed)
                    return JobRecord(lp.index, img, cfg, images=(img,), macs=cfg.macs())

                yield Job(cfg, st, done)
            yield FLUSH  # part r + 1's parameters are these jobs' sums
