"""The engine in numpy, at the job level: a board with no simulator behind it.

:class:`EngineModel` has the ``run_job(cfg, stream) -> bytes`` method that
:func:`rtlcnn.core.schedule.execute` drives, as the accelerator on a board or the mock board
do: it decodes each job's input stream as docs/stream_format.md defines it and computes
with the reference's per-op functions, so schedules, tiling and packing are tested
without a simulator.
"""

from __future__ import annotations

import numpy as np

from ..core import commands as C
from ..core import reference as R
from ..core import stream as S
from ..core import unfold as U

__all__ = ["EngineModel"]


class EngineModel:
    """A numpy model of the engine at the job level: decodes each job's input stream as
    ``docs/stream_format.md`` defines it, keeps the weight and parameter buffers between
    jobs, checks the configuration as the hardware does, and computes with the reference
    per-op functions. For testing schedules and packing without a simulator."""

    def __init__(self, build: S.Build):
        self.build = build
        self.wbuf = np.zeros((build.wbuf_depth, build.p_oc * build.p_ic), np.int8)
        self.wvalid = np.zeros(build.wbuf_depth, bool)
        self.pbuf = np.zeros((build.pbuf_depth, 3), np.int64)
        self.pvalid = np.zeros(build.pbuf_depth, bool)
        self.jobs = 0
        self.beats_in = 0
        #: the on-chip feature buffer (engine 1.5): FBUF_DEPTH beats
        self.fbuf = np.zeros(max(build.fbuf_depth, 1), "<u8")

    def run_commands(self, cfgs, stream, places=None) -> bytes:
        """A command stream (engine 1.5): each header's job in turn, until the one with
        FLAGS.LAST, then the END beat; the outputs sent on m_axis back to back. Parts a
        header places in the feature buffer are read from and written to :attr:`fbuf`.
        ValueError as the engine's errors (a bad header or END, a rejected configuration,
        a stream that ends early or goes on). ``cfgs`` and ``places`` (the jobs the caller
        put in the stream, or None) must be the headers'."""
        b = self.build
        if not b.has_command_streams:
            raise ValueError(f"engine model: an engine {b.version} has no command streams")
        data = np.asarray(stream, np.uint8).reshape(-1)
        pos, out, got, last, index = 0, [], [], False, 0
        hb = S.STREAM_BYTES * C.CMD_HEADER_BEATS
        while not last:
            if pos + hb > len(data):
                raise ValueError(f"engine model: the command stream ends inside job {index}'s header")
            cfg, last, place = C.parse_header(data[pos:pos + hb])
            pos += hb
            code = cfg.check(b) or C.check_place(cfg, place, last, b)
            if code:
                raise ValueError(f"engine model: CONFIG_ERR {code} in job {index}: "
                                 f"{S.config_error_text(code)}")
            n = C.stream_part_beats(cfg, b, place) * S.STREAM_BYTES
            if pos + n > len(data):
                raise ValueError(f"engine model: the command stream ends inside job {index} ({cfg})")
            raw = self.run_job(cfg, self._splice(cfg, place, data[pos:pos + n]))
            if place.out_base is not None:
                self.fbuf[place.out_base:place.out_base + len(raw) // 8] = np.frombuffer(raw, "<u8")
            else:
                out.append(raw)
            got.append((cfg, place))
            pos += n
            index += 1
        end = data[pos:pos + S.STREAM_BYTES]
        if len(end) < S.STREAM_BYTES:
            raise ValueError("engine model: the command stream ends before its END beat")
        if bytes(end) != bytes(C.end_beat()):
            raise ValueError(f"engine model: CONFIG_ERR {S.CFG_HEADER}: the beat after the LAST job "
                             "is not END")
        pos += S.STREAM_BYTES
        if cfgs is not None and [c for c, _ in got] != list(cfgs):
            raise ValueError("engine model: the command stream's headers are not the jobs given")
        if places is not None and [p for _, p in got] != list(places):
            raise ValueError("engine model: the command stream's headers do not place the jobs as given")
        if pos != len(data):
            raise ValueError(f"engine model: {len(data) - pos} bytes follow the command stream's END beat")
        return b"".join(out)

    def _splice(self, cfg, place, part) -> np.ndarray:
        """A job's whole input stream: its stream part with the I section parts that
        ``place`` puts in the feature buffer read from there."""
        if place.in_base is None and place.b_base is None:
            return part
        ib = cfg.input_beats(self.build)
        pre = (cfg.in_beats(self.build) - ib) * S.STREAM_BYTES  # P and W
        halves = [(place.in_base, ib // 2), (place.b_base, ib // 2)] if cfg.is_add else [(place.in_base, ib)]
        pieces, pos = [part[:pre]], pre
        for base, beats in halves:
            if base is None:
                pieces.append(part[pos:pos + beats * S.STREAM_BYTES])
                pos += beats * S.STREAM_BYTES
            elif place.taps is not None:
                pieces.append(C.tap_map(self.fbuf, cfg, place, self.build))
            else:
                pieces.append(self.fbuf[base:base + beats].view(np.uint8))
        return np.concatenate(pieces)

    def run_job(self, cfg: S.JobConfig, stream) -> bytes:
        b = self.build
        code = cfg.check(b)
        if code:
            raise ValueError(f"engine model: CONFIG_ERR {code}: {S.config_error_text(code)}")
        if cfg.has_bounds and not b.has_act_bounds:
            raise ValueError(f"engine model: an engine {b.version} has no ACT register, so no "
                             f"bounds [{cfg.act_min}, {cfg.act_max}]")
        if cfg.is_add and not b.has_add:
            raise ValueError(f"engine model: an engine {b.version} has no ADD op")
        data = np.asarray(stream, np.uint8).reshape(-1)
        if len(data) != cfg.in_beats(b) * 8:
            raise ValueError(f"engine model: stream has {len(data)} bytes, the job needs "
                             f"{cfg.in_beats(b) * 8}")
        self.jobs += 1
        self.beats_in += len(data) // 8
        pos = 0
        k = cfg.eff_kernel
        icg, nog = cfg.icg(b), cfg.nog(b)
        if cfg.param_beats():
            words = data[pos:pos + 16 * cfg.out_c].view("<i4").reshape(cfg.out_c, 4)
            self.pbuf[cfg.pbase:cfg.pbase + cfg.out_c, 0] = words[:, 0]
            self.pbuf[cfg.pbase:cfg.pbase + cfg.out_c, 1] = words[:, 1]
            self.pbuf[cfg.pbase:cfg.pbase + cfg.out_c, 2] = words[:, 2].astype(np.uint8).view(np.int8)
            self.pvalid[cfg.pbase:cfg.pbase + cfg.out_c] = True
            pos += 16 * cfg.out_c
        if cfg.weight_beats(b):
            nw = cfg.weight_words(b)
            self.wbuf[cfg.wbase:cfg.wbase + nw] = data[pos:pos + nw * b.p_oc * b.p_ic].view(
                np.int8).reshape(nw, -1)
            self.wvalid[cfg.wbase:cfg.wbase + nw] = True
            pos += cfg.weight_beats(b) * 8
        maps = []
        for part in range(2 if cfg.is_add else 1):  # ADD: operand a, then b, each whole beats
            at = pos + part * cfg.input_beats(b) // 2 * 8
            xs = data[at:at + cfg.in_h * cfg.in_w * icg * b.p_ic].view(np.int8)
            xm = xs.reshape(cfg.in_h, cfg.in_w, icg * b.p_ic)[:, :, :cfg.in_c]
            maps.append(xm.transpose(2, 0, 1)[None])
        x = maps[0]
        if cfg.is_add:
            y = R.add_int(maps[0], maps[1], (cfg.add_ma, cfg.add_mb), (cfg.add_k - 31,), cfg.relu,
                          cfg.act_min, cfg.act_max)
        elif cfg.is_pool_op:
            y = R.pool2d_int(x, cfg.pool_mode)
        else:
            nw = cfg.weight_words(b)
            if not self.wvalid[cfg.wbase:cfg.wbase + nw].all() or \
                    not self.pvalid[cfg.pbase:cfg.pbase + cfg.out_c].all():
                raise ValueError("engine model: the job uses weights or parameters never loaded")
            kw = cfg.eff_kernel_w
            wq = self.wbuf[cfg.wbase:cfg.wbase + nw].reshape(nog, k, kw, icg, b.p_oc, b.p_ic)
            w = wq.transpose(0, 4, 3, 5, 1, 2).reshape(nog * b.p_oc, icg * b.p_ic, k, kw)
            if cfg.pair:  # the left filters in lanes 0.., the right ones in lanes P_OC/2..
                h = b.p_oc // 2
                w = np.stack([w[:cfg.out_c, :cfg.in_c], w[h:h + cfg.out_c, :cfg.in_c]])
            else:
                w = w[:cfg.out_c, :cfg.in_c]
            p = self.pbuf[cfg.pbase:cfg.pbase + cfg.out_c]
            pool = {S.POOL_NONE: None, S.POOL_MAX: "max", S.POOL_AVG: "avg"}[cfg.pool]
            y = U.engine_conv_int(x, w, p[:, 0], p[:, 1], p[:, 2], cfg.stride, cfg.pad, cfg.relu,
                                  pool, cfg.out_int32, pair=cfg.pair, act_min=cfg.act_min,
                                  act_max=cfg.act_max)
        vals = y[0].transpose(1, 2, 0).reshape(-1)
        raw = vals.astype("<i4" if cfg.out_int32 else np.int8).view(np.uint8)
        out = np.zeros(cfg.out_beats() * 8, np.uint8)
        out[:len(raw)] = raw
        return out.tobytes()
