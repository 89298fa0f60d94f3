"""rtlcnn.Accelerator on the mock board (the real engine RTL under cocotb): results equal
rtlcnn.reference bit for bit; faults end in clear errors and leave a working board."""

import time
import types

import mock_progs as mp
import numpy as np
import pytest

from rtlcnn.core import reference as R
from rtlcnn.core import stream as S
from rtlcnn.core.errors import AcceleratorError, DmaTimeout, InputError, LayerNotSupported
from rtlcnn.core.program import Op, Program


def _check(net, prog, x):
    got = net.predict_int(x)
    want = R.run_int(prog, x)
    assert got.dtype == want.dtype and np.array_equal(got, want), net.plan.summary()
    return got


# ------------------------------------------------------------------ results
@pytest.mark.parametrize("mix,seed", [("mixed", 1), ("mixed", 4), ("mixed", 7), ("wide", 7),
                                      ("tall", 1)])
def test_random_programs_on_a_tiny_engine(tiny_acc, mix, seed):
    """P_OC=P_IC=4 and small buffers: output-channel slices, row bands, per-batch loads."""
    prog = mp.random_program(seed, mix)
    try:
        net = tiny_acc.load(prog)
    except LayerNotSupported:
        pytest.skip("this random program does not fit the tiny engine")
    _check(net, prog, mp.images(prog, 2, seed=seed))


def test_tiling_on_the_tiny_engine_really_tiles(tiny_acc):
    net = tiny_acc.load(mp.random_program(7, "wide"))
    assert max(len(lp.slices) for lp in net.plan.layers) > 1
    net = tiny_acc.load(mp.random_program(1, "tall"), unfold=False)
    assert max(len(lp.bands) for lp in net.plan.layers) > 1
    _check(net, net.program, mp.images(net.program, 1))


def test_unfolded_and_folded_conv_agree(default_acc):
    prog = mp.random_program(4, "tall")
    x = mp.images(prog, 2)
    for unfold in (True, False):
        net = default_acc.load(prog, unfold=unfold)
        assert any(lp.unfold for lp in net.plan.layers) == unfold
        _check(net, prog, x)


def test_lenet5_mnist_bit_exact(default_acc, mnist_dir):
    from rtlcnn import models
    from rtlcnn.compile import datasets

    prog = models.load("lenet5_mnist")
    images, _ = datasets.load_mnist(mnist_dir)
    x = images[8000:8032].astype(np.float32)[:, None] / np.float32(255)
    net = default_acc.load(prog)
    assert [k[1] for k, v in net.plan._prepared.items() if v is not None] == [64]  # built at load
    y = net.predict(x)
    assert y.dtype == np.float32 and np.array_equal(y, R.run(prog, x))
    prof = net.profile()
    # the whole network chained on chip, one command stream (engine 1.5): conv1 (pair
    # layout, from the host) and conv2 (kx layout, which the engine builds from conv1's map
    # in the feature buffer: IN_TAPS, 1.6) one job an image, the LINEARs one job for the
    # 32 images
    assert [lp.layout for lp in net.plan.layers[:2]] == ["pair", "kx"]
    assert [p["jobs"] for p in prof] == [32, 32, 1, 1, 1]
    assert [p["chained"] for p in prof] == [(0, 1, 2, 3, 4)] * 5
    assert net.totals()["dma_transfers"] == 2
    assert sum(p["macs"] for p in prof) == prog.macs() * 32
    assert all(0 < p["utilization"] <= 1 for p in prof)


@pytest.mark.parametrize("c", [3, 8])
def test_in_taps_layers_on_the_engine_bit_exact(default_acc, c):
    """A pair-layout conv inside a segment: the engine builds its layout from the map the
    conv before it left in the feature buffer (IN_TAPS), one stream for the batch."""
    from rtlcnn.core.random_programs import taps_chain

    prog = taps_chain(c)
    net = default_acc.load(prog)
    assert net.plan.layers[1].layout == "pair"
    x = mp.images(prog, 5)
    _check(net, prog, x)
    assert net.totals()["dma_transfers"] == 2 and [p["chained"] for p in net.profile()] == [(0, 1, 2)] * 3


def test_digits_model_bit_exact(default_acc):
    from rtlcnn import models
    from rtlcnn.compile import datasets

    prog = models.load("digits")
    x = datasets.load_digits().heldout_images[:16]
    net = default_acc.load(models.path("digits"))  # a program file, as on the board
    assert np.array_equal(net.predict(x), R.run(prog, x))


