"""The register map is one table (rtlcnn.core.regs.REGISTER_TABLE): the RTL's AXI4-Lite
decode and docs/register_map.md are checked against it, read from their source text.

- every offset ``rtlcnn_axil_regs.v`` decodes for reads or writes is in the table, with
  the access its decode gives (read only: RO, write only: WO, both: RW), and every table
  entry is decoded;
- the build registers return the parameter of their name (P_OC, ..., RQ_LANES) or the
  constant the driver expects (MAX_KERNEL, STREAM_BYTES), and ID / VERSION the values of
  the table's module;
- docs/register_map.md lists the same registers (offset, name, access) and version.
(The decode lives in rtlcnn_axil_regs.v alone: rtlcnn_top.v and rtlcnn_engine.v only
pass the window through.)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rtlcnn.core import regs

ROOT = Path(__file__).resolve().parent.parent
AXIL = ROOT / "hls_free_rtl" / "rtlcnn_axil_regs.v"
DOC = ROOT / "docs" / "register_map.md"


def _strip_comments(text: str) -> str:
    return re.sub(r"/\*.*?\*/", "", re.sub(r"//[^\n]*", "", text), flags=re.S)


def _case_arms(text: str, addr: str) -> dict:
    """offset -> statement of each arm of the ``case ({<addr>[...], 2'b00})`` block."""
    m = re.search(r"case\s*\(\s*\{\s*" + addr + r"\b[^)]*\)\s*(.*?)\bendcase", text, re.S)
    assert m, f"no case on {addr} in {AXIL.name}"
    arms = {}
    arm = r"12'h([0-9A-Fa-f]+)\s*:\s*(.*?)(?=12'h[0-9A-Fa-f]+\s*:|\bdefault\b|$)"
    for a in re.finditer(arm, m.group(1), re.S):
        off = int(a.group(1), 16)
        assert off not in arms, f"{addr}: 0x{off:03X} decoded twice"
        arms[off] = " ".join(a.group(2).split())
    return arms


@pytest.fixture(scope="module")
def decode():
    text = _strip_comments(AXIL.read_text())
    return text, _case_arms(text, "rd_addr"), _case_arms(text, "wr_addr")


def test_every_decoded_offset_is_in_the_table_with_its_access(decode):
    _, reads, writes = decode
    by_offset = {r.offset: r for r in regs.REGISTER_TABLE}
    for off in sorted(set(reads) | set(writes)):
        assert off in by_offset, f"the RTL decodes 0x{off:03X}, which the register table lacks"
        access = {(True, False): regs.RO, (False, True): regs.WO, (True, True): regs.RW}[
            (off in reads, off in writes)]
        r = by_offset[off]
        assert r.access == access, f"{r.name} (0x{off:03X}) is {r.access} in the table, {access} in the RTL"


def test_every_table_entry_is_decoded(decode):
    _, reads, writes = decode
    missing = [r.name for r in regs.REGISTER_TABLE if r.offset not in reads and r.offset not in writes]
    assert not missing, f"registers of the table the RTL does not decode: {missing}"


def test_table_is_in_address_order_word_aligned_and_unique():
    offs = [r.offset for r in regs.REGISTER_TABLE]
    assert offs == sorted(set(offs)) and all(o % 4 == 0 and o < 0x1000 for o in offs)
    assert all(r.access in (regs.RO, regs.RW, regs.WO) and r.meaning for r in regs.REGISTER_TABLE)
    assert regs.REGISTERS == {r.name: r.offset for r in regs.REGISTER_TABLE}
    assert all(getattr(regs, "REG_" + r.name) == r.offset for r in regs.REGISTER_TABLE)


def test_build_registers_return_their_parameter_or_constant(decode):
    text, reads, _ = decode
    consts = {"MAX_KERNEL": regs.MAX_KERNEL, "STREAM_BYTES": regs.STREAM_BYTES}
    for name in regs.DEFAULT_BUILD.parameters():
        arm = reads[regs.REGISTERS[name]]
        assert arm == f"s_axil_rdata_next = {name};", f"{name}: {arm}"
        assert re.search(rf"\bparameter\s+{name}\s*=", text), f"{AXIL.name} has no parameter {name}"
    for name, value in consts.items():
        assert reads[regs.REGISTERS[name]] == f"s_axil_rdata_next = 32'd{value};"
    assert reads[regs.REG_ID] == "s_axil_rdata_next = ID_VALUE;"
    assert reads[regs.REG_VERSION] == "s_axil_rdata_next = VERSION_VALUE;"
    assert re.search(rf"localparam \[31:0\] ID_VALUE = 32'h{regs.ID_VALUE:08X};", text)
    assert re.search(rf"localparam \[15:0\] VERSION_MAJOR = 16'd{regs.VERSION_MAJOR};", text)
    assert re.search(rf"localparam \[15:0\] VERSION_MINOR = 16'd{regs.VERSION_MINOR};", text)
    assert "localparam [31:0] VERSION_VALUE = {VERSION_MAJOR, VERSION_MINOR};" in text


def test_build_from_registers_reads_what_an_engine_reports():
    new = regs.Build(p_oc=8, p_ic=1, rq_lanes=1, clk_mhz=125)
    values = {regs.REG_ID: regs.ID_VALUE, regs.REG_VERSION: regs.VERSION_VALUE,
              regs.REG_MAX_KERNEL: regs.MAX_KERNEL, regs.REG_STREAM_BYTES: regs.STREAM_BYTES}
    values.update({regs.REGISTERS[k]: v for k, v in new.parameters().items()})
    assert set(values) == set(regs.BUILD_REGISTERS)
    assert regs.Build.from_registers(values.__getitem__) == new
    # an engine 1.1 has no RQ_LANES register (reads 0): the default, at most P_OC
    old = {k: v for k, v in values.items() if k != regs.REG_RQ_LANES}
    old[regs.REG_VERSION] = (1 << 16) | 1
    got = regs.Build.from_registers(old.__getitem__)
    assert got.rq_lanes == regs.DEFAULT_BUILD.rq_lanes and got.version_minor == 1
    old[regs.REG_P_OC] = 1
    assert regs.Build.from_registers(old.__getitem__).rq_lanes == 1
    assert regs.Build.from_parameters(new.parameters()) == new
    with pytest.raises(ValueError, match="RQ_LANE"):
        regs.Build.from_parameters({"RQ_LANE": 1})


def _doc_rows() -> list:
    rows = []
    for line in DOC.read_text().splitlines():
        m = re.match(r"\|\s*0x([0-9A-Fa-f]{3})\s*\|\s*(\w+)\s*\|\s*(\w+)\s*\|", line)
        if m:
            rows.append((int(m.group(1), 16), m.group(2), m.group(3)))
    return rows


def test_doc_lists_the_same_registers():
    want = [(r.offset, r.name, r.access) for r in regs.REGISTER_TABLE]
    assert _doc_rows() == want


def test_doc_names_the_version():
    text = DOC.read_text()
    assert f"(version {regs.VERSION_MAJOR}.{regs.VERSION_MINOR})" in text.splitlines()[0]
    assert re.search(rf"\|\s*0x004\s*\|\s*VERSION\s*\|\s*RO\s*\|\s*0x{regs.VERSION_VALUE:08X}\s*\|", text)
