"""The Xilinx AXI DMA (PG021, v7.1) in simple (register direct) mode: its register map, in one
place for the driver (:mod:`rtlcnn.board.accelerator`) and the mock board's DMA model
(:mod:`rtlcnn.mock.server`). pynq's ``pynq.lib.dma`` uses the same offsets and bits.

Each channel has the same registers at its base: MM2S (memory to stream, the engine's
input) at 0x00 and S2MM (stream to memory, its output) at 0x30. Writing LENGTH starts a
transfer of a running channel; S2MM's LENGTH then reads back the bytes received.
"""

from __future__ import annotations

__all__ = ["MM2S", "S2MM", "CHANNEL_SPAN", "REGISTER_SPACE", "DMACR", "DMASR", "ADDR", "ADDR_MSB",
           "LENGTH", "CR_RS", "CR_RESET", "CR_IOC_IRQ_EN", "CR_DLY_IRQ_EN", "CR_ERR_IRQ_EN",
           "CR_RESET_VALUE", "SR_HALTED", "SR_IDLE", "SR_SG_INCLD", "SR_INTERR", "SR_SLVERR",
           "SR_DECERR", "SR_ERRORS", "SR_IOC_IRQ", "SR_DLY_IRQ", "SR_ERR_IRQ", "SR_IRQ_MASK",
           "status_text"]

#: channel bases
MM2S, S2MM = 0x00, 0x30
CHANNEL_SPAN = 0x30
#: bytes of register space the two channels decode
REGISTER_SPACE = 0x60

#: register offsets inside a channel (PG021 table 2-9: MM2S_DMACR 0x00 ... S2MM_LENGTH 0x58)
DMACR, DMASR, ADDR, ADDR_MSB, LENGTH = 0x00, 0x04, 0x18, 0x1C, 0x28

#: DMACR bits: run/stop, soft reset (both channels), interrupt enables
CR_RS = 1 << 0
CR_RESET = 1 << 2
CR_IOC_IRQ_EN = 1 << 12
CR_DLY_IRQ_EN = 1 << 13
CR_ERR_IRQ_EN = 1 << 14
#: DMACR after reset: IRQThreshold (bits 23:16) = 1
CR_RESET_VALUE = 0x00010000

#: DMASR bits
SR_HALTED = 1 << 0
SR_IDLE = 1 << 1
SR_SG_INCLD = 1 << 3
SR_INTERR = 1 << 4   # DMAIntErr: e.g. LENGTH 0, or a stream shorter/longer than the transfer
SR_SLVERR = 1 << 5   # DMASlvErr: the memory answered SLVERR
SR_DECERR = 1 << 6   # DMADecErr: an address no slave decodes
SR_ERRORS = SR_INTERR | SR_SLVERR | SR_DECERR
SR_IOC_IRQ = 1 << 12
SR_DLY_IRQ = 1 << 13
SR_ERR_IRQ = 1 << 14
SR_IRQ_MASK = SR_IOC_IRQ | SR_DLY_IRQ | SR_ERR_IRQ  # write 1 to clear


def status_text(sr: int) -> str:
    """The set DMASR bits by name, e.g. ``'Halted DMAIntErr Err_Irq'``."""
    names = ((SR_HALTED, "Halted"), (SR_IDLE, "Idle"), (SR_SG_INCLD, "SGIncld"), (SR_INTERR, "DMAIntErr"),
             (SR_SLVERR, "DMASlvErr"), (SR_DECERR, "DMADecErr"), (SR_IOC_IRQ, "IOC_Irq"),
             (SR_DLY_IRQ, "Dly_Irq"), (SR_ERR_IRQ, "Err_Irq"))
    return " ".join(n for bit, n in names if sr & bit) or "-"
