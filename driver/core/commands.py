"""Command streams (engine version 1.5): many jobs in one input and one output transfer.

The executable form of ``docs/stream_format.md``, "Command streams". After
``CTRL = RUN_STREAM`` the engine reads each job's configuration from a header of
:data:`CMD_HEADER_BEATS` beats at the start of its part of the input stream, runs the job
(its P, W and I sections follow the header, exactly as a register job's stream), and goes
on with the next header, until a job whose header has FLAGS.LAST. Only the stream's end
carries TLAST, on the input and on the output; the output is the jobs' outputs back to
back, each padded to whole beats as a register job's.

>>> from rtlcnn.core.stream import Build, JobConfig
>>> b = Build()
>>> jobs = [JobConfig.add(8, 2, 2, 1, 1, 1), JobConfig.add(8, 1, 1, 1, 1, 1)]
>>> len(command_header(jobs[0], last=False)), command_in_beats(jobs, b), command_out_beats(jobs)
(64, 28, 5)
"""

from __future__ import annotations

import numpy as np

from . import regs as R
from .regs import CMD_FLAG_LAST, CMD_HEADER_BEATS, CMD_MAGIC, STREAM_BYTES
from .stream import Build, JobConfig

__all__ = ["command_header", "command_stream", "command_in_beats", "command_out_beats",
           "output_offsets", "split_output", "parse_header", "HeaderError"]


class HeaderError(ValueError):
    """Bytes that are not a command header (the engine's CONFIG_ERR 14)."""


def command_header(cfg: JobConfig, last: bool) -> np.ndarray:
    """The header of one job: uint8, ``CMD_HEADER_BEATS * 8`` bytes.

    Words (32 bit, little endian): MAGIC, FLAGS, then OP .. ADD_MULT in register order (the
    values :meth:`JobConfig.registers` writes), then two reserved zero words.
    """
    words = np.zeros(2 * CMD_HEADER_BEATS, "<u4")
    words[0] = CMD_MAGIC
    words[1] = CMD_FLAG_LAST if last else 0
    words[2:14] = list(cfg.registers().values())
    return words.view(np.uint8)


def command_stream(jobs, streams) -> np.ndarray:
    """One input transfer for ``jobs``: each header followed by its job's input stream
    (:func:`rtlcnn.core.stream.job_stream`); the last header has FLAGS.LAST."""
    if len(jobs) != len(streams) or not jobs:
        raise ValueError(f"command_stream needs one input stream per job and at least one job "
                         f"({len(jobs)} jobs, {len(streams)} streams)")
    parts = []
    for i, (cfg, st) in enumerate(zip(jobs, streams)):
        parts.append(command_header(cfg, last=i == len(jobs) - 1))
        parts.append(np.asarray(st, np.uint8).reshape(-1))
    return np.concatenate(parts)


def command_in_beats(jobs, build: Build) -> int:
    """Input beats of the command stream of ``jobs`` (headers included)."""
    return sum(CMD_HEADER_BEATS + cfg.in_beats(build) for cfg in jobs)


def command_out_beats(jobs) -> int:
    """Output beats of the command stream of ``jobs``: their outputs back to back."""
    return sum(cfg.out_beats() for cfg in jobs)


def output_offsets(jobs) -> np.ndarray:
    """Byte offset of each job's output in the output transfer, and the total (len + 1)."""
    return np.concatenate([[0], np.cumsum([cfg.out_beats() * STREAM_BYTES for cfg in jobs])])


def split_output(buf, jobs) -> list:
    """The output transfer of a command stream cut into each job's output bytes."""
    b = np.ascontiguousarray(np.asarray(buf)).view(np.uint8).reshape(-1)
    off = output_offsets(jobs)
    if len(b) < off[-1]:
        raise ValueError(f"output holds {len(b)} bytes, the command stream produces {off[-1]}")
    return [b[off[i]:off[i + 1]] for i in range(len(jobs))]


def _int8(v: int) -> int:
    return v - 256 if v & 0x80 else v


def parse_header(buf) -> tuple:
    """``(JobConfig, last)`` of a command header (:func:`command_header`'s inverse, for
    the engine model and for reading a stream back); :class:`HeaderError` as the engine's
    CONFIG_ERR 14 (magic, reserved FLAGS bits, the reserved beat)."""
    b = np.ascontiguousarray(np.asarray(buf)).view(np.uint8).reshape(-1)
    if len(b) < CMD_HEADER_BEATS * STREAM_BYTES:
        raise HeaderError(f"a command header has {CMD_HEADER_BEATS * STREAM_BYTES} bytes, got {len(b)}")
    w = [int(v) for v in b[:CMD_HEADER_BEATS * STREAM_BYTES].view("<u4")]
    if w[0] != CMD_MAGIC or w[1] & ~CMD_FLAG_LAST or w[14] or w[15]:
        raise HeaderError(f"not a command header: {R.config_error_text(R.CFG_HEADER)} "
                          f"(words 0, 1, 14, 15: 0x{w[0]:08x} 0x{w[1]:08x} 0x{w[14]:08x} 0x{w[15]:08x})")
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
    return cfg, bool(w[1] & CMD_FLAG_LAST)
