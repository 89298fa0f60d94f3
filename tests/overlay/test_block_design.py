"""The block-design Tcl, run under a recording mock Vivado, builds the design the driver and
the mock board expect: every value checked here comes from driver/board/overlay_spec.txt."""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict

import pytest
from overlay_helpers import BOARDS, ROOT, bd_body, overlay_copy, run_mock, tcl_quote

from rtlcnn.board import ip, overlay_spec
from rtlcnn.core.errors import AcceleratorError

# What the PS families call the things the Tcl must set. `window` is the address range the
# control master port reaches (Zynq-7000 M_AXI_GP0; UltraScale+ M_AXI_HPM0_FPD).
PS_FAMILY = {
    "xilinx.com:ip:processing_system7": {
        "rule": "xilinx.com:bd_rule:processing_system7",
        "freq": "CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ",
        "act_freq": "CONFIG.PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ",
        "enable": {"CONFIG.PCW_USE_M_AXI_GP0": "1", "CONFIG.PCW_USE_S_AXI_HP0": "1"},
        "ctrl_port": "M_AXI_GP0",
        "data_port": "S_AXI_HP0",
        "window": (0x4000_0000, 0x8000_0000),
    },
    "xilinx.com:ip:zynq_ultra_ps_e": {
        "rule": "xilinx.com:bd_rule:zynq_ultra_ps_e",
        "freq": "CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ",
        "act_freq": "CONFIG.PSU__CRL_APB__PL0_REF_CTRL__ACT_FREQMHZ",
        "enable": {"CONFIG.PSU__USE__M_AXI_GP0": "1", "CONFIG.PSU__USE__S_AXI_GP2": "1"},
        "ctrl_port": "M_AXI_HPM0_FPD",
        "data_port": "S_AXI_HP0_FPD",
        "window": (0xA000_0000, 0xB000_0000),
    },
}

INTERCONNECT_VLNV = "xilinx.com:ip:smartconnect"


@pytest.fixture(scope="module", params=BOARDS)
def design(request, tclsh, spec, rtl_files, tmp_path_factory):
    board = request.param
    b = spec.board(board)
    rc, out, state, log = run_mock(
        tclsh, tmp_path_factory.mktemp(board), bd_body(board, rtl_files, b.part)
    )
    assert rc == 0, f"block design Tcl failed under the mock Vivado:\n{out}"
    return board, b, state, log


def family(vlnv: str) -> dict:
    return PS_FAMILY[vlnv.rsplit(":", 1)[0]]


def reach(state, start: str) -> set:
    """Interface pins reachable from `start` over interface nets and through interconnects."""
    adj = defaultdict(set)
    for a, c in state["intf_nets"]:
        adj[a].add(c)
        adj[c].add(a)
    by_cell = defaultdict(set)
    for pin in adj:
        by_cell[pin.split("/")[1]].add(pin)
    ics = {n for n, c in state["cells"].items() if c["vlnv"].startswith(INTERCONNECT_VLNV)}
    seen, todo = {start}, [start]
    while todo:
        pin = todo.pop()
        nxt = set(adj[pin])
        cell = pin.split("/")[1]
        if cell in ics:
            nxt |= by_cell[cell]
        for n in nxt - seen:
            seen.add(n)
            todo.append(n)
    return seen


def net_of(state, pin: str) -> set:
    for net in state["nets"]:
        if pin in net:
            return set(net)
    raise AssertionError(f"{pin} is on no net")


def test_cells_and_names(design, spec):
    board, b, st, _ = design
    cells = st["cells"]
    acc, dma = cells[spec.accel_name], cells[spec.dma_name]
    assert acc["kind"] == "module" and acc["module"] == spec.accel_module
    assert acc["vlnv"] == spec.accel_vlnv == f"xilinx.com:module_ref:{spec.accel_module}:1.0"
    assert dma["kind"] == "ip" and dma["vlnv"] == spec.dma_vlnv
    assert cells[b.ps["name"]]["vlnv"] == b.ps["vlnv"]
    assert st["design"] == spec.design_name
    assert st["project_props"]["PART"] == b.part


def test_engine_parameters(design, spec):
    board, b, st, _ = design
    props = st["cells"][spec.accel_name]["props"]
    assert b.engine, "the description gives no engine parameters"
    assert {k: int(props[f"CONFIG.{k}"]) for k in b.engine} == b.engine
    # (the mock refuses a CONFIG.<name> that is not a parameter of the RTL top)
    assert spec.accel_module in st["modules"]


