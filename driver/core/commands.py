"""Command streams (engine version 1.5): many jobs in one input and one output transfer.

The executable form of ``docs/stream_format.md``, "Command streams". After
``CTRL = RUN_STREAM`` the engine reads each job's configuration from a header of
:data:`CMD_HEADER_BEATS` beats at the start of its part of the input stream, runs the job
(its P, W and I sections follow the header, exactly as a register job's stream), and goes
on with the next header, until a job whose header has FLAGS.LAST; one END beat follows it,
the stream's only beat with TLAST. The output transfer is the jobs' outputs back to back,
each padded to whole beats as a register job's, TLAST on the last.

A job's :class:`Place` puts its input map (an ADD's operands) and its output in the
engine's on-chip feature buffer instead: those parts are then not in the streams at all,
so a network's activations can stay on chip from layer to layer.

>>> from rtlcnn.core.stream import Build, JobConfig
>>> b = Build()
>>> jobs = [JobConfig.add(8, 2, 2, 1, 1, 1), JobConfig.add(8, 1, 1, 1, 1, 1)]
>>> len(command_header(jobs[0], last=False)), command_in_beats(jobs, b), command_out_beats(jobs)
(64, 27, 5)
>>> places = [Place(out_base=0), Place(in_base=0, b_base=0)]
>>> command_in_beats(jobs, b, places), command_out_beats(jobs, places)
(25, 1)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from . import regs as R
from .regs import (
    CMD_END_MAGIC,
    CMD_FLAG_B_FBUF,
    CMD_FLAG_IN_FBUF,
    CMD_FLAG_LAST,
    CMD_FLAG_OUT_FBUF,
    CMD_HEADER_BEATS,
    CMD_MAGIC,
    STREAM_BYTES,
)
from .stream import Build, JobConfig

__all__ = ["Place", "command_header", "command_stream", "command_in_beats", "command_out_beats",
           "output_offsets", "split_output", "parse_header", "stream_part_beats", "end_beat",
           "check_place", "HeaderError", "STREAMED"]


class HeaderError(ValueError):
    """Bytes that are not a command header (the engine's CONFIG_ERR 14)."""


@dataclass(frozen=True)
class Place:
    """Where a command job's input map (``in_base``; an ADD's operand a), an ADD's operand b
    (``b_base``) and its output (``out_base``) are in the feature buffer, in beats; None:
    in the stream, as a register job's."""

    in_base: Optional[int] = None
    b_base: Optional[int] = None
    out_base: Optional[int] = None

    def flags(self) -> int:
        return ((CMD_FLAG_IN_FBUF if self.in_base is not None else 0)
                | (CMD_FLAG_B_FBUF if self.b_base is not None else 0)
                | (CMD_FLAG_OUT_FBUF if self.out_base is not None else 0))


#: every part in the streams
STREAMED = Place()


def command_header(cfg: JobConfig, last: bool, place: Place = STREAMED) -> np.ndarray:
    """The header of one job: uint8, ``CMD_HEADER_BEATS * 8`` bytes.

    Words (32 bit, little endian): MAGIC, FLAGS, then OP .. ADD_MULT in register order (the
    values :meth:`JobConfig.registers` writes), then [15:0] IN_BASE, [31:16] B_BASE and
    [15:0] OUT_BASE (zero where the part is in the stream).
    """
    words = np.zeros(2 * CMD_HEADER_BEATS, "<u4")
    words[0] = CMD_MAGIC
    words[1] = (CMD_FLAG_LAST if last else 0) | place.flags()
    words[2:14] = list(cfg.registers().values())
    words[14] = (place.in_base or 0) | ((place.b_base or 0) << 16)
    words[15] = place.out_base or 0
    return words.view(np.uint8)


def end_beat() -> np.ndarray:
    """The END beat that follows the LAST job."""
    return np.array([CMD_END_MAGIC, 0], "<u4").view(np.uint8)


def stream_part_beats(cfg: JobConfig, build: Build, place: Place = STREAMED) -> int:
    """Beats of a job's input stream (no header) with ``place``'s parts left out."""
    n = cfg.in_beats(build)
    ib = cfg.input_beats(build)
    if cfg.is_add:
        return n - ib // 2 * ((place.in_base is not None) + (place.b_base is not None))
    return n - (ib if place.in_base is not None else 0)


def check_place(cfg: JobConfig, place: Place, last: bool, build: Build) -> int:
    """CONFIG_ERR 15 (CFG_FBUF) if the engine refuses ``place`` for this job, else 0 (the
    engine runs this check after checks 1-13)."""
    ib = cfg.input_beats(build)
    a = ib // 2 if cfg.is_add else ib
    depth = build.fbuf_depth
    if ((place.in_base is not None and place.in_base + a > depth)
            or (place.b_base is not None and (not cfg.is_add or place.b_base + ib // 2 > depth))
            or (place.out_base is not None and (last or place.out_base + cfg.out_beats() > depth))):
        return R.CFG_FBUF
    return 0


def command_stream(jobs, streams, places=None) -> np.ndarray:
    """One input transfer for ``jobs``: each header followed by its job's input stream
    without the parts ``places`` put in the feature buffer (:func:`stream_part_beats`
    beats; :func:`rtlcnn.core.stream.job_stream` gives the whole one), the last header with
    FLAGS.LAST, then the END beat."""
    places = list(places) if places is not None else [STREAMED] * len(jobs)
    if not (len(jobs) == len(streams) == len(places)) or not jobs:
        raise ValueError(f"command_stream needs one input stream and place per job and at least one "
                         f"job ({len(jobs)} jobs, {len(streams)} streams, {len(places)} places)")
    parts = []
    for i, (cfg, st, pl) in enumerate(zip(jobs, streams, places)):
        parts.append(command_header(cfg, last=i == len(jobs) - 1, place=pl))
        parts.append(np.asarray(st, np.uint8).reshape(-1))
    parts.append(end_beat())
    return np.concatenate(parts)


def command_in_beats(jobs, build: Build, places=None) -> int:
    """Input beats of the command stream of ``jobs`` (headers and END included)."""
    places = places if places is not None else [STREAMED] * len(jobs)
    return sum(CMD_HEADER_BEATS + stream_part_beats(c, build, p) for c, p in zip(jobs, places)) + 1


def command_out_beats(jobs, places=None) -> int:
    """Output beats of the command stream of ``jobs``: the outputs sent on m_axis, back to back."""
    places = places if places is not None else [STREAMED] * len(jobs)
    return sum(cfg.out_beats() for cfg, p in zip(jobs, places) if p.out_base is None)


def output_offsets(jobs, places=None) -> np.ndarray:
    """Byte offset of each job's output in the output transfer, and the total (len + 1);
    a job whose output stays in the feature buffer adds nothing."""
    places = places if places is not None else [STREAMED] * len(jobs)
    sizes = [0 if p.out_base is not None else cfg.out_beats() * STREAM_BYTES for cfg, p in zip(jobs, places)]
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def split_output(buf, jobs, places=None) -> list:
    """The output transfer of a command stream cut into each job's output bytes (empty
    for a job whose output stays in the feature buffer)."""
    b = np.ascontiguousarray(np.asarray(buf)).view(np.uint8).reshape(-1)
    off = output_offsets(jobs, places)
    if len(b) < off[-1]:
        raise ValueError(f"output holds {len(b)} bytes, the command stream produces {off[-1]}")
    return [b[off[i]:off[i + 1]] for i in range(len(jobs))]


def _int8(v: int) -> int:
    return v - 256 if v & 0x80 else v


def parse_header(buf) -> tuple:
    """``(JobConfig, last, Place)`` of a command header (:func:`command_header`'s inverse, for
    the engine model and for reading a stream back); :class:`HeaderError` as the engine's
    CONFIG_ERR 14 (magic, reserved FLAGS bits, the reserved beat)."""
    b = np.ascontiguousarray(np.asarray(buf)).view(np.uint8).reshape(-1)
    if len(b) < CMD_HEADER_BEATS * STREAM_BYTES:
        raise HeaderError(f"a command header has {CMD_HEADER_BEATS * STREAM_BYTES} bytes, got {len(b)}")
    w = [int(v) for v in b[:CMD_HEADER_BEATS * STREAM_BYTES].view("<u4")]
    if w[0] != CMD_MAGIC or w[1] >> 4 or w[15] >> 16:
        raise HeaderError(f"not a command header: {R.config_error_text(R.CFG_HEADER)} "
                          f"(words 0, 1, 15: 0x{w[0]:08x} 0x{w[1]:08x} 0x{w[15]:08x})")
    op, in_c, in_h, in_w, out_c, kernel, stride, pad, wbase, pbase, act, mult = w[2:14]
    opcode = op & R.OPCODE_MASK
    cfg = JobConfig(
        op=opcode, relu=bool(op & R.OP_RELU), pool=(op & R.OP_POOL_MASK) >> R.OP_POOL_SHIFT,
        out_int32=bool(op & R.OP_OUT_INT32), load_params=bool(op & R.OP_LOAD_PARAMS),
        load_weights=bool(op & R.OP_LOAD_WEIGHTS), pair=bool(op & R.OP_PAIR),
        in_c=in_c, in_h=in_h, in_w=in_w, out_c=out_c, kernel=kernel & 0xFF,
        kernel_w=(kernel >> R.KERNEL_W_SHIFT) & 0xFF, stride=stride,
        pad=(pad & 0xF, (pad >> 4) & 0xF, (pad >> 8) & 0xF, (pad >> 12) & 0xF),
        wbase=wbase, pbase=pbase, act_min=_int8(act & 0xFF), act_max=_int8((act >> R.ACT_MAX_SHIFT) & 0xFF),
        add_ma=mult & 0xFFFF if opcode == R.OPCODE_ADD else 0,
        add_mb=mult >> R.ADD_MULT_MB_SHIFT if opcode == R.OPCODE_ADD else 0,
        add_k=(op & R.OP_ADD_K_MASK) >> R.OP_ADD_K_SHIFT if opcode == R.OPCODE_ADD else 0)
    place = Place(in_base=w[14] & 0xFFFF if w[1] & CMD_FLAG_IN_FBUF else None,
                  b_base=w[14] >> 16 if w[1] & CMD_FLAG_B_FBUF else None,
                  out_base=w[15] & 0xFFFF if w[1] & CMD_FLAG_OUT_FBUF else None)
    return cfg, bool(w[1] & CMD_FLAG_LAST), place
