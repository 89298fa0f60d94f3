"""numpy unit tests of rtlcnn.stream: the register map and stream format in Python."""

import numpy as np
import pytest

from rtlcnn.core import reference, stream
from rtlcnn.core.stream import Build, JobConfig

BUILDS = [
    Build(),
    Build(p_oc=4, p_ic=4, wbuf_depth=512, ibuf_depth=1024, pbuf_depth=128),
    Build(p_oc=8, p_ic=1),
]


def test_register_offsets_match_doc():
    assert stream.REGISTERS["ID"] == 0x000
    assert stream.REGISTERS["CTRL"] == 0x040
    assert stream.REGISTERS["OP"] == 0x080
    assert stream.REGISTERS["PBASE"] == 0x0A4
    assert stream.REGISTERS["CYC_OUT_STALL"] == 0x0CC
    assert stream.ID_VALUE.to_bytes(4, "big") == b"RCNN"
    assert len(set(stream.REGISTERS.values())) == len(stream.REGISTERS)


def test_op_and_pad_words():
    cfg = JobConfig(
        op=stream.OPCODE_CONV, relu=True, pool=stream.POOL_AVG, load_params=True, load_weights=False
    )
    assert cfg.op_word() == 0 | (1 << 4) | (2 << 5) | (1 << 8)
    cfg = JobConfig(op=stream.OPCODE_LINEAR, out_int32=True, relu=False, load_params=False, load_weights=True)
    assert cfg.op_word() == 1 | (1 << 7) | (1 << 9)
    assert JobConfig(pad=(1, 2, 3, 4)).pad_word() == 0x4321
    with pytest.raises(ValueError):
        JobConfig(pad=(16, 0, 0, 0)).pad_word()


def test_act_word_and_the_register_block():
    """ACT (engine 1.3): [7:0] act_min, [15:8] act_max as int8; always the word after PBASE,
    so OP .. ACT are eleven consecutive words, the default one being the reset value."""
    assert JobConfig().act_word() == stream.ACT_RESET == 0x7F80 and not JobConfig().has_bounds
    assert JobConfig(relu=True, act_max=100).act_word() == 0x6480  # ReLU6-like [0, 100]
    assert JobConfig(act_min=-50, act_max=60).act_word() == 0x3CCE  # Hardtanh-like
    assert JobConfig(act_min=-50, act_max=60).has_bounds
    regs = JobConfig(act_min=-50, act_max=60).registers()
    assert list(regs) == [stream.REG_OP + 4 * i for i in range(12)] and list(regs)[-2] == stream.REG_ACT
    assert regs[stream.REG_ACT] == 0x3CCE and regs[stream.REG_ADD_MULT] == 0  # ADD_MULT last (1.4)
    for bad in (dict(act_min=-129), dict(act_max=128)):
        with pytest.raises(ValueError, match="int8 field of ACT"):
            JobConfig(**bad).act_word()


def test_pack_params_layout():
    bias = np.array([-1, 5], np.int64)
    mult = np.array([2**31 - 1, -7], np.int64)
    shift = np.array([-3, 4], np.int64)
    b = stream.pack_params(bias, mult, shift)
    assert b.dtype == np.uint8 and len(b) == 32
    beats = b.reshape(-1, 8)
    for oc in range(2):
        a, s = beats[2 * oc], beats[2 * oc + 1]
        assert int.from_bytes(a[:4].tobytes(), "little", signed=True) == bias[oc]
        assert int.from_bytes(a[4:].tobytes(), "little", signed=True) == mult[oc]
        assert np.int8(s[0].view(np.int8)) == shift[oc]
        assert not s[1:].any()


