"""The user-side half of the mock board: a pynq Device that talks to the simulator.

:class:`MockDevice` is a :class:`pynq.pl_server.device.Device` with the capability
``REGISTER_RW``, so ``pynq.MMIO`` sends every register access through
:meth:`read_registers` / :meth:`write_registers` to the simulator process; and its
``default_memory`` allocates :class:`pynq.buffer.PynqBuffer` objects in the simulated DDR,
so ``pynq.allocate`` and ``pynq.lib.dma.DMA`` run unchanged.

Buffers are not coherent. A buffer's array lives in this process's own memory (the
CPU's view, as if in its data cache); :meth:`MockDevice.flush` copies it into DDR and
:meth:`MockDevice.invalidate` copies DDR back into it. A driver that forgets either sees
stale data, as it would on the board.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import json
import mmap
import os
import socket
import threading

import numpy as np
from pynq.buffer import PynqBuffer
from pynq.pl_server.device import Device

from ..core.errors import RtlcnnError
from . import protocol as P

__all__ = ["MockDevice", "SimulatorError"]


class SimulatorError(RtlcnnError, RuntimeError):
    """The mock board's simulator process failed, stopped answering, or was closed."""


class _DdrAllocator:
    """First-fit allocation of DDR address ranges (64-byte aligned)."""

    ALIGN = 64

    def __init__(self, base: int, size: int):
        self.base = base
        self.size = size
        self.free = [(base, size)]  # sorted, coalesced (address, length)
        self.used = {}

    def alloc(self, nbytes: int) -> int:
        n = max(self.ALIGN, -(-nbytes // self.ALIGN) * self.ALIGN)
        for i, (addr, length) in enumerate(self.free):
            if length >= n:
                if length == n:
                    del self.free[i]
                else:
                    self.free[i] = (addr + n, length - n)
                self.used[addr] = n
                return addr
        raise MemoryError(
            f"mock DDR is full: cannot allocate {nbytes} bytes out of {self.size}; "
            "free buffers you no longer need, or start MockOverlay with a larger ddr_size"
        )

    def return_pointer(self, addr: int) -> None:
        n = self.used.pop(addr, None)
        if n is None:
            return
        self.free.append((addr, n))
        self.free.sort()
        merged = []
        for a, length in self.free:
            if merged and merged[-1][0] + merged[-1][1] == a:
                merged[-1] = (merged[-1][0], merged[-1][1] + length)
            else:
                merged.append((a, length))
        self.free = merged


class _MockMemory:
    """The ``default_memory`` of a MockDevice: PynqBuffers backed by simulated DDR."""

    def __init__(self, device: MockDevice):
        self.device = device

    def allocate(self, shape, dtype, **kwargs):
        dev = self.device
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        addr = dev._alloc.alloc(max(nbytes, 1))
        private = np.zeros(max(nbytes, 1), dtype=np.uint8)  # the CPU's view
        buf = PynqBuffer(shape, dtype, buffer=private, device_address=addr, bo=addr,
                         coherent=False, device=dev)
        # PynqBuffer.freebuffer returns `pointer` to `return_to` once; `freed` stops
        # it from trying the board's munmap path afterwards.
        buf.memory = private
        buf.pointer = addr
        buf.return_to = dev._alloc
        buf.freed = True
        return buf


class MockDevice(Device):
    """pynq Device of the mock board (see module docstring).

    Not registered for probing (it has no ``_probe_``): :class:`MockOverlay` creates
    it and makes it ``Device.active_device`` while the mock board is open.
    """

    def __init__(self, sock: socket.socket, ddr_path: str, ddr_base: int, ddr_size: int,
                 timeout: float = 300.0, on_dead=None):
        super().__init__("rtlcnn-mock")
        self.name = "rtlcnn mock board"
        self.capabilities = {"REGISTER_RW": True}
        self._sock = sock
        self._sock.settimeout(timeout)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._on_dead = on_dead
        self._closed = False
        fd = os.open(ddr_path, os.O_RDWR)
        try:
            self._ddr = mmap.mmap(fd, ddr_size)
        finally:
            os.close(fd)
        self._ddr_view = np.frombuffer(self._ddr, dtype=np.uint8)
        self._ddr_ptr = self._ddr_view.ctypes.data
        self.ddr_base = ddr_base
        self.ddr_size = ddr_size
        self._alloc = _DdrAllocator(ddr_base, ddr_size)
        self.default_memory = _MockMemory(self)
        self.register_accesses = 0
        # Every request and its reply go over the socket on this one thread: Python runs
        # signal handlers on the main thread only, so a KeyboardInterrupt (Ctrl-C, or a
        # SIGALRM handler) can stop the caller's wait but never cut a request or a reply
        # in half; the exchange completes and the next one is queued behind it.
        self._link = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="rtlcnn-mock-link")
        self._broken = None  # why the link failed, once it has

    # ---- the simulator link -------------------------------------------------
    def _exchange(self, request: bytes, reply: bool):
        """On the link thread: send one request and, unless it is posted, read its reply."""
        if self._broken is not None:
            raise ConnectionError(f"the link failed earlier ({self._broken})")
        try:
            self._sock.sendall(request)
            if not reply:
                return None
            status, k = P.REP.unpack(P.recv_exact(self._sock, P.REP.size))
            return status, (P.recv_exact(self._sock, k) if k else b"")
        except OSError as exc:  # timeouts too: requests and replies may no longer pair up
            self._broken = exc
            raise

    def _send(self, request: bytes, reply: bool, what: str):
        if self._closed:
            raise SimulatorError("the mock board is closed; start a new MockOverlay")
        with self._lock:
            self.register_accesses += 1
            fut = self._link.submit(self._exchange, request, reply)
        try:
            return fut.result()
        except socket.timeout:
            self._dead(f"the simulator did not {what} within {self._timeout:.0f} s")
        except OSError as exc:
            self._dead(f"the simulator process is gone ({exc})")

    def _call(self, op: int, addr: int = 0, payload: bytes = b"", n: int | None = None) -> bytes:
        count = len(payload) if n is None else n
        status, data = self._send(P.REQ.pack(op, addr, count) + payload, True, "answer")
        if status != P.ST_OK:
            raise SimulatorError(f"mock board: {data.decode(errors='replace')}")
        return data

    def _dead(self, why: str):
        self._closed = True
        self._link.shutdown(wait=False)
        detail = self._on_dead() if self._on_dead else ""
        raise SimulatorError(f"mock board: {why}.{detail}")

    def read_registers(self, address: int, length: int) -> bytes:
        return self._call(P.OP_READ, address, n=length)

    def write_registers(self, address: int, data: bytes) -> None:
        """A posted write: sent without waiting for an answer (errors come with the next one)."""
        data = bytes(data)
        self._send(P.REQ.pack(P.OP_POST, address, len(data)) + data, False, "take a write")

    def cycles(self) -> int:
        return int.from_bytes(self._call(P.OP_CYCLES), "little")

    def control(self, **req) -> dict:
        return json.loads(self._call(P.OP_CONTROL, 0, json.dumps(req).encode()) or b"{}")

    def stop(self) -> None:
        """Ask the simulator to end; close the link and DDR. Safe to call twice."""
        if self._closed:
            return

        def stop_request():
            self._sock.settimeout(10)
            return self._exchange(P.REQ.pack(P.OP_STOP, 0, 0), True)

        try:  # behind any exchange still running (an interrupted caller's)
            self._link.submit(stop_request).result(timeout=self._timeout + 15)
        except (OSError, concurrent.futures.TimeoutError):
            pass
        self._release()

    def _release(self):
        self._closed = True
        self._link.shutdown(wait=False)
        try:
            self._sock.close()
        except OSError:
            pass
        self._ddr_view = None
        try:
            self._ddr.close()
        except BufferError:
            pass  # a numpy view of DDR is still alive somewhere; the OS frees it later

    # ---- memory ---------------------------------------------------------------
    def _ddr_offset(self, bo: int, offset: int, size: int) -> int:
        off = bo - self.ddr_base + offset
        if off < 0 or off + size > self.ddr_size:
            raise SimulatorError(f"buffer range 0x{bo + offset:x}+{size} is outside the mock DDR")
        return off

    def flush(self, bo, offset, ptr, size):
        """CPU view -> DDR (what a cache flush does on the board)."""
        if self._closed:
            raise SimulatorError("the mock board is closed")
        ctypes.memmove(self._ddr_ptr + self._ddr_offset(bo, offset, size), ptr, size)

    def invalidate(self, bo, offset, ptr, size):
        """DDR -> CPU view (what a cache invalidate does on the board)."""
        if self._closed:
            raise SimulatorError("the mock board is closed")
        ctypes.memmove(ptr, self._ddr_ptr + self._ddr_offset(bo, offset, size), size)

    def ddr(self, address: int, nbytes: int) -> np.ndarray:
        """A copy of ``nbytes`` of DDR at physical ``address`` (for tests and debugging)."""
        off = self._ddr_offset(address, 0, nbytes)
        return self._ddr_view[off:off + nbytes].copy()