def test_dma_simple_mode_and_widths(design, spec):
    _, _, st, _ = design
    p = st["cells"][spec.dma_name]["props"]
    assert p["CONFIG.c_include_sg"] == "0", "the driver uses the DMA in simple mode"
    assert not spec.dma_include_sg
    assert int(p["CONFIG.c_sg_length_width"]) == spec.dma_length_bits
    assert 23 <= spec.dma_length_bits <= 26, "PG021 allows 8..26; below 23 (8 MiB) jobs would not fit"
    assert int(p["CONFIG.c_m_axis_mm2s_tdata_width"]) == spec.dma_stream_bits == 64
    assert int(p["CONFIG.c_s_axis_s2mm_tdata_width"]) == spec.dma_stream_bits
    assert int(p["CONFIG.c_m_axi_mm2s_data_width"]) == spec.dma_mm_bits
    assert int(p["CONFIG.c_m_axi_s2mm_data_width"]) == spec.dma_mm_bits
    assert int(p["CONFIG.c_addr_width"]) == spec.dma_addr_bits


def test_streams(design, spec):
    _, _, st, _ = design
    nets = {frozenset(n) for n in st["intf_nets"]}
    acc, dma = spec.accel_name, spec.dma_name
    assert frozenset({f"/{dma}/M_AXIS_MM2S", f"/{acc}/{spec.raw['accel.in_intf']}"}) in nets
    assert frozenset({f"/{acc}/{spec.raw['accel.out_intf']}", f"/{dma}/S_AXIS_S2MM"}) in nets


def test_control_on_gp_port_data_on_hp0(design, spec):
    _, b, st, _ = design
    fam = family(b.ps["vlnv"])
    ps, acc, dma = b.ps["name"], spec.accel_name, spec.dma_name
    assert b.ps["ctrl_port"] == fam["ctrl_port"] and b.ps["data_port"] == fam["data_port"]
    for k, v in fam["enable"].items():
        assert st["cells"][ps]["props"].get(k) == v, f"{ps}: {k} must be {v}"
    ctrl = reach(st, f"/{ps}/{b.ps['ctrl_port']}")
    assert f"/{acc}/{spec.raw['accel.ctrl_intf']}" in ctrl
    assert f"/{dma}/S_AXI_LITE" in ctrl
    assert f"/{ps}/{b.ps['data_port']}" not in ctrl
    for master in ("M_AXI_MM2S", "M_AXI_S2MM"):
        data = reach(st, f"/{dma}/{master}")
        assert f"/{ps}/{b.ps['data_port']}" in data
        assert f"/{acc}/{spec.raw['accel.ctrl_intf']}" not in data


def test_one_clock_and_resets(design, spec):
    _, b, st, _ = design
    fam = family(b.ps["vlnv"])
    ps, acc, dma, rst = b.ps["name"], spec.accel_name, spec.dma_name, spec.raw["reset.name"]
    clk = net_of(st, f"/{ps}/{b.ps['clk_pin']}")
    must = {
        f"/{acc}/{spec.raw['accel.clk_pin']}",
        f"/{dma}/s_axi_lite_aclk",
        f"/{dma}/m_axi_mm2s_aclk",
        f"/{dma}/m_axi_s2mm_aclk",
        f"/{ps}/{b.ps['ctrl_aclk']}",
        f"/{ps}/{b.ps['data_aclk']}",
        f"/{spec.raw['ctrl_ic.name']}/aclk",
        f"/{spec.raw['mem_ic.name']}/aclk",
        f"/{rst}/slowest_sync_clk",
    }
    assert must <= clk, f"not on the FCLK0 net: {sorted(must - clk)}"
    assert float(st["cells"][ps]["props"][fam["freq"]]) == b.clk_mhz
    ps_rst = f"/{ps}/{b.ps['resetn_pin']}"
    assert net_of(st, ps_rst) == {ps_rst, f"/{rst}/ext_reset_in"}
    periph = net_of(st, f"/{rst}/peripheral_aresetn")
    assert {f"/{acc}/{spec.raw['accel.resetn_pin']}", f"/{dma}/axi_resetn"} <= periph
    ic = net_of(st, f"/{rst}/interconnect_aresetn")
    assert {f"/{spec.raw['ctrl_ic.name']}/aresetn", f"/{spec.raw['mem_ic.name']}/aresetn"} <= ic