def test_lenet5_shaped_program_keeps_weights_on_chip(default_acc):
    prog = mp.lenet5(seed=5)
    net = default_acc.load(prog)
    assert net.plan.all_resident
    x = mp.images(prog, 4)
    _check(net, prog, x)
    first = net.totals()["dma_bytes"]
    _check(net, prog, x)
    assert net.totals()["dma_bytes"] < first  # the second call sends no weights


def test_two_accelerators_on_one_engine_never_trust_each_others_weights(default_board):
    """Weights left on chip belong to the engine: a second Accelerator object (a notebook
    cell run twice, say) that overwrites them must make the first one reload its own."""
    from rtlcnn.board.accelerator import Accelerator

    prog_a, prog_b = mp.lenet5(seed=11), mp.lenet5(seed=12)
    x = mp.images(prog_a, 2)
    acc_a = Accelerator(default_board)
    net_a = acc_a.load(prog_a)
    _check(net_a, prog_a, x)  # prog_a's weights now on chip
    acc_b = Accelerator(default_board)
    net_b = acc_b.load(prog_b)
    assert net_a.key != net_b.key
    _check(net_b, prog_b, x)  # overwrites them with prog_b's, at the same addresses
    _check(net_a, prog_a, x)  # must reload, not reuse prog_b's weights


def test_icarus_end_to_end(icarus_board):
    from rtlcnn.board.accelerator import Accelerator

    acc = Accelerator(icarus_board)
    rng = np.random.default_rng(7)
    prog = Program((2, 6, 6), 1 / 64, [mp.conv(rng, 2, 4, 3, padding=1, pool="max"),
                                       mp.linear(rng, 36, 5, relu=False, out_int32=True)]).check()
    net = acc.load(prog)
    _check(net, prog, mp.images(prog, 1))
    # chained, the LINEAR one job for the chunk's three images read from the feature buffer
    # (its rows whole beats: 2 x 2 x 8 values an image), from the prepared stream
    from rtlcnn.core import chain as CH

    prog = Program((2, 4, 4), 1 / 64, [mp.conv(rng, 2, 8, 3, padding=1, pool="max"),
                                       mp.linear(rng, 32, 5, relu=False, out_int32=True)]).check()
    net = acc.load(prog)
    seg = CH.segments(net.plan)[0]
    assert (seg.first, seg.last) == (0, 1) and 1 in seg.batched
    x3 = mp.images(prog, 3, seed=2)
    _check(net, prog, x3)
    _check(net, prog, x3)
    assert [p["jobs"] for p in net.profile()] == [3, 1] and net.totals()["dma_transfers"] == 2


def test_rq_lanes_1_build_reports_itself_and_is_bit_exact(tiny_rq1_board):
    """A RQ_LANES=1 build on the mock board: its build registers say so (engine 1.2) and a
    program runs bit-exact, as on the default two-lane builds."""
    from rtlcnn.board.accelerator import Accelerator
    from rtlcnn.core.regs import VERSION_MINOR, Build

    got = Build.from_registers(tiny_rq1_board.rtlcnn_0.read)
    assert got.rq_lanes == 1 and got.version_minor == VERSION_MINOR
    assert got.parameters() == tiny_rq1_board.build_params
    acc = Accelerator(tiny_rq1_board)
    assert acc.build == got
    prog = mp.random_program(1, "mixed")
    _check(acc.load(prog), prog, mp.images(prog, 2, seed=1))


def _bounded_on(acc, prog, n=3):
    """``prog`` (with bounds that bite) bit-exact on a board."""
    net = acc.load(prog)
    assert any(lp.act != (-128, 127) for lp in net.plan.layers)
    x = mp.images(prog, n, seed=2)
    got = _check(net, prog, x)
    assert not np.array_equal(got, R.run_int(mp.without_bounds(prog), x))  # the bounds bite


