"""Failure paths of rtlcnn.Accelerator without a simulator (numpy, and pynq's DMA classes on
a fake register file): a failed call keeps the results of every image it names as
completed, and a reset that cannot finish raises instead of hanging."""

import time
import types

import mock_progs as mp
import numpy as np
import pytest

from rtlcnn.board.accelerator import Accelerator, Network
from rtlcnn.core import reference as R
from rtlcnn.core import schedule as SC
from rtlcnn.core import stream as S
from rtlcnn.core.errors import AcceleratorError, DmaTimeout
from rtlcnn.core.program import Program
from rtlcnn.sim.engine_model import EngineModel

TINY = S.Build(p_oc=4, p_ic=4, wbuf_depth=64, ibuf_depth=256, pbuf_depth=16)


# ------------------------------------------------------------------ results kept on failure
class _FailingAcc:
    """What Network needs of an Accelerator, on the numpy engine model; job ``fail_at``
    (0-based, counted over the whole call) raises as a failed job does on the board."""

    def __init__(self, build, fail_at=None, exc=AcceleratorError):
        self.build = build
        self.engine = EngineModel(build)
        self.residency = SC.Residency()
        self.clock_mhz = 100.0
        self.fail_at = fail_at
        self.exc = exc
        self.jobs = 0

    def run_job(self, cfg, stream):
        if self.jobs == self.fail_at:
            self.residency.clear()  # as Accelerator._recover's reset does
            raise self.exc("injected failure")
        self.jobs += 1
        return self.engine.run_job(cfg, stream)

    def read_counters(self):
        return (100, 50, 0, 0)


def _banded_program():
    """The last op runs as 2 output-channel slices x 2 row bands on TINY."""
    rng = np.random.default_rng(0)
    return Program((1, 12, 12), 1 / 64, [mp.conv(rng, 1, 8, 3, padding=1),
                                         mp.conv(rng, 8, 16, 3, relu=False, out_int32=True)]).check()


def _last_job_of(pl, image, batch):
    """0-based index, within its batch, of an image's last job (execute's documented order:
    layer by layer; within a layer slice by slice, chunk by chunk (one image a chunk, but
    LINEAR layers take several), band by band)."""
    before = sum(lp.jobs(batch) for lp in pl.layers[:-1])
    last = pl.layers[-1]
    nb = len(last.bands)
    chunks = last.chunks(batch)
    c = next(j for j, (i0, i1) in enumerate(chunks) if i0 <= image < i1)
    return before + (len(last.slices) - 1) * len(chunks) * nb + c * nb + nb - 1