def test_address_map(design, spec):
    _, b, st, log = design
    fam = family(b.ps["vlnv"])
    ps, acc, dma = b.ps["name"], spec.accel_name, spec.dma_name
    got = {(space, seg): (int(off, 0), int(rng, 0)) for space, seg, off, rng in st["addrs"]}
    # exactly these four mappings, nothing left to Vivado's own placement
    assert got == {
        (f"/{ps}/Data", f"/{acc}/{spec.raw['accel.ctrl_intf']}/reg0"): (b.accel_base, b.accel_range),
        (f"/{ps}/Data", f"/{dma}/S_AXI_LITE/Reg"): (b.dma_base, b.dma_range),
        (f"/{dma}/Data_MM2S", f"/{ps}/{b.ps['ddr_seg']}"): (b.ddr_base, b.ddr_range),
        (f"/{dma}/Data_S2MM", f"/{ps}/{b.ps['ddr_seg']}"): (b.ddr_base, b.ddr_range),
    }
    assert not st["bare_assign"], "a bare assign_bd_address maps the DMA onto every HP0 segment"
    # every other segment of the PS data port is excluded from both DMA spaces (the mock has
    # them all; validation failed otherwise: [BD 41-1356])
    excluded = {(space, seg) for space, seg in st["excludes"]}
    assert excluded == {
        (f"/{dma}/{space}", f"/{ps}/{seg}") for space in ("Data_MM2S", "Data_S2MM") for seg in b.exclude_segs
    }
    # ... and an unassigned segment stops the real build too
    cmds = [r["cmd"] for r in log]
    assert ["-id", "BD 41-1356", "-new_severity", "ERROR"] in st["msg_config"]
    assert cmds.index("set_msg_config") < cmds.index("validate_bd_design")
    lo, hi = fam["window"]
    windows = sorted([(b.accel_base, b.accel_range), (b.dma_base, b.dma_range)])
    for base, rng in windows:
        assert lo <= base and base + rng <= hi, f"0x{base:08X} is outside the control port's window"
        assert base % rng == 0, "a segment must be aligned to its range"
    assert windows[0][0] + windows[0][1] <= windows[1][0], "register windows overlap"
    assert b.accel_range >= 1 << int(spec.raw["accel.ctrl_addr_bits"])
    assert b.ddr_base + b.ddr_range <= 1 << spec.dma_addr_bits


def test_exclusions_are_the_data_ports_other_segments(spec):
    for b in spec.boards.values():
        port = b.ps["ddr_seg"].split("/")[0]
        assert b.exclude_segs, f"{b.name}: no ps.exclude_segs"
        assert len(set(b.exclude_segs)) == len(b.exclude_segs)
        assert b.ps["ddr_seg"] not in b.exclude_segs
        assert all(seg.split("/")[0] == port and seg.count("/") == 1 for seg in b.exclude_segs), (
            f"{b.name}: ps.exclude_segs must be segments of {port}, like ps.ddr_seg"
        )


def settings_set(log, cell: str) -> set:
    """The CONFIG.* properties the Tcl set on a cell (VALUE_SRC markers aside)."""
    out = set()
    for r in log:
        if r["cmd"] == "set_property" and r["args"][0] == "-dict" and r["args"][2] == f"cell:{cell}":
            pairs = r["args"][1].split()
            out |= {k for k in pairs[::2] if k.startswith("CONFIG.") and not k.endswith(".VALUE_SRC")}
    return out


def test_every_setting_is_read_back_after_validation(design, spec):
    """What Vivado may drop silently is read back after validate_bd_design, before the
    design is saved: every setting of the DMA, the engine and the PS, the clock the PS
    really makes, the offset and range of every mapping."""
    _, b, st, log = design
    cmds = [r["cmd"] for r in log]
    start, end = cmds.index("validate_bd_design"), cmds.index("save_bd_design")
    read = {tuple(r["args"]) for r in log[start:end] if r["cmd"] == "get_property"}
    fam = family(b.ps["vlnv"])
    for cell in (spec.dma_name, spec.accel_name, b.ps["name"]):
        want = settings_set(log, cell)
        assert want, f"nothing set on {cell}"
        missing = {k for k in want if (k, f"cell:{cell}") not in read}
        assert not missing, f"{cell}: not read back after validation: {sorted(missing)}"
    assert {f"CONFIG.{k}" for k in b.engine} <= settings_set(log, spec.accel_name)
    assert (fam["act_freq"], f"cell:{b.ps['name']}") in read
    segs = {obj for name, obj in read if name in ("OFFSET", "RANGE")}
    assert len(segs) == len(st["addrs"]) == 4
    assert {(n, o) for o in segs for n in ("OFFSET", "RANGE")} <= read
    assert not st["ignored"], f"settings Vivado would ignore: {st['ignored']}"


