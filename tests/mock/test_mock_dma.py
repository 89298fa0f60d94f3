"""The mock board itself, with a loopback stand-in for the engine: pynq's own allocate,
MMIO and DMA against the DMA model, non-coherent DDR, DMA errors, process lifecycle."""

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from rtlcnn.board import dma

STANDIN = [Path(__file__).resolve().parent / "standin_top.v"]

DMASR_S2MM, DMASR_MM2S = dma.S2MM + dma.DMASR, dma.MM2S + dma.DMASR


def _arm(ol):
    ol.rtlcnn_0.mmio.write(0x40, 1)  # the stand-in echoes input beats while started


def _until_idle(ol, offset, seconds=30):
    end = time.monotonic() + seconds
    mmio = ol.axi_dma_0.mmio
    while not mmio.read(offset) & dma.SR_IDLE:
        assert time.monotonic() < end, f"DMA status 0x{mmio.read(offset):x} never idle"


def _fresh(ol):
    """Soft-reset the stand-in, reset and restart the DMA (after an error)."""
    ol.rtlcnn_0.mmio.write(0x40, 2)
    ol.axi_dma_0.mmio.write(dma.MM2S + dma.DMACR, dma.CR_RESET)  # both channels
    ol.axi_dma_0.sendchannel.start()
    ol.axi_dma_0.recvchannel.start()


def test_overlay_has_the_real_overlays_names(standin_board):
    from pynq.lib.dma import DMA

    ol = standin_board
    assert isinstance(ol.axi_dma_0, DMA)
    assert ol.ip_dict["rtlcnn_0"]["type"] == "xilinx.com:module_ref:rtlcnn_top:1.0"
    assert ol.ip_dict["axi_dma_0"]["type"] == "xilinx.com:ip:axi_dma:7.1"
    assert ol.rtlcnn_0.mmio.read(0) == 0x52434E4E


def test_loopback_through_ddr_with_pynqs_own_dma(standin_board):
    import pynq

    ol = standin_board
    src = pynq.allocate((3000,), np.uint64, target=ol.device)
    dst = pynq.allocate((3000,), np.uint64, target=ol.device)
    src[:] = np.arange(3000, dtype=np.uint64) * 0x0101010101 + (5 << 60)
    c0 = ol.sim_cycles
    _arm(ol)
    ol.axi_dma_0.recvchannel.transfer(dst)
    ol.axi_dma_0.sendchannel.transfer(src)  # pynq flushes the CPU's view here
    _until_idle(ol, DMASR_S2MM)
    ol.axi_dma_0.recvchannel.wait()  # pynq invalidates here; returns at once (idle)
    ol.axi_dma_0.sendchannel.wait()
    assert ol.axi_dma_0.recvchannel.transferred == src.nbytes
    assert np.array_equal(dst, src)
    assert ol.sim_cycles - c0 >= 3000  # one beat per cycle at best


def test_missing_flush_sends_stale_data(standin_board):
    """A driver that writes the buffer and does not flush sends what DDR held before."""
    import pynq

    ol = standin_board
    mm = ol.axi_dma_0.mmio
    src = pynq.allocate((64,), np.uint64, target=ol.device)
    dst = pynq.allocate((64,), np.uint64, target=ol.device)
    src[:] = 1
    src.flush()
    src[:] = 2  # not flushed: only the CPU's view holds the 2s
    _arm(ol)
    ol.axi_dma_0.recvchannel.transfer(dst)
    mm.write(dma.MM2S + dma.ADDR, src.physical_address)  # MM2S by hand, without pynq's flush
    mm.write(dma.MM2S + dma.ADDR_MSB, 0)
    mm.write(dma.MM2S + dma.LENGTH, src.nbytes)
    _until_idle(ol, DMASR_S2MM)
    assert np.all(dst == 0), "before invalidate the CPU must not see the DMA's writes"
    dst.invalidate()
    assert np.all(dst == 1), "DDR held the flushed 1s, not the unflushed 2s"


def test_receive_longer_than_the_buffer_is_a_dma_error(standin_board):
    import pynq

    ol = standin_board
    src = pynq.allocate((40,), np.uint64, target=ol.device)
    dst = pynq.allocate((16,), np.uint64, target=ol.device)
    src[:] = 7
    _arm(ol)
    ol.axi_dma_0.recvchannel.transfer(dst)
    ol.axi_dma_0.sendchannel.transfer(src)
    # the error halts the channel (PG021), so pynq's wait() says "not started"
    with pytest.raises(RuntimeError, match="DMA channel not started|DMA Internal Error"):
        ol.axi_dma_0.recvchannel.wait()
    sr = ol.axi_dma_0.mmio.read(DMASR_S2MM)
    assert sr & dma.SR_INTERR and sr & dma.SR_HALTED, dma.status_text(sr)
    _fresh(ol)
    test_loopback_through_ddr_with_pynqs_own_dma(ol)


def test_address_outside_ddr_is_a_decode_error(standin_board):
    ol = standin_board
    mm = ol.axi_dma_0.mmio
    mm.write(dma.MM2S + dma.ADDR, 0x1000)  # not in the mock's DDR
    mm.write(dma.MM2S + dma.LENGTH, 64)
    sr = mm.read(DMASR_MM2S)
    assert sr & dma.SR_DECERR and sr & dma.SR_HALTED, dma.status_text(sr)
    _fresh(ol)


def test_close_leaves_no_process_and_a_dead_simulator_is_an_error():
    from rtlcnn.mock import MockOverlay, SimulatorError
    from rtlcnn.sim.toolchain import have_simulator

    if not have_simulator("icarus"):
        pytest.skip("icarus is not installed")
    import pynq

    with MockOverlay("icarus", sources=STANDIN) as ol:
        pid = ol._proc.pid
        assert ol.rtlcnn_0.mmio.read(4) == 0x00010001
        buf = pynq.allocate((8,), np.uint8)  # no target: the open mock board's DDR
        assert buf.device is ol.device and buf.physical_address >= ol.device.ddr_base
    assert ol._proc.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # the whole process group is gone

    ol = MockOverlay("icarus", sources=STANDIN)
    try:
        os.killpg(ol._proc.pid, signal.SIGKILL)  # the simulator dies under us
        t0 = time.monotonic()
        with pytest.raises(SimulatorError, match="simulator"):
            for _ in range(3):
                ol.rtlcnn_0.mmio.read(0)
        assert time.monotonic() - t0 < 10
    finally:
        ol.close()
