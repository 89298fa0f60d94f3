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
    CMD_FLAG_IN_TAPS,
    CMD_FLAG_LAST,
    CMD_FLAG_OUT_FBUF,
    CMD_FLAGS_MASK,
    CMD_HEADER_BEATS,
    CMD_MAGIC,
    CMD_SRC_W_SHIFT,
    CMD_TAP_C_SHIFT,
    CMD_TAP_PAD_SHIFT,
    CMD_TAP_STEP2,
    CMD_TAP_T_SHIFT,
    STREAM_BYTES,
)
from .stream import Build, JobConfig

__all__ = ["Place", "Taps", "command_header", "command_stream", "command_in_beats", "command_out_beats",
           "output_offsets", "split_output", "parse_header", "stream_part_beats", "end_beat",
           "check_place", "tap_map", "HeaderError", "STREAMED"]


class HeaderError(ValueError):
    """Bytes that are not a command header (the engine's CONFIG_ERR 14)."""


@dataclass(frozen=True)
class Taps:
    """An IN_TAPS job's source (engine 1.6): the engine builds its input map from a map in
    the feature buffer, one beat a pixel (``src_w`` pixels a row, its first ``c`` bytes
    used), as the host's kx (``step`` 1, ``t`` = K taps) or pair (``step`` 2, K + 1 taps)
    layout of :func:`rtlcnn.core.unfold.taps_hwc`: engine pixel ``(y, j)``, channel
    ``i*c + ch`` = source pixel ``(y, j*step - pad + i)``'s byte ``ch``, zero outside the
    row's ``src_w`` pixels."""

    c: int
    t: int
    pad: int
    step: int
    src_w: int

    def flags(self) -> int:
        return (CMD_FLAG_IN_TAPS | (self.c << CMD_TAP_C_SHIFT) | (self.t << CMD_TAP_T_SHIFT)
                | (self.pad << CMD_TAP_PAD_SHIFT) | (CMD_TAP_STEP2 if self.step == 2 else 0))

    def problem(self, cfg: JobConfig, in_base: int, build: Build) -> bool:
        """True where the engine refuses these taps for ``cfg`` (CONFIG_ERR 16)."""
        return (not build.has_taps or cfg.op != R.OPCODE_CONV or not 1 <= self.c <= 8
                or not 1 <= self.t <= 15 or not 0 <= self.pad <= 15 or self.step not in (1, 2)
                or cfg.in_c != self.t * self.c or not 1 <= self.src_w <= 0xFFFF
                or in_base + cfg.in_h * self.src_w > build.fbuf_depth)


@dataclass(frozen=True)
class Place:
    """Where a command job's input map (``in_base``; an ADD's operand a), an ADD's operand b
    (``b_base``) and its output (``out_base``) are in the feature buffer, in beats; None:
    in the stream, as a register job's."""

    in_base: Optional[int] = None
    b_base: Optional[int] = None
    out_base: Optional[int] = None
    #: the input map is built from the source at ``in_base`` (engine 1.6), not read as is
    taps: Optional[Taps] = None

    def flags(self) -> int:
        return ((CMD_FLAG_IN_FBUF if self.in_base is not None else 0)
                | (CMD_FLAG_B_FBUF if self.b_base is not None else 0)
                | (CMD_FLAG_OUT_FBUF if self.out_base is not None else 0)
                | (self.taps.flags() if self.taps is not None else 0))


#: every part in the streams
STREAMED = Place()