def test_activation_bounds_on_the_engine(tiny_acc, icarus_board):
    """ReLU6- and Hardtanh-like bounds (ACT, engine 1.3) on a tiny engine (slices, bands,
    per-batch loads) and on Icarus; a program without bounds right after gets none."""
    from rtlcnn.board.accelerator import Accelerator

    b = tiny_acc.build
    assert b.has_act_bounds and b.version == S.Build().version and b.has_add
    prog = mp.bounded_program(0)
    _bounded_on(tiny_acc, prog)
    _check(tiny_acc.load(mp.without_bounds(prog)), mp.without_bounds(prog), mp.images(prog, 2))
    _bounded_on(Accelerator(icarus_board), prog, n=1)


def test_compiled_relu6_and_hardtanh_model(default_acc):
    """A torch model with nn.ReLU6 and nn.Hardtanh, through rtlcnn.compile, on the default
    engine: bit-exact with rtlcnn.reference (Hardtanh(-1, 1.5) becomes a lower bound)."""
    torch = pytest.importorskip("torch")
    import rtlcnn

    nn = torch.nn
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU6(), nn.MaxPool2d(2),
                          nn.Conv2d(8, 12, 3, padding=1), nn.Hardtanh(-1.0, 1.5), nn.Flatten(),
                          nn.Linear(12 * 6 * 6, 16), nn.Hardtanh(-0.5, 0.5), nn.Linear(16, 5)).eval()
    calib = np.random.default_rng(1).random((64, 1, 12, 12), dtype=np.float32) * 4
    prog = rtlcnn.compile(model, calib)
    assert [op.relu for op in prog.ops[:2]] == [True, False] and prog.ops[1].act_min > -128
    net = default_acc.load(prog)
    assert net.plan.layers[1].act == (prog.ops[1].act_min, 127)
    x = np.random.default_rng(5).random((4, 1, 12, 12), dtype=np.float32) * 4
    assert np.array_equal(net.predict(x), R.run(prog, x))
    _check(net, prog, x)


# ------------------------------------------------------------------ faults
def _small(acc):
    prog = mp.lenet5(seed=9)
    return acc.load(prog), prog


def test_stalled_stream_times_out_and_the_board_recovers(default_acc, default_board):
    net, prog = _small(default_acc)
    x = mp.images(prog, 2)
    default_acc.timeout = 3.0
    try:
        default_board.inject_fault("mm2s_truncate", 5)  # the first job's input stops early
        t0 = time.monotonic()
        with pytest.raises(DmaTimeout) as info:
            net.predict_int(x)
        assert time.monotonic() - t0 < 30
        e = info.value
        assert e.channel == "send" and e.dma_status & 0x2 == 0 and e.completed == []
        assert "reset" in str(e)
    finally:
        default_acc.timeout = None
    _check(net, prog, x)


def _transfers(net, x, batch_size=None) -> int:
    """DMA send transfers of a call (a job, or a layer's command stream, each)."""
    net.predict_int(x, batch_size=batch_size)
    return net.totals()["dma_transfers"] // 2


def test_short_packet_is_an_engine_error_and_completed_images_are_named(default_acc, default_board):
    net, prog = _small(default_acc)
    x = mp.images(prog, 2)
    # one command stream for the batch (the whole network on chip); fail it at its first
    # beat: no image is complete, rows stay zeros
    per2 = _transfers(net, x)
    assert per2 == 1
    default_board.inject_fault("mm2s_early_tlast", 1, after=per2 - 1)
    with pytest.raises(AcceleratorError) as info:
        net.predict_int(x)
    e = info.value
    assert e.error_bits & S.ERR_TLAST_EARLY and e.status & S.STATUS_ERROR
    assert e.completed == [] and not e.partial_output.any()
    _check(net, prog, x)
    # batches of one: images 0 and 1 are done when the third image's last transfer fails
    x3 = mp.images(prog, 3, seed=4)
    per1 = _transfers(net, x3[:1], 1)
    default_board.inject_fault("mm2s_early_tlast", 1, after=3 * per1 - 1)
    with pytest.raises(AcceleratorError) as info:
        net.predict_int(x3, batch_size=1)
    assert info.value.completed == [0, 1]
    assert np.array_equal(info.value.partial_output[:2], R.run_int(prog, x3[:2]))
    # batches of two, five images: batch 0 done, batch 1's last job fails
    x5 = mp.images(prog, 5, seed=6)
    default_board.inject_fault("mm2s_early_tlast", 1, after=2 * per2 - 1)
    with pytest.raises(AcceleratorError) as info:
        net.predict_int(x5, batch_size=2)
    e = info.value
    assert e.completed == [0, 1]
    want = R.run_int(prog, x5)
    for i in e.completed:
        assert np.array_equal(e.partial_output[i], want[i]), i
    assert not e.partial_output[2:].any()
    _check(net, prog, x5)