@pytest.mark.parametrize("build", BUILDS, ids=lambda b: f"{b.p_oc}x{b.p_ic}")
def test_pack_weights_layout(build):
    rng = np.random.default_rng(1)
    o, i, k = 2 * build.p_oc + 3, build.p_ic + 1, 3
    w = rng.integers(-127, 128, (o, i, k, k)).astype(np.int8)
    b = stream.pack_weights(w, build.p_oc, build.p_ic).view(np.int8)
    nog, icg = -(-o // build.p_oc), -(-i // build.p_ic)
    word = build.p_oc * build.p_ic
    assert len(b) == nog * k * k * icg * word
    for g in range(nog):
        for kpos in range(k * k):
            ky, kx = divmod(kpos, k)
            for ig in range(icg):
                base = ((g * k * k + kpos) * icg + ig) * word
                for oo in range(build.p_oc):
                    for ii in range(build.p_ic):
                        oc, ic = g * build.p_oc + oo, ig * build.p_ic + ii
                        want = w[oc, ic, ky, kx] if oc < o and ic < i else 0
                        assert b[base + oo * build.p_ic + ii] == want


@pytest.mark.parametrize("build", BUILDS, ids=lambda b: f"{b.p_oc}x{b.p_ic}")
def test_pack_input_layout(build):
    rng = np.random.default_rng(2)
    c, h, w = build.p_ic + 2, 3, 4
    x = rng.integers(-128, 128, (c, h, w)).astype(np.int8)
    b = stream.pack_input(x, build.p_ic).view(np.int8)
    icg = -(-c // build.p_ic)
    assert len(b) == h * w * icg * build.p_ic
    for y in range(h):
        for xx in range(w):
            for ch in range(icg * build.p_ic):
                want = x[ch, y, xx] if ch < c else 0
                assert b[((y * w + xx) * icg) * build.p_ic + ch] == want


def _random_cfg(rng, build):
    kind = rng.integers(0, 4)
    if kind == 0:
        k = int(rng.choice([1, 3, 5, 7]))
        return JobConfig(
            op=stream.OPCODE_CONV,
            in_c=int(rng.integers(1, 12)),
            in_h=int(rng.integers(k, 12)),
            in_w=int(rng.integers(k, 12)),
            out_c=int(rng.integers(1, 20)),
            kernel=k,
            stride=int(rng.integers(1, 3)),
            pad=tuple(int(v) for v in rng.integers(0, k, 4)),
            pool=int(rng.integers(0, 3)),
            relu=bool(rng.integers(0, 2)),
        )
    if kind == 1:
        return JobConfig.linear(int(rng.integers(1, 100)), int(rng.integers(1, 40)))
    return JobConfig.pool2d(
        "max" if kind == 2 else "avg",
        int(rng.integers(1, 9)),
        int(rng.integers(2, 9)),
        int(rng.integers(2, 9)),
    )


def _documented_beats(cfg, build, out_shape):
    """(IN_BEATS, OUT_BEATS) from the job's raw fields by the formulas of docs/stream_format.md;
    ``out_shape`` is (OUT_C, OUT_H, OUT_W) as rtlcnn.reference computes it."""
    pool_op = cfg.op in (stream.OPCODE_MAXPOOL, stream.OPCODE_AVGPOOL)
    p = int(cfg.load_params and not pool_op)  # [P]
    w = int(cfg.load_weights and not pool_op)  # [W]
    kk = 1 if pool_op else cfg.kernel * cfg.kernel
    icg = -(-cfg.in_c // build.p_ic)
    nog = -(-cfg.out_c // build.p_oc)
    in_beats = (2 * cfg.out_c * p + nog * kk * icg * build.p_oc * build.p_ic // 8 * w
                + -(-cfg.in_h * cfg.in_w * icg * build.p_ic // 8))
    out_c, out_h, out_w = out_shape
    out_beats = -(-out_h * out_w * out_c * (4 if cfg.out_int32 else 1) // 8)
    return in_beats, out_beats


MIN_ACCEPTED = 40  # of the 60 random configs per build (53 pass check() with this seed)


@pytest.mark.parametrize("build", BUILDS, ids=lambda b: f"{b.p_oc}x{b.p_ic}")
def test_derived_values_agree_with_reference(build):
    rng = np.random.default_rng(3)
    accepted = {"conv": 0, "linear": 0, "pool": 0, "int32": 0}
    for _ in range(60):
        cfg = _random_cfg(rng, build)
        if not cfg.is_pool_op and rng.integers(0, 2):
            cfg = cfg.replace(out_int32=True)
        if cfg.check(build) != 0:
            continue
        x = rng.integers(-128, 128, (1, cfg.in_c, cfg.in_h, cfg.in_w)).astype(np.int8)
        if cfg.is_pool_op:
            y = reference.pool2d_int(x, cfg.pool_mode)
        else:
            k = cfg.kernel
            w = rng.integers(-127, 128, (cfg.out_c, cfg.in_c, k, k)).astype(np.int8)
            z = np.zeros(cfg.out_c, np.int64)
            y = reference.conv2d_int(x, w, z, z + 2**30, z, cfg.stride, cfg.pad, cfg.relu, cfg.pool_mode)
        assert y.shape[1:] == (cfg.out_c, cfg.out_h, cfg.out_w)
        params = (np.zeros(cfg.out_c), np.ones(cfg.out_c), np.zeros(cfg.out_c)) if cfg.param_beats() else None
        weights = (
            np.zeros((cfg.out_c, cfg.in_c, cfg.kernel, cfg.kernel), np.int8)
            if cfg.weight_beats(build)
            else None
        )
        s = stream.job_stream(cfg, build, params, weights, x[0])
        # the documented IN_BEATS and OUT_BEATS, from the raw fields and the reference's shape
        in_beats, out_beats = _documented_beats(cfg, build, y.shape[1:])
        assert s.dtype == np.uint8 and len(s) == 8 * in_beats
        assert cfg.in_beats(build) == in_beats and cfg.out_beats() == out_beats
        kind = "pool" if cfg.is_pool_op else "linear" if cfg.op == stream.OPCODE_LINEAR else "conv"
        accepted[kind] += 1
        accepted["int32"] += cfg.out_int32
    assert accepted["conv"] + accepted["linear"] + accepted["pool"] >= MIN_ACCEPTED, accepted
    assert all(n >= 3 for n in accepted.values()), accepted  # every kind of job, and int32 outputs


def test_unpack_output_roundtrip():
    rng = np.random.default_rng(4)
    for int32 in (False, True):
        cfg = JobConfig(in_c=3, in_h=5, in_w=4, out_c=5, kernel=3, pad=(1, 1, 0, 2), out_int32=int32)
        dt = np.int32 if int32 else np.int8
        y = rng.integers(-100, 100, (cfg.out_c, cfg.out_h, cfg.out_w)).astype(dt)
        raw = np.ascontiguousarray(y.transpose(1, 2, 0)).view(np.uint8).reshape(-1)
        raw = np.concatenate([raw, np.zeros(cfg.out_beats() * 8 - len(raw), np.uint8)])
        assert len(raw) == cfg.out_beats() * 8
        back = stream.unpack_output(raw, cfg)
        assert back.dtype == dt and np.array_equal(back, y)


@pytest.mark.parametrize(
    "cfg, code",
    [
        (JobConfig(op=5), stream.CFG_OPCODE),
        (JobConfig(in_c=0), stream.CFG_ZERO_DIM),
        (JobConfig(out_c=0), stream.CFG_ZERO_DIM),
        (JobConfig(kernel=8, in_h=9, in_w=9), stream.CFG_CONV),
        (JobConfig(kernel=0), stream.CFG_CONV),
        (JobConfig(stride=3), stream.CFG_CONV),
        (JobConfig(kernel=3, in_h=5, in_w=5, pad=(0, 3, 0, 0)), stream.CFG_CONV),
        (JobConfig.linear(10, 10, kernel=3), stream.CFG_LINEAR),
        (JobConfig.linear(10, 10, in_h=2), stream.CFG_LINEAR),
        (JobConfig.linear(10, 10, pool=1), stream.CFG_LINEAR),
        (JobConfig.pool2d("max", 4, 4, 4).replace(out_c=3), stream.CFG_POOL_OP),
        (JobConfig.pool2d("avg", 4, 4, 4).replace(load_params=True), stream.CFG_POOL_OP),
        (JobConfig(in_h=4, in_w=4, pool=3), stream.CFG_POOL_MODE),
        (JobConfig(out_int32=True, relu=True), stream.CFG_POOL_MODE),
        (JobConfig(in_h=4, in_w=4, out_int32=True, pool=1), stream.CFG_POOL_MODE),
        (JobConfig(kernel=3, in_h=2, in_w=5), stream.CFG_EMPTY_OUTPUT),
        (JobConfig(kernel=1, in_h=1, in_w=5, pool=1), stream.CFG_EMPTY_OUTPUT),
        (JobConfig.pool2d("max", 4, 1, 4), stream.CFG_EMPTY_OUTPUT),
        (JobConfig(in_c=9, in_h=64, in_w=33), stream.CFG_INPUT_FIT),
        (JobConfig(in_c=8, kernel=7, in_h=7, in_w=7, out_c=700), stream.CFG_WEIGHT_FIT),
        (JobConfig(wbase=2048), stream.CFG_WEIGHT_FIT),
        (JobConfig(pbase=1000, out_c=25), stream.CFG_PARAM_FIT),
        (JobConfig(pbase=1000, out_c=24, in_h=3, in_w=3, kernel=3), stream.CFG_OK),
        (JobConfig.pool2d("avg", 40, 5, 5), stream.CFG_OK),
        (JobConfig(act_min=10, act_max=5), stream.CFG_ACT),
        (JobConfig(relu=True, act_max=-1), stream.CFG_ACT),
        (JobConfig.linear(10, 10, out_int32=True, act_max=100), stream.CFG_ACT),
        (JobConfig(relu=True, act_min=-100, act_max=0), stream.CFG_OK),
        (JobConfig.linear(10, 10, act_min=7, act_max=7), stream.CFG_OK),
        (JobConfig.pool2d("max", 4, 4, 4).replace(act_min=10, act_max=5), stream.CFG_OK),  # ignored
    ],
)
def test_check_codes(cfg, code):
    assert cfg.check(Build()) == code, stream.config_error_text(cfg.check(Build()))


def test_lenet_figures():
    b = Build()
    c1 = JobConfig(
        in_c=1, in_h=28, in_w=28, out_c=6, kernel=5, pad=(2, 2, 2, 2), relu=True, pool=stream.POOL_MAX
    )
    assert (c1.out_h, c1.out_w, c1.out_beats()) == (14, 14, 147)
    assert c1.mac_steps(b) == 28 * 28 * 25
    fc = JobConfig.linear(400, 120, relu=True)
    assert fc.weight_words(b) == 8 * 50 and fc.mac_steps(b) == 400


def test_add_job_registers_stream_and_checks():
    """ADD (engine 1.4): OP[21:16] = k, ADD_MULT = Ma | Mb << 16; the I section holds a then
    b, each padded to whole beats; each operand in IBUF_DEPTH/2 words; check 13."""
    b = Build(p_oc=4, p_ic=4, ibuf_depth=64)
    cfg = JobConfig.add(5, 3, 2, 40960, 16384, 15, relu=True, act_max=100)
    assert cfg.check(b) == 0 and cfg.out_c == 5 and (cfg.out_h, cfg.out_w) == (3, 2)
    regs = cfg.registers()
    assert regs[stream.REG_OP] == stream.OPCODE_ADD | stream.OP_RELU | (15 << 16)
    assert regs[stream.REG_ADD_MULT] == 40960 | (16384 << 16)
    assert cfg.input_words(b) == 12 and cfg.input_beats(b) == 12 and cfg.in_beats(b) == 12
    assert cfg.out_beats() == 4 and cfg.mac_steps(b) == 12 and cfg.macs() == 0
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (2, 5, 3, 2)).astype(np.int8)
    s = stream.job_stream(cfg, b, None, None, (x[0], x[1]))
    half = len(s) // 2
    assert np.array_equal(s[:half], stream._pad_to_beat(stream.pack_input(x[0], 4)))
    assert np.array_equal(s[half:], stream._pad_to_beat(stream.pack_input(x[1], 4)))
    # P_IC = 1 and an odd word count: each operand padded to a whole beat
    b1 = Build(p_oc=8, p_ic=1, ibuf_depth=64)
    odd = JobConfig.add(1, 3, 3, 1, 1, 1)
    ops = (x[0, :1, :3, :1].repeat(3, 2),) * 2
    assert odd.input_beats(b1) == 4 and len(stream.job_stream(odd, b1, None, None, ops)) == 32
    assert JobConfig.add(4, 32, 1, 1, 1, 1).check(b) == 0  # 32 words: half of 64
    assert JobConfig.add(4, 33, 1, 1, 1, 1).check(b) == stream.CFG_INPUT_FIT
    for bad in (dict(out_c=4), dict(load_params=True), dict(pool=stream.POOL_MAX),
                dict(out_int32=True, relu=False, act_max=127), dict(add_k=0), dict(add_k=63)):
        assert cfg.replace(**bad).check(b) == stream.CFG_ADD, bad
    assert cfg.replace(pair=True).check(b) == stream.CFG_PAIR
    with pytest.raises(ValueError, match="16-bit field of ADD_MULT"):
        cfg.replace(add_ma=1 << 16).add_mult_word()