def test_board_preset_wrapper_and_top(design, spec):
    _, b, st, log = design
    fam = family(b.ps["vlnv"])
    rules = [(r, c) for r, c, cfg in st["automation"] if 'apply_board_preset "1"' in cfg]
    assert (fam["rule"], b.ps["name"]) in rules, "the PS must get the board preset"
    assert st["validated"] and st["saved"]
    assert st["wrapper"] == f"{spec.design_name}_wrapper"
    assert st["fileset_props"]["TOP"] == st["wrapper"]
    assert any(kind == "add_files" and path.endswith(f"{st['wrapper']}.v") for kind, path in st["files"])
    cmds = [r["cmd"] for r in log]
    # the wrapper is made from a validated, saved design
    assert cmds.index("validate_bd_design") < cmds.index("save_bd_design") < cmds.index("make_wrapper")


def test_tcl_takes_names_from_the_description(spec):
    """No IP name, address or width is typed into the Tcl: they all come from the spec."""
    literals = [spec.accel_name, spec.dma_name, spec.raw["reset.name"], "0x43C00000", "0x40400000"]
    for board in BOARDS:
        literals += [spec.board(board).ps["name"], spec.board(board).part]
    for path in sorted((ROOT / "overlay").rglob("*.tcl")):
        text = "\n".join(
            line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")
        )
        for lit in literals:
            assert lit not in text, f"{path.relative_to(ROOT)} hard-codes {lit!r}"


def test_driver_finds_the_ips_the_tcl_creates(design, spec):
    """The names in the recorded design are the ones rtlcnn.ip looks up (not a fallback)."""
    _, _, st, _ = design

    class RecordedOverlay:
        ip_dict = {
            name: {"type": c["vlnv"], "parameters": {k[len("CONFIG."):]: v for k, v in c["props"].items()}}
            for name, c in st["cells"].items()
        }

    ov = RecordedOverlay()
    assert ip._find_key(ov.ip_dict, spec.accel_name, spec.accel_vlnv, "engine") == spec.accel_name
    assert ip._find_key(ov.ip_dict, spec.dma_name, spec.dma_vlnv, "DMA") == spec.dma_name
    assert ip.dma_max_transfer_bytes(ov) == spec.max_transfer_bytes


def test_missing_engine_error_lists_the_overlay(spec):
    class Other:
        ip_dict = {"axi_gpio_0": {"type": "xilinx.com:ip:axi_gpio:2.0"}}

    with pytest.raises(AcceleratorError, match=r"no rtlcnn engine named 'rtlcnn_0'.*axi_gpio_0"):
        ip.find_ips(Other(), spec)


def test_scatter_gather_dma_is_refused(spec):
    class SG:
        ip_dict = {
            spec.accel_name: {"type": spec.accel_vlnv},
            spec.dma_name: {"type": spec.dma_vlnv, "parameters": {"c_include_sg": "1"}},
        }

    with pytest.raises(AcceleratorError, match="simple mode"):
        ip.find_ips(SG(), spec)


# ------------------------------------------------------------------ the Tcl refuses bad set-ups
@pytest.mark.parametrize("board", BOARDS)
def test_wrong_vivado_version_is_refused(tclsh, spec, rtl_files, tmp_path, board):
    body = bd_body(board, rtl_files, spec.board(board).part)
    rc, out, _, _ = run_mock(tclsh, tmp_path / "a", body, version="2022.1")
    assert rc != 0 and f"written for Vivado {spec.vivado_version}" in out
    rc, out, _, _ = run_mock(tclsh, tmp_path / "b", body, version="2022.1", env={"RTLCNN_ANY_VIVADO": "1"})
    assert rc == 0, out