def test_a_failed_command_stream_names_its_job_and_keeps_the_images_before_it(default_acc, default_board):
    from rtlcnn.core.random_programs import conv

    rng = np.random.default_rng(5)
    ops = [conv(rng, 3, 8, 3, padding=1), conv(rng, 8, 5, 3, relu=False, out_int32=True)]
    prog = Program(input_shape=(3, 10, 10), input_scale=1 / 127, name="two convs", ops=ops).check()
    net = default_acc.load(prog, unfold=False)
    x = mp.images(prog, 4, seed=2)
    want = _check(net, prog, x)  # the weights are on chip now
    assert net.totals()["dma_transfers"] == 2  # both convs chained: one stream, 8 jobs
    lp = net.plan.layers[0]
    # the chunk's jobs layer after layer: conv1's four (a header and the image's input
    # each), then conv2's four (a header each: the input is on chip)
    conv1 = lp.config(lp.slices[0], lp.bands[0], False, 1)
    beats = 4 * (S.CMD_HEADER_BEATS + conv1.in_beats(default_acc.build)) + 2 * S.CMD_HEADER_BEATS
    # the stream ends inside job 6 (image 2's conv2): images 0 and 1 have their outputs
    default_board.inject_fault("mm2s_early_tlast", beats + 3)
    with pytest.raises(AcceleratorError, match=r"\(ERROR=0x2: input TLAST early\) in job 6 of a command "
                       r"stream of 8 jobs") as info:
        net.predict_int(x)
    e = info.value
    assert e.completed == [0, 1] and e.jobs_done == 6
    assert np.array_equal(e.partial_output[:2], want[:2]) and not e.partial_output[2:].any()
    _check(net, prog, x)


def test_command_streams_start_and_finish_one_at_a_time(default_acc):
    """start_commands returns with the engine running; a second start before the finish
    is refused (nothing sent); cancel_commands leaves a working board; a call of several
    batches overlaps them and equals the reference."""
    from rtlcnn.core import chain as CH
    from rtlcnn.core import chain_run as CR
    from rtlcnn.core.jobs import output_array

    net, prog = _small(default_acc)
    x = mp.images(prog, 6, seed=11)
    want = _check(net, prog, x)  # the weights on chip: the next calls are prepared
    seg = CH.segments(net.plan)[0]
    assert (seg.first, seg.last) == (0, len(net.plan.layers) - 1)
    prep = CR._prepared(net.plan, seg, default_acc, default_acc.residency, net.key, 6)
    t = prep.transfers[0]
    prep._fill(t, prep._source({-1: prog.quantize_input(x)}, 6))
    ticket = default_acc.start_commands(t.cfgs, t.data, t.places)
    with pytest.raises(AcceleratorError, match="still running"):
        default_acc.start_commands(t.cfgs, t.data, t.places)
    raw = default_acc.finish_commands(ticket)
    y, done = output_array(prep.last, 6), []
    prep._take(t, raw, y, None, done, len(t.cfgs))
    assert done == list(range(6)) and np.array_equal(y.reshape(want.shape), want)
    ticket = default_acc.start_commands(t.cfgs, t.data, t.places)
    default_acc.cancel_commands(ticket)  # (as after an interruption): engine and DMA reset
    _check(net, prog, x)
    x9 = mp.images(prog, 9, seed=12)
    got = net.predict_int(x9, batch_size=4)  # batches of 4, 4 and 1, overlapped
    assert np.array_equal(got, R.run_int(prog, x9)) and net.totals()["dma_transfers"] == 6


def test_reset_restarts_both_channels_and_jobs_run_after_it(default_acc):
    net, prog = _small(default_acc)
    x = mp.images(prog, 2, seed=3)
    _check(net, prog, x)
    t0 = time.monotonic()
    default_acc.reset()
    assert time.monotonic() - t0 < 10
    for off in (0x04, 0x34):  # DMASR of MM2S and S2MM: running (not halted), no error bits
        assert default_acc.dma_mmio.read(off) & 0x71 == 0
    for ch in (default_acc.dma.sendchannel, default_acc.dma.recvchannel):
        assert ch.running
    assert not default_acc.residency.held
    _check(net, prog, x)


