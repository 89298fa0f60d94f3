"""rtlcnn.ip against stand-in overlays: lookup by the description's names, the RtlcnnIP
wrapper reading registers at the .hwh's address, the DMA checks, the PL clock sources."""

from __future__ import annotations

import logging
import struct
import types

import pytest

from rtlcnn.board import ip, overlay_spec
from rtlcnn.core.errors import AcceleratorError

pynq = pytest.importorskip("pynq")

SPEC = overlay_spec.load()
ID_RCNN = 0x52434E4E


class RegisterDevice:
    """A pynq device with REGISTER_RW: a dict of 32-bit words by byte address."""

    def __init__(self, words):
        self.words = dict(words)
        self.reads = []

    def has_capability(self, name):
        return name == "REGISTER_RW"

    def read_registers(self, addr, length):
        self.reads.append(addr)
        return b"".join(struct.pack("<I", self.words.get(addr + i, 0)) for i in range(0, length, 4))

    def write_registers(self, addr, data):
        for i in range(0, len(data), 4):
            self.words[addr + i] = struct.unpack_from("<I", data, i)[0]


def overlay(accel_key=SPEC.accel_name, dma_params=None, extra=None):
    b = SPEC.board("pynq_z2")
    dev = RegisterDevice({b.accel_base: ID_RCNN})
    ip_dict = {
        accel_key: {"type": SPEC.accel_vlnv, "phys_addr": b.accel_base, "addr_range": b.accel_range,
                    "device": dev, "parameters": {"P_OC": "16"}},
        SPEC.dma_name: {"type": SPEC.dma_vlnv, "parameters": dict(dma_params or {
            "c_include_sg": "0", "c_sg_length_width": "26",
            "c_m_axis_mm2s_tdata_width": "64", "c_s_axis_s2mm_tdata_width": "64"})},
    }
    ip_dict.update(extra or {})
    ol = types.SimpleNamespace(ip_dict=ip_dict, dma_driver=object(), device=dev)
    # attribute access as pynq gives it; a hierarchy becomes nested namespaces
    parts = accel_key.split("/")
    holder = ol
    for p in parts[:-1]:
        setattr(holder, p, types.SimpleNamespace())
        holder = getattr(holder, p)
    setattr(holder, parts[-1], "bound to DefaultIP")
    setattr(ol, SPEC.dma_name, ol.dma_driver)
    return ol


def test_find_ips_wraps_the_engine_and_reads_its_registers():
    ol = overlay()
    accel, dma = ip.find_ips(ol)
    assert isinstance(accel, ip.RtlcnnIP) and dma is ol.dma_driver
    assert accel.read(0x000) == ID_RCNN
    assert ol.device.reads == [SPEC.board("pynq_z2").accel_base]
    assert accel.hwh_parameters == {"P_OC": "16"}


def test_find_ips_inside_a_hierarchy():
    ol = overlay(accel_key=f"cnn/{SPEC.accel_name}")
    accel, _ = ip.find_ips(ol)
    assert accel.read(0) == ID_RCNN


def test_renamed_engine_found_by_its_vlnv_with_a_warning(caplog):
    ol = overlay(accel_key="engine_7")
    with caplog.at_level(logging.WARNING, logger="rtlcnn.ip"):
        accel, _ = ip.find_ips(ol)
    assert accel.read(0) == ID_RCNN and "engine_7" in caplog.text


def test_two_unnamed_engines_are_an_error_listing_both():
    ol = overlay(accel_key="engine_7", extra={"engine_8": {"type": SPEC.accel_vlnv}})
    with pytest.raises(AcceleratorError, match=r"engine_7 .*engine_8"):
        ip.find_ips(ol)


def test_dma_with_other_stream_width_is_refused():
    ol = overlay(dma_params={"c_include_sg": "0", "c_m_axis_mm2s_tdata_width": "32"})
    with pytest.raises(AcceleratorError, match="c_m_axis_mm2s_tdata_width=32"):
        ip.find_ips(ol)


def test_max_transfer_follows_the_overlays_length_width():
    assert ip.dma_max_transfer_bytes(overlay()) == (1 << 26) - 8
    assert ip.dma_max_transfer_bytes(overlay(dma_params={"c_sg_length_width": "23"})) == (1 << 23) - 8


def test_clock_from_the_hwh_then_the_description():
    ol = types.SimpleNamespace(clock_dict={0: {"enable": 1, "frequency": 125.0}})
    assert ip.pl_clock_mhz(ol) == 125.0
    assert ip.pl_clock_mhz(types.SimpleNamespace(), "zcu104") == SPEC.board("zcu104").clk_mhz
    assert ip.pl_clock_mhz(None) == SPEC.board().clk_mhz


def test_clock_from_the_ps_registers_on_a_zynq(monkeypatch):
    import pynq.ps as ps

    class StubClocks:
        fclk0_mhz = 142.857

    monkeypatch.setattr(ps, "Clocks", StubClocks)
    ol = types.SimpleNamespace(device=types.SimpleNamespace(arch=ps.ZYNQ_ARCH),
                               clock_dict={0: {"enable": 1, "frequency": 100.0}})
    assert ip.pl_clock_mhz(ol) == 142.857
    # off a Zynq the registers are not consulted: the .hwh value wins
    ol.device.arch = "x86_64"
    if not ps.CPU_ARCH_IS_SUPPORTED:
        assert ip.pl_clock_mhz(ol) == 100.0