def test_wrong_part_is_refused(tclsh, rtl_files, tmp_path):
    rc, out, _, _ = run_mock(tclsh, tmp_path, bd_body("pynq_z2", rtl_files, "xc7a35tcsg324-1"))
    assert rc != 0 and "the overlay description says xc7z020clg400-1" in out


def test_mock_vivado_rejects_a_top_without_the_stream_ports(tclsh, spec, tmp_path):
    """The mock is strict: the module reference takes its interfaces from the RTL."""
    bad = tmp_path / "bad_top.v"
    bad.write_text(
        "module rtlcnn_top #(parameter P_OC = 16, parameter P_IC = 8, parameter WBUF_DEPTH = 2048,\n"
        "  parameter IBUF_DEPTH = 4096, parameter PBUF_DEPTH = 1024, parameter CLK_MHZ = 100,\n"
        "  parameter RQ_LANES = 2, parameter FBUF_DEPTH = 8192)\n"
        '  ((* X_INTERFACE_INFO = "xilinx.com:signal:clock:1.0 aclk CLK" *)\n'
        '   (* X_INTERFACE_PARAMETER = "ASSOCIATED_BUSIF s_axis, ASSOCIATED_RESET aresetn" *)\n'
        "   input wire aclk,\n"
        '   (* X_INTERFACE_INFO = "xilinx.com:signal:reset:1.0 aresetn RST" *)\n'
        '   (* X_INTERFACE_PARAMETER = "POLARITY ACTIVE_LOW" *) input wire aresetn,\n'
        "  input wire [63:0] s_axis_tdata, input wire s_axis_tvalid, output wire s_axis_tready);\n"
        "endmodule\n"
    )
    rc, out, _, _ = run_mock(tclsh, tmp_path / "run", bd_body("pynq_z2", [bad], spec.board("pynq_z2").part))
    assert rc != 0 and "no intf 's_axi_ctrl' on cell 'rtlcnn_0'" in out


def interface_attributes(path) -> dict:
    """{port: {X_INTERFACE_INFO: ..., X_INTERFACE_PARAMETER: ...}} of a Verilog file's ANSI ports."""
    text = re.sub(r"//[^\n]*", "", path.read_text())
    out = {}
    port_re = r"((?:\(\*.*?\*\)\s*)+)(?:input|output)\s+wire\s+(?:\[[^\]]*\]\s*)?(\w+)"
    for attrs, port in re.findall(port_re, text, re.S):
        out[port] = dict(re.findall(r'(X_INTERFACE_\w+)\s*=\s*"([^"]*)"', attrs))
    return out


def test_rtl_clock_and_reset_attributes_name_the_description(spec):
    """UG994: the module reference's clock is associated with every AXI interface and with the
    reset, the reset is active low; all four names are the overlay description's."""
    attrs = interface_attributes(ROOT / "hls_free_rtl" / f"{spec.accel_module}.v")
    clk, rst = spec.raw["accel.clk_pin"], spec.raw["accel.resetn_pin"]
    assert set(attrs) == {clk, rst}, "only the clock and the reset carry interface attributes"
    assert attrs[clk]["X_INTERFACE_INFO"] == f"xilinx.com:signal:clock:1.0 {clk} CLK"
    par = dict(item.strip().split(" ", 1) for item in attrs[clk]["X_INTERFACE_PARAMETER"].split(","))
    busifs = par["ASSOCIATED_BUSIF"].split(":")
    want = [spec.raw[k] for k in ("accel.ctrl_intf", "accel.in_intf", "accel.out_intf")]
    assert sorted(busifs) == sorted(want) and len(busifs) == len(set(busifs))
    assert par["ASSOCIATED_RESET"] == rst
    assert attrs[rst] == {
        "X_INTERFACE_INFO": f"xilinx.com:signal:reset:1.0 {rst} RST",
        "X_INTERFACE_PARAMETER": "POLARITY ACTIVE_LOW",
    }