def test_keyboard_interrupt_mid_call_leaves_a_working_board(default_acc):
    import signal

    net, prog = _small(default_acc)
    x = mp.images(prog, 8)

    def interrupt(*_):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    try:
        for delay in (0.05, 0.2, 0.5):
            signal.setitimer(signal.ITIMER_REAL, delay)
            try:
                net.predict_int(x)
            except KeyboardInterrupt:
                pass
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            _check(net, prog, x[:2])
    finally:
        signal.signal(signal.SIGALRM, old)


def test_missing_invalidate_gives_wrong_results(default_acc, monkeypatch):
    from pynq.buffer import PynqBuffer

    net, prog = _small(default_acc)
    x = mp.images(prog, 2, seed=11)
    monkeypatch.setattr(PynqBuffer, "invalidate", lambda self: None)
    assert not np.array_equal(net.predict_int(x), R.run_int(prog, x))
    monkeypatch.undo()
    _check(net, prog, x)


def test_bad_inputs_are_rejected_before_anything_is_sent(default_acc, default_board):
    net, prog = _small(default_acc)
    before = default_board.device.register_accesses
    good = mp.images(prog, 2)
    for bad, what in [(good[:, :, :27], "shape"), (good[0], "one image"),
                      ((good * 255).astype(np.uint8), "dtype"), (np.full_like(good, np.nan), "NaN")]:
        with pytest.raises(InputError, match=what):
            net.predict(bad)
    with pytest.raises(InputError):
        net.predict(good, batch_size=0)
    assert default_board.device.register_accesses == before


def test_programs_the_engine_cannot_run_are_rejected_at_load(tiny_acc, tiny_board):
    rng = np.random.default_rng(0)
    before = tiny_board.device.register_accesses
    fat = Program((64, 6, 6), 0.1, [mp.conv(rng, 64, 8, 5, padding=2)]).check()
    with pytest.raises(LayerNotSupported, match="weight buffer"):
        tiny_acc.load(fat)
    # a wide map runs in column tiles; a map of so many channels that not even one 2x2 window
    # fits the input buffer does not
    deep = Program((1000, 4, 4), 0.1, [Op("maxpool", name="mp")]).check()
    with pytest.raises(LayerNotSupported, match="input buffer"):
        tiny_acc.load(deep, unfold=False)
    assert tiny_board.device.register_accesses == before


# ------------------------------------------------------------------ overlays
class _Overlay:
    def __init__(self, ip_dict, **attrs):
        self.ip_dict = ip_dict
        self.__dict__.update(attrs)


def test_overlay_without_the_accelerator_is_rejected_with_its_ip_list():
    from rtlcnn.board.accelerator import Accelerator

    ol = _Overlay({"axi_dma_0": {"type": "xilinx.com:ip:axi_dma:7.1"},
                   "axi_gpio_0": {"type": "xilinx.com:ip:axi_gpio:2.0"}})
    with pytest.raises(AcceleratorError, match="axi_gpio_0") as info:
        Accelerator(ol)
    assert "rtlcnn" in str(info.value)


def test_unknown_major_version_is_refused():
    pytest.importorskip("pynq")
    from pynq.pl_server.device import Device

    from rtlcnn.board.accelerator import Accelerator

    class Regs(Device):
        capabilities = {"REGISTER_RW": True}

        def __init__(self):
            super().__init__("regs")
            self.regs = {0x43C00000: S.ID_VALUE, 0x43C00004: 0x00020000}

        def read_registers(self, addr, length):
            return int(self.regs.get(addr, 0)).to_bytes(4, "little")

        def write_registers(self, addr, data):
            pass

    dev = Regs()
    eng = {"type": "xilinx.com:module_ref:rtlcnn_top:1.0", "phys_addr": 0x43C00000,
           "addr_range": 0x10000, "device": dev, "fullpath": "rtlcnn_0"}
    dma = {"type": "xilinx.com:ip:axi_dma:7.1", "phys_addr": 0x40400000, "addr_range": 0x10000,
           "device": dev, "parameters": {}}
    ol = _Overlay({"rtlcnn_0": eng, "axi_dma_0": dma}, rtlcnn_0=object(),
                  axi_dma_0=types.SimpleNamespace(mmio=None))
    with pytest.raises(AcceleratorError, match="version 2.0"):
        Accelerator(ol)
