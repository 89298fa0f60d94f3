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

    def run_commands(self, cfgs, stream) -> bytes:
        """A command stream (engine 1.5): each header's job in turn, until the one with
        FLAGS.LAST; the jobs' outputs back to back. ValueError as the engine's errors
        (a bad header, a rejected configuration, a stream that ends early or goes on).
        ``cfgs`` (the jobs the caller put in the stream, or None) must be the headers'."""
        if not self.build.has_command_streams:
            raise ValueError(f"engine model: an engine {self.build.version} has no command streams")
        data = np.asarray(stream, np.uint8).reshape(-1)
        pos, out, got, last, index = 0, [], [], False, 0
        hb = S.STREAM_BYTES * C.CMD_HEADER_BEATS
        while not last:
            if pos + hb > len(data):
                raise ValueError(f"engine model: the command stream ends inside job {index}'s header")
            cfg, last = C.parse_header(data[pos:pos + hb])
            n = cfg.in_beats(self.build) * S.STREAM_BYTES
            if cfg.check(self.build) == 0 and pos + hb + n > len(data):
                raise ValueError(f"engine model: the command stream ends inside job {index} ({cfg})")
            out.append(self.run_job(cfg, data[pos + hb:pos + hb + n]))
            got.append(cfg)
            pos += hb + n
            index += 1
        if cfgs is not None and list(cfgs) != got:
            raise ValueError("engine model: the command stream's headers are not the jobs given")
        if pos != len(data):
            raise ValueError(f"engine model: {len(data) - pos} bytes follow the command stream's last job")
        return b"".join(out)

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