@pytest.mark.parametrize(
    "old, new, message",
    [
        (None, "", "no port declared as a clock interface"),
        ("ASSOCIATED_BUSIF s_axi_ctrl:s_axis:m_axis", "ASSOCIATED_BUSIF s_axi_ctrl:s_axis",
         "AXI interface m_axis has no associated clock"),
        ("ASSOCIATED_BUSIF s_axi_ctrl:", "ASSOCIATED_BUSIF s_axi_ctl:",
         "s_axi_ctl, which is not an interface"),
        (", ASSOCIATED_RESET aresetn", "", "clock aclk has no ASSOCIATED_RESET"),
        ("POLARITY ACTIVE_LOW", "POLARITY ACTIVE_HIGH", "reset aresetn is named active low"),
        (r"xilinx.com:signal:reset:1.0 aresetn RST", "xilinx.com:signal:interrupt:1.0 aresetn INTERRUPT",
         "ASSOCIATED_RESET aresetn, which is not a port declared as a reset"),
    ],
    ids=["no-attributes", "busif-missing", "busif-misspelt", "no-reset", "reset-polarity",
         "reset-not-a-reset"],
)
def test_mock_vivado_rejects_a_top_without_the_clock_and_reset_attributes(
    tclsh, spec, tmp_path, old, new, message
):
    """The module reference needs each AXI interface associated with a clock that has a reset."""
    real = (ROOT / "hls_free_rtl" / "rtlcnn_top.v").read_text()
    # old None: drop every attribute instance
    changed = re.sub(r"\(\*.*?\*\)", "", real, flags=re.S) if old is None else real.replace(old, new)
    assert changed != real
    top = tmp_path / "rtlcnn_top.v"
    top.write_text(changed)
    rc, out, _, _ = run_mock(tclsh, tmp_path / "run", bd_body("pynq_z2", [top], spec.board("pynq_z2").part))
    assert rc != 0 and message in out, out[-2000:]


def test_mock_vivado_rejects_an_engine_parameter_the_rtl_lacks(tclsh, spec, tmp_path):
    top = tmp_path / "top.v"
    real = (ROOT / "hls_free_rtl" / "rtlcnn_top.v").read_text()
    assert "parameter CLK_MHZ" in real
    top.write_text(real.replace("parameter CLK_MHZ", "parameter CLK_HZ"))
    rc, out, _, _ = run_mock(tclsh, tmp_path / "run", bd_body("pynq_z2", [top], spec.board("pynq_z2").part))
    assert rc != 0 and "has no parameter CLK_MHZ" in out


# ------------------------------------------------------------------ one parser, two languages
def test_tcl_and_python_read_the_description_alike(tclsh, tmp_path):
    script = tmp_path / "dump.tcl"
    script.write_text(
        f"source {tcl_quote(ROOT / 'overlay' / 'common' / 'spec.tcl')}\n"
        f"set d [rtlcnn::read_spec {tcl_quote(overlay_spec.SPEC_FILE)}]\n"
        "dict for {k v} $d { puts \"$k\\t$v\" }\n"
    )
    out = subprocess.run([tclsh, str(script)], capture_output=True, text=True, check=True).stdout
    tcl = dict(line.split("\t", 1) for line in out.splitlines())
    assert tcl == overlay_spec.read()
    assert len(tcl) > 40


@pytest.mark.parametrize(
    "text, message",
    [("a 1\na 2\n", "duplicate key"), ("lonely\n", "has no value")],
)
def test_tcl_and_python_reject_the_same_errors(tclsh, tmp_path, text, message):
    bad = tmp_path / "bad_spec.txt"
    bad.write_text(text)
    with pytest.raises(overlay_spec.SpecError, match=message):
        overlay_spec.read(bad)
    script = tmp_path / "read.tcl"
    script.write_text(
        f"source {tcl_quote(ROOT / 'overlay' / 'common' / 'spec.tcl')}\n"
        f"rtlcnn::read_spec {tcl_quote(bad)}\n"
    )
    proc = subprocess.run([tclsh, str(script)], capture_output=True, text=True)
    assert proc.returncode != 0 and message in proc.stderr


def test_description_values_are_consistent(spec):
    assert re.fullmatch(r"20\d\d\.\d", spec.vivado_version)
    for b in spec.boards.values():
        assert b.engine["CLK_MHZ"] == int(b.clk_mhz), f"{b.name}: the engine's clock hint must match FCLK0"
        assert b.engine["P_IC"] in (1, 2, 4, 8) and (b.engine["P_OC"] * b.engine["P_IC"]) % 8 == 0
        assert b.engine["RQ_LANES"] in (1, 2)
    assert spec.max_transfer_bytes == (1 << 26) - 8


