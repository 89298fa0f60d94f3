"""The exceptions rtlcnn raises. Each names what was wrong and what to do about it."""

from __future__ import annotations

__all__ = [
    "RtlcnnError",
    "ProgramFormatError",
    "LayerNotSupported",
    "AcceleratorError",
    "DmaTimeout",
    "InputError",
    "BoardError",
    "InputRangeWarning",
]


class RtlcnnError(Exception):
    """Base class of every error rtlcnn raises on purpose."""


class ProgramFormatError(RtlcnnError, ValueError):
    """A program file (``*.rtlcnn.npz``) is truncated, from another version or inconsistent."""


class LayerNotSupported(RtlcnnError):
    """A model layer (or a program op) that the compiler or the engine cannot run."""


class InputError(RtlcnnError, ValueError):
    """Images of the wrong shape, dtype or value range for the program."""


class AcceleratorError(RtlcnnError):
    """The engine reported an error, timed out, or the overlay lacks it.

    Attributes
    ----------
    status : int or None
        The engine's STATUS register when the error was seen.
    error_bits : int or None
        The engine's ERROR register.
    completed : list of int
        Indices of the images of the failed call whose results are complete.
    partial_output : ndarray or None
        The call's raw output array; the rows listed in ``completed`` are valid (each
        equals ``rtlcnn.reference.run_int`` for that image), the others are zeros.
    reset_error : Exception or None
        Set when the reset that follows a failed job failed too (the message says so as
        well); the board then needs attention (a new Accelerator, or reloading the overlay).
    """

    def __init__(self, message, status=None, error_bits=None, completed=None, partial_output=None):
        super().__init__(message)
        self.status = status
        self.error_bits = error_bits
        self.completed = list(completed or [])
        self.partial_output = partial_output
        self.reset_error = None


class DmaTimeout(AcceleratorError):
    """A DMA transfer did not finish within its deadline.

    Attributes
    ----------
    channel : str
        "send" (MM2S, into the engine) or "recv" (S2MM, out of the engine).
    sent_bytes : int
        Bytes the transfer was asked to move.
    dma_status : int
        The DMA channel's status register (PG021 DMASR) at the deadline.
    """

    def __init__(self, message, channel="", sent_bytes=0, dma_status=0, **kw):
        super().__init__(message, **kw)
        self.channel = channel
        self.sent_bytes = sent_bytes
        self.dma_status = dma_status


class BoardError(RtlcnnError):
    """A board could not be opened: no bitstream, pynq or simulator missing, the mock board
    did not start.

    Attributes
    ----------
    code : int
        The exit code a command line gives for it: 2 when the user can fix the setup (a
        missing file or package), 1 when the work failed.
    log : str or None
        A log file with the failed step's output (the mock board's model build).
    log_tail : str
        Its last lines ("" when there is none).
    """

    def __init__(self, message, code=2, log=None, log_tail=""):
        super().__init__(message)
        self.code = code
        self.log = log
        self.log_tail = log_tail


class InputRangeWarning(UserWarning):
    """Images whose values do not look like those the program was calibrated on (pixels
    0..255 passed to a 0..1 program, values that saturate the input quantization, values
    far outside the calibrated range): the results would be silently wrong. With
    ``strict=True`` the same finding is an :class:`InputError`."""
