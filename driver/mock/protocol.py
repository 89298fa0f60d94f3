"""Wire format between the user's process (MockDevice) and the simulator process.

One request, one reply, over a Unix stream socket. A request is a fixed header
``<B op, Q addr, I n>`` followed by ``n`` payload bytes for WRITE, POST and CONTROL; a
reply is ``<B status, I n>`` followed by ``n`` bytes. Status 0 is OK; otherwise the
payload is a UTF-8 message. POST (a register write, as the CPU's posted AXI writes) has
no reply, which halves the round trips of a job.
"""

from __future__ import annotations

import struct

REQ = struct.Struct("<BQI")
REP = struct.Struct("<BI")

OP_READ = 1      # read n bytes of registers at addr
OP_WRITE = 2     # write the payload to registers at addr
OP_CYCLES = 3    # clock cycles since reset (reply: <Q)
OP_CONTROL = 4   # payload: JSON {"cmd": ...} (fault injection, run cycles); reply JSON
OP_STOP = 5      # end the simulation
OP_POST = 6      # a posted register write: no reply; an error comes with the next reply

ST_OK = 0
ST_ERROR = 1


def recv_exact(sock, n: int) -> bytes:
    """Read exactly ``n`` bytes; raise ConnectionError when the peer closed the socket."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise ConnectionError("the other end of the mock-board socket closed")
        got += k
    return bytes(buf)