# ------------------------------------------------------------------ what Vivado drops, the Tcl catches
BD_TCL = "overlay/common/bd.tcl"
SPEC_TXT = "driver/board/overlay_spec.txt"
ONE_DICT = "set_property -dict [config [concat [ps_switches] [ps_settings]]] $ps"
NO_VALUE_SRC = ("    set_property -dict $src $cell\n", "")


def run_variant(tclsh, spec, tmp_path, board, edits, rtl=None):
    root = overlay_copy(tmp_path / "src", edits)
    rtl = rtl if rtl is not None else [ROOT / "hls_free_rtl" / f"{spec.accel_module}.v"]
    return run_mock(tclsh, tmp_path / "run", bd_body(board, rtl, spec.board(board).part, root))


def narrow_output_stream(tmp_path, spec) -> list:
    """The RTL top with a 32-bit m_axis (the DMA's S2MM side would follow it if allowed)."""
    real = (ROOT / "hls_free_rtl" / f"{spec.accel_module}.v").read_text()
    top = tmp_path / f"{spec.accel_module}.v"
    top.write_text(
        real.replace("output wire [63:0]   m_axis_tdata", "output wire [31:0]   m_axis_tdata")
        .replace("output wire [7:0]    m_axis_tkeep", "output wire [3:0]    m_axis_tkeep")
    )
    assert top.read_text() != real
    return [top]


@pytest.mark.parametrize(
    "board, edits, message",
    [
        # the PS widths in the same -dict as the switches that create their ports
        ("zcu104", [("overlay/zcu104/rtlcnn_bd.tcl", "configure_ps $ps", ONE_DICT)],
         "zynq_ultra_ps_e_0 CONFIG.PSU__SAXIGP2__DATA_WIDTH: wanted 64, Vivado has '128'"),
        ("zcu104", [("overlay/zcu104/rtlcnn_bd.tcl", "configure_ps $ps", ONE_DICT)],
         "zynq_ultra_ps_e_0 CONFIG.PSU__MAXIGP0__DATA_WIDTH: wanted 32, Vivado has '128'"),
        # (HP0 defaults to the 64 bits the PYNQ-Z2 wants: show the check with a 32-bit DMA)
        ("pynq_z2", [("overlay/pynq_z2/rtlcnn_bd.tcl", "configure_ps $ps", ONE_DICT),
                     (SPEC_TXT, "dma.mm_bits                 64", "dma.mm_bits                 32")],
         "processing_system7_0 CONFIG.PCW_S_AXI_HP0_DATA_WIDTH: wanted 32, Vivado has '64'"),
        # an address Vivado placed elsewhere than asked
        ("pynq_z2", [(BD_TCL, "assign_bd_address -offset $offset",
                      "assign_bd_address -offset [expr {$offset + 0x10000}]")],
         "OFFSET: wanted 0x43C00000, Vivado has '0x43C10000'"),
    ],
    ids=["zcu104-hp0-width", "zcu104-hpm0-width", "pynq_z2-hp0-width", "offset"],
)
def test_readback_stops_a_build_whose_settings_vivado_dropped(tclsh, spec, tmp_path, board, edits, message):
    rc, out, _, log = run_variant(tclsh, spec, tmp_path, board, edits)
    assert rc != 0, out[-3000:]
    assert "after validate_bd_design the block design differs from the overlay description" in out
    assert message in out, out[-3000:]
    assert "save_bd_design" not in [r["cmd"] for r in log], "a design that differs must not be saved"


def test_the_fixed_form_takes_the_width_the_one_dict_form_loses(tclsh, spec, tmp_path):
    """The control of the PYNQ-Z2 case above: switches first, then the width, and it holds."""
    edits = [(SPEC_TXT, "dma.mm_bits                 64", "dma.mm_bits                 32")]
    rc, out, st, _ = run_variant(tclsh, spec, tmp_path, "pynq_z2", edits)
    assert rc == 0, out[-3000:]
    assert st["cells"]["processing_system7_0"]["props"]["CONFIG.PCW_S_AXI_HP0_DATA_WIDTH"] == "32"