def command_header(cfg: JobConfig, last: bool, place: Place = STREAMED) -> np.ndarray:
    """The header of one job: uint8, ``CMD_HEADER_BEATS * 8`` bytes.

    Words (32 bit, little endian): MAGIC, FLAGS, then OP .. ADD_MULT in register order (the
    values :meth:`JobConfig.registers` writes), then [15:0] IN_BASE, [31:16] B_BASE and
    [15:0] OUT_BASE, [31:16] the taps' SRC_W (zero where the part is in the stream).
    """
    words = np.zeros(2 * CMD_HEADER_BEATS, "<u4")
    words[0] = CMD_MAGIC
    words[1] = (CMD_FLAG_LAST if last else 0) | place.flags()
    words[2:14] = list(cfg.registers().values())
    words[14] = (place.in_base or 0) | ((place.b_base or 0) << 16)
    words[15] = (place.out_base or 0) | ((place.taps.src_w if place.taps else 0) << CMD_SRC_W_SHIFT)
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
    """CONFIG_ERR 15 (CFG_FBUF) or 16 (CFG_TAPS) if the engine refuses ``place`` for this
    job, else 0 (the engine runs these checks after checks 1-13; an IN_TAPS source's extent
    is check 16's, not 15's)."""
    ib = cfg.input_beats(build)
    a = ib // 2 if cfg.is_add else ib
    depth = build.fbuf_depth
    if ((place.in_base is not None and place.taps is None and place.in_base + a > depth)
            or (place.b_base is not None and (not cfg.is_add or place.b_base + ib // 2 > depth))
            or (place.out_base is not None and (last or place.out_base + cfg.out_beats() > depth))):
        return R.CFG_FBUF
    if place.taps is not None and (place.in_base is None or place.taps.problem(cfg, place.in_base, build)):
        return R.CFG_TAPS
    return 0


def tap_map(fbuf, cfg: JobConfig, place: Place, build: Build) -> np.ndarray:
    """The I section (uint8, whole beats) an IN_TAPS job builds from the feature buffer
    ``fbuf`` (uint64 beats): the definition the engine (1.6) and its model follow."""
    tp = place.taps
    src = np.asarray(fbuf)[place.in_base:place.in_base + cfg.in_h * tp.src_w]
    src = src.view(np.uint8).reshape(cfg.in_h, tp.src_w, STREAM_BYTES)[:, :, :tp.c]
    need = (cfg.in_w - 1) * tp.step + tp.t  # padded columns the taps reach
    xp = np.zeros((cfg.in_h, max(need, tp.pad + tp.src_w), tp.c), np.uint8)
    xp[:, tp.pad:tp.pad + tp.src_w] = src
    win = np.lib.stride_tricks.sliding_window_view(xp[:, :need], tp.t, axis=1)[:, ::tp.step]
    pix = win.transpose(0, 1, 3, 2).reshape(cfg.in_h, cfg.in_w, tp.t * tp.c)
    out = np.zeros((cfg.in_h, cfg.in_w, cfg.icg(build) * build.p_ic), np.uint8)
    out[:, :, :tp.t * tp.c] = pix
    flat = out.reshape(-1)
    return np.concatenate([flat, np.zeros(-len(flat) % STREAM_BYTES, np.uint8)])


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
    CONFIG_ERR 14 (magic, reserved FLAGS bits, taps fields without IN_TAPS)."""
    b = np.ascontiguousarray(np.asarray(buf)).view(np.uint8).reshape(-1)
    if len(b) < CMD_HEADER_BEATS * STREAM_BYTES:
        raise HeaderError(f"a command header has {CMD_HEADER_BEATS * STREAM_BYTES} bytes, got {len(b)}")
    w = [int(v) for v in b[:CMD_HEADER_BEATS * STREAM_BYTES].view("<u4")]
    taps_on = bool(w[1] & CMD_FLAG_IN_TAPS)
    if (w[0] != CMD_MAGIC or w[1] & ~CMD_FLAGS_MASK
            or (not taps_on and (w[1] >> CMD_TAP_C_SHIFT or w[15] >> CMD_SRC_W_SHIFT))):
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
                  out_base=w[15] & 0xFFFF if w[1] & CMD_FLAG_OUT_FBUF else None,
                  taps=Taps(c=(w[1] >> CMD_TAP_C_SHIFT) & 0xF, t=(w[1] >> CMD_TAP_T_SHIFT) & 0xF,
                            pad=(w[1] >> CMD_TAP_PAD_SHIFT) & 0xF, step=2 if w[1] & CMD_TAP_STEP2 else 1,
                            src_w=w[15] >> CMD_SRC_W_SHIFT) if taps_on else None)
    return cfg, bool(w[1] & CMD_FLAG_LAST), place
