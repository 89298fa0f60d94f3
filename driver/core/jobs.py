"""Jobs as the runner makes them, and their dispatch to an engine (job by job, or as
command streams): shared by :mod:`rtlcnn.core.runner` (layer by layer) and
:mod:`rtlcnn.core.chain` (segments on chip)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import commands as C
from . import stream as S
from . import unfold as U

__all__ = ["OPCODE_HOST", "JobRecord", "Job", "dispatch", "engine_input", "output_array", "command_limit",
           "FLUSH"]

#: the LayerPlan opcode of an op the host runs without the engine (a concatenation)
OPCODE_HOST = -1

@dataclass
class JobRecord:
    """What happened in one job (for profiles). ``image`` is the job's first image;
    ``images`` all of them (several for a LINEAR layer's batched jobs); ``cfg.macs()``
    counts the MACs of all of them."""

    layer: int
    image: int
    cfg: S.JobConfig
    cycles: dict = field(default_factory=dict)
    images: tuple = ()
    #: the layer's own MACs in this job (default ``cfg.macs()``; see LayerPlan.job_macs)
    macs: int = -1
    #: the last job of its transfer: the engine's counters now cover the jobs since the
    #: previous such job (one job, or a whole command stream)
    transfer_end: bool = True
    #: jobs this record stands for (a prepared command stream reports a layer's jobs at once)
    jobs: int = 1
    #: bytes the job moved over the DMA (its stream, header included, and its output on
    #: m_axis; parts in the feature buffer do not count); set by :func:`dispatch`
    dma_bytes: int = 0

    def __post_init__(self):
        if not self.images:
            self.images = (self.image,)
        if self.macs < 0:
            self.macs = self.cfg.macs()


def engine_input(lp, op, x, n):
    """The map(s) the engine takes for a layer plan's jobs, from its input ``x`` (N, ...):
    LINEAR (N, F); a host layout (im2col, kx, pair, pixels) laid out; else ``x``."""
    if lp.opcode == S.OPCODE_LINEAR:
        xin = x.reshape(n, -1)
    elif lp.layout == "im2col":
        xin = U.im2col(x, op.weight.shape[2], int(op.stride), int(op.padding))
    elif lp.layout == "kx":
        xin = U.kx_input(x, op.weight.shape[2], int(op.padding))
    elif lp.layout == "pair":
        xin = U.pair_input(x, op.weight.shape[2], int(op.padding))
    elif lp.layout == "pixels":  # (N, C, H, W) -> (N, H*W, C, 1): pixels as channels
        xin = np.ascontiguousarray(x.reshape(n, x.shape[1], -1).transpose(0, 2, 1))[:, :, :, None]
    else:
        xin = x
    return xin


def output_array(lp, n: int) -> np.ndarray:
    """An empty array for a layer plan's engine output on ``n`` images (a "pixels" layout's
    is the engine's (1, C, 1) map, reshaped to the layer's shape afterwards)."""
    dtype = np.int32 if lp.out_int32 else np.int8
    return np.empty((n,) + ((1, lp.in_shape[0], 1) if lp.layout == "pixels" else tuple(lp.out_shape)), dtype)


def command_limit(engine) -> int:
    """Bytes a command stream's jobs may take each way on ``engine`` (its largest transfer,
    ``max_command_bytes``, less the END beat; no limit without one)."""
    return (getattr(engine, "max_command_bytes", None) or 1 << 62) - S.STREAM_BYTES


#: what a job generator yields to have the jobs so far run before it goes on (its next
#: job's input depends on their outputs)
FLUSH = object()


@dataclass
class Job:
    """A job a generator yields: ``done(raw) -> JobRecord`` takes its output; ``place``
    (command streams only) what of it is in the feature buffer."""

    cfg: S.JobConfig
    stream: np.ndarray
    done: object
    place: C.Place = C.STREAMED


def dispatch(engine, build, jobs, on_job) -> None:
    """Run the jobs of a generator in order: one by one, or (an engine with
    ``run_commands`` and a build with command streams) as command streams of at most
    ``engine.max_command_bytes`` each way (one per :data:`FLUSH` at least), each cut after a
    job whose output leaves the engine (the last job of a stream cannot write the feature
    buffer: CONFIG_ERR 15).

    A failed command stream's error may carry ``jobs_done`` and ``commands_output`` (the
    jobs before the failed one, and the bytes they gave): those jobs are taken first."""
    cmd = hasattr(engine, "run_commands") and getattr(engine, "build", build).has_command_streams
    limit = command_limit(engine)
    hb = C.CMD_HEADER_BEATS * S.STREAM_BYTES
    pend, size = [], [0, 0]

    def take(batch, raws):
        for i, (job, raw) in enumerate(zip(batch, raws)):
            rec = job.done(raw)
            rec.transfer_end = i == len(batch) - 1
            streamed = len(batch) > 1 or job.place != C.STREAMED  # (a header)
            rec.dma_bytes = len(job.stream) + len(raw) + (hb if streamed else 0)
            if on_job is not None:
                on_job(rec, raw)

    def flush():
        if not pend:
            return
        batch = list(pend)
        pend.clear()
        size[:] = [0, 0]
        if len(batch) == 1:
            if batch[0].place == C.STREAMED:
                take(batch, [engine.run_job(batch[0].cfg, batch[0].stream)])
                return
        cfgs = [j.cfg for j in batch]
        places = [j.place for j in batch]
        streamed = all(p == C.STREAMED for p in places)
        try:
            data = C.command_stream(cfgs, [j.stream for j in batch], places)
            raw = engine.run_commands(cfgs, data) if streamed else engine.run_commands(cfgs, data, places)
        except Exception as exc:
            done = getattr(exc, "jobs_done", 0)
            if done:
                take(batch[:done], C.split_output(exc.commands_output, cfgs[:done], places[:done]))
            raise
        take(batch, C.split_output(raw, cfgs, places))

    for job in jobs:
        if job is FLUSH:
            flush()
            continue
        if not cmd:
            take([job], [engine.run_job(job.cfg, job.stream)])
            continue
        nin = hb + len(job.stream)
        nout = 0 if job.place.out_base is not None else job.cfg.out_beats() * S.STREAM_BYTES
        # (a stream ends with a job whose output leaves on m_axis: its TLAST ends the transfer)
        if pend and (size[0] + nin > limit or size[1] + nout > limit) and pend[-1].place.out_base is None:
            flush()
        pend.append(job)
        size[0] += nin
        size[1] += nout
    flush()