def test_readback_catches_a_propagated_dma_width(tclsh, spec, tmp_path):
    """Without VALUE_SRC USER, validation gives the DMA's S2MM stream the width of the
    engine's m_axis (here 32 bits): the driver's 64-bit beats would be wrong."""
    rtl = narrow_output_stream(tmp_path, spec)
    rc, out, _, _ = run_variant(tclsh, spec, tmp_path, "pynq_z2", [(BD_TCL, *NO_VALUE_SRC)], rtl)
    assert rc != 0, out[-3000:]
    assert "axi_dma_0 CONFIG.c_s_axis_s2mm_tdata_width: wanted 64, Vivado has '32'" in out, out[-3000:]


def test_user_dma_width_and_a_narrower_engine_fail_validation(tclsh, spec, tmp_path):
    """With VALUE_SRC USER the DMA keeps 64 bits, and a 32-bit engine stream is refused."""
    rtl = narrow_output_stream(tmp_path, spec)
    rc, out, _, _ = run_variant(tclsh, spec, tmp_path, "pynq_z2", [], rtl)
    assert rc != 0, out[-3000:]
    assert ("[BD 41-237] Bus Interface property TDATA_NUM_BYTES does not match between "
            "/rtlcnn_0/m_axis(4) and /axi_dma_0/S_AXIS_S2MM(8)") in out


@pytest.mark.parametrize("board", BOARDS)
def test_a_bare_assign_bd_address_is_refused(tclsh, spec, tmp_path, board):
    where = "    exclude_segs $dma_spaces\n"
    edits = [(BD_TCL, where, "    assign_bd_address\n" + where)]
    rc, out, _, _ = run_variant(tclsh, spec, tmp_path, board, edits)
    assert rc != 0 and "a bare assign_bd_address was used" in out, out[-3000:]


@pytest.mark.parametrize("board", BOARDS)
def test_a_segment_neither_assigned_nor_excluded_is_refused(tclsh, spec, tmp_path, board):
    """Drop the last segment of ps.exclude_segs: the DMA still reaches it ([BD 41-1356])."""
    b = spec.board(board)
    line = f"board.{board}.ps.exclude_segs"
    text = (ROOT / SPEC_TXT).read_text()
    old = next(ln for ln in text.splitlines() if ln.startswith(line))
    kept = " ".join(b.exclude_segs[:-1]) or b.ps["ddr_seg"].split("/")[0] + "/NONE"
    rc, out, _, _ = run_variant(tclsh, spec, tmp_path, board, [(SPEC_TXT, old, f"{line} {kept}")])
    assert rc != 0, out[-3000:]
    seg, ps, dma = b.exclude_segs[-1], b.ps["name"], spec.dma_name
    assert (f"[BD 41-1356] Slave segment </{ps}/{seg}> is not assigned into address space "
            f"</{dma}/Data_MM2S>") in out, out[-3000:]


def test_an_excluded_segment_the_ps_lacks_is_skipped(tclsh, spec, tmp_path):
    """The PYNQ-Z2 preset leaves PCW_USE_HIGH_OCM off, so HP0_HIGH_OCM does not exist: the
    Tcl says so and excludes nothing, and the design still validates."""
    edits = [("overlay/pynq_z2/rtlcnn_bd.tcl", "        PCW_EN_CLK0_PORT                1 \\\n",
              "        PCW_EN_CLK0_PORT                1 \\\n        PCW_USE_HIGH_OCM 0 \\\n")]
    rc, out, st, _ = run_variant(tclsh, spec, tmp_path, "pynq_z2", edits)
    assert rc == 0, out[-3000:]
    assert "has no segment S_AXI_HP0/HP0_HIGH_OCM in this configuration" in out
    assert st["excludes"] == []


def test_tcl_and_python_read_the_exclusions_alike(tclsh, spec, tmp_path):
    script = tmp_path / "excl.tcl"
    script.write_text(
        f"source {tcl_quote(ROOT / 'overlay' / 'common' / 'spec.tcl')}\n"
        + "".join(
            f"rtlcnn::load_spec {tcl_quote(overlay_spec.SPEC_FILE)} {b}\n"
            f"puts \"{b}\\t[join [rtlcnn::bget ps.exclude_segs] ,]\"\n"
            for b in BOARDS
        )
    )
    out = subprocess.run([tclsh, str(script)], capture_output=True, text=True, check=True).stdout
    tcl = {b: tuple(v.split(",")) for b, v in (line.split("\t") for line in out.splitlines())}
    assert tcl == {b: spec.board(b).exclude_segs for b in BOARDS}