@pytest.mark.parametrize("which", ["banded", "lenet5"])
@pytest.mark.parametrize("bs", [1, 2, 3, 5])
def test_completed_images_keep_their_results(which, bs):
    prog, build = (_banded_program(), TINY) if which == "banded" else (mp.lenet5(seed=9), S.Build())
    pl = SC.plan(prog, build, unfold=False)
    if which == "banded":
        assert len(pl.layers[-1].slices) > 1 and len(pl.layers[-1].bands) > 1
    n = 5
    x = mp.images(prog, n, seed=2)
    want = R.run_int(prog, x)
    sizes = [min(bs, n - b0) for b0 in range(0, n, bs)]
    per_batch = [pl.jobs(m) for m in sizes]
    total = sum(per_batch)
    fails = sorted({0, 1, total - 1} | set(range(0, total, max(1, total // 23))))
    for fail_at in fails:
        acc = _FailingAcc(build, fail_at, exc=DmaTimeout if fail_at % 2 else AcceleratorError)
        net = Network(acc, prog, pl, "net")
        with pytest.raises(AcceleratorError) as info:
            net.predict_int(x, batch_size=bs)
        e = info.value
        # which images were complete when job fail_at failed
        expect, start = [], 0
        for bi, m in enumerate(sizes):
            b0 = bi * bs
            if fail_at >= start + per_batch[bi]:
                expect += list(range(b0, b0 + m))
            else:
                expect += [b0 + i for i in range(m) if _last_job_of(pl, i, m) < fail_at - start]
                break
            start += per_batch[bi]
        assert e.completed == expect, (fail_at, bs)
        assert e.partial_output.shape == want.shape and e.partial_output.dtype == want.dtype
        for i in range(n):
            if i in e.completed:
                assert np.array_equal(e.partial_output[i], want[i]), (fail_at, bs, i)
            else:
                assert not e.partial_output[i].any(), (fail_at, bs, i)
    # and without a failure the whole call is exact
    assert np.array_equal(Network(_FailingAcc(build), prog, pl, "net").predict_int(
        x, batch_size=bs), want)


def test_last_job_of_a_batch_of_two_fails():
    """The reviewer's case: completed == [0] must come with image 0's real output (a last
    op with one job an image); LeNet's last op takes both images in one job, so its
    failure leaves none complete."""
    prog = _banded_program()
    pl = SC.plan(prog, TINY, unfold=False)
    x = mp.images(prog, 2, seed=5)
    acc = _FailingAcc(TINY, fail_at=pl.jobs(2) - 1)
    with pytest.raises(AcceleratorError) as info:
        Network(acc, prog, pl, "net").predict_int(x)
    e = info.value
    assert e.completed == [0]
    assert np.array_equal(e.partial_output[0], R.run_int(prog, x[:1])[0])
    assert not e.partial_output[1].any()
    prog = mp.lenet5(seed=9)
    pl = SC.plan(prog, S.Build())
    acc = _FailingAcc(S.Build(), fail_at=pl.jobs(2) - 1)
    with pytest.raises(AcceleratorError) as info:
        Network(acc, prog, pl, "net").predict_int(mp.images(prog, 2, seed=5))
    assert info.value.completed == [] and not info.value.partial_output.any()


def test_execute_fills_out_as_images_complete():
    prog = _banded_program()
    pl = SC.plan(prog, TINY, unfold=False)
    x = prog.quantize_input(mp.images(prog, 3, seed=1))
    out = np.zeros((3,) + tuple(pl.layers[-1].out_shape), np.int32)
    done = []
    outs = SC.execute(pl, x, EngineModel(TINY), SC.Residency(), "k", out=out, completed=done)
    assert done == [0, 1, 2] and np.array_equal(out, outs[-1])
    with pytest.raises(ValueError, match="shape"):
        SC.execute(pl, x, EngineModel(TINY), SC.Residency(), "k", out=out[:2])


# ------------------------------------------------------------------ reset with a deadline
class _FakeDmaRegs:
    """PG021 simple-mode registers of an AXI DMA, enough for reset and start. ``stuck``:
    "reset" (the reset bit never clears), "MM2S" or "S2MM" (that channel never leaves halt)."""

    def __init__(self, log):
        self.log = log
        self.stuck = None
        self.regs = {0x00: 0x10000, 0x04: 0x1, 0x30: 0x10000, 0x34: 0x1}

    def read(self, off, length=4):
        if off in (0x00, 0x30) and self.stuck == "reset" and self.log.count("dma_reset"):
            return self.regs[off] | 0x4
        return self.regs.get(off, 0)

    def write(self, off, value):
        if off in (0x00, 0x30):
            if value & 0x4:
                self.log.append("dma_reset")
                for o in (0x00, 0x30):
                    self.regs[o], self.regs[o + 4] = 0x10000, 0x1  # halted, not idle
                return
            self.regs[off] = value
            name = "MM2S" if off == 0 else "S2MM"
            if value & 1 and self.stuck != name:
                self.regs[off + 4] &= ~0x1
            self.log.append(f"run {name} 0x{value:x}")
        else:
            self.regs[off] = value


class _FakeEngineRegs:
    def __init__(self, log):
        self.log = log

    def write(self, off, value):
        if off == S.REG_CTRL and value == S.CTRL_SOFT_RESET:
            self.log.append("soft_reset")

    def read(self, off):
        return 0


class _Buf:
    physical_address = 0x1000_0000
    nbytes = 64

    def flush(self):
        pass

    def invalidate(self):
        pass


def _fake_acc(interrupt=None):
    """An Accelerator on fake registers, with pynq's own DMA channel objects."""
    dma_mod = pytest.importorskip("pynq.lib.dma")
    log = []
    regs = _FakeDmaRegs(log)
    send = dma_mod._SDMAChannel(regs, 1 << 20, 8, dma_mod.DMA_TYPE_TX, False, interrupt)
    recv = dma_mod._SDMAChannel(regs, 1 << 20, 8, dma_mod.DMA_TYPE_RX, False, interrupt)
    acc = Accelerator.__new__(Accelerator)
    acc.mmio, acc.dma_mmio = _FakeEngineRegs(log), regs
    acc.dma = types.SimpleNamespace(sendchannel=send, recvchannel=recv, mmio=regs)
    acc.residency = SC.Residency()
    log.clear()
    return acc, regs, log


def test_reset_restarts_the_channels_for_pynq():
    acc, regs, log = _fake_acc()
    for ch in (acc.dma.sendchannel, acc.dma.recvchannel):
        ch.transfer(_Buf())  # a transfer is under way: channel busy, _first_transfer off
        assert not ch._first_transfer
    acc.residency.store("w", SC.Slice(0, 4, 0, 0, 4))
    acc.reset()
    # DMA reset before the engine's SOFT_RESET, then both channels started
    assert log == ["dma_reset", "soft_reset", "run MM2S 0x1", "run S2MM 0x1"]
    assert not acc.residency.held
    for ch in (acc.dma.sendchannel, acc.dma.recvchannel):
        assert ch.running and not ch.idle  # as after a PG021 reset and run
        ch.transfer(_Buf())  # pynq accepts the first transfer after the restart


def test_reset_keeps_pynqs_interrupt_enable():
    acc, regs, log = _fake_acc(interrupt=object())
    acc.reset()
    assert log[-2:] == ["run MM2S 0x1001", "run S2MM 0x1001"]


@pytest.mark.parametrize("stuck", ["MM2S", "S2MM"])
def test_a_channel_that_stays_halted_raises_instead_of_hanging(stuck):
    acc, regs, log = _fake_acc()
    regs.stuck = stuck
    t0 = time.monotonic()
    with pytest.raises(AcceleratorError, match=rf"{stuck} .*DMASR 0x00000001.*halted") as info:
        acc.reset()
    assert 0.9 < time.monotonic() - t0 < 3
    assert "soft_reset" in log
    assert not isinstance(info.value, DmaTimeout)


def test_a_dma_reset_that_never_completes_raises_and_still_resets_the_engine():
    acc, regs, log = _fake_acc()
    regs.stuck = "reset"
    t0 = time.monotonic()
    with pytest.raises(AcceleratorError, match="soft reset within 1 s"):
        acc.reset()
    assert time.monotonic() - t0 < 3
    assert log == ["dma_reset", "soft_reset"]


def test_a_failed_reset_after_a_failed_job_is_reported_with_it():
    acc, regs, log = _fake_acc()
    err = acc._recover(AcceleratorError("the engine reported an error (ERROR=0x2)"))
    assert str(err).endswith("; the engine and DMA were reset") and err.reset_error is None
    regs.stuck = "S2MM"
    err = acc._recover(DmaTimeout("job did not finish in time", channel="send"))
    msg = str(err)
    assert msg.startswith("job did not finish in time; then resetting the engine and DMA failed")
    assert "S2MM" in msg and "DMASR 0x00000001" in msg
    assert isinstance(err.reset_error, AcceleratorError) and err.channel == "send"
    exc = acc._recover(RuntimeError("DMA channel not idle"))
    notes = getattr(exc, "__notes__", None)
    if notes is not None:
        assert "S2MM" in notes[0]
    else:
        assert isinstance(exc.__cause__, AcceleratorError)
