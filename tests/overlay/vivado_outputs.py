"""What a finished Vivado 2024.1 build leaves in a FuseSoC work root, in Vivado's own formats.

The layout is Vivado's project layout (``<project>.runs/impl_1/<top>.bit``,
``<project>.runs/impl_1/<top>_timing_summary_routed.rpt``,
``<project>.gen/sources_1/bd/<design>/hw_handoff/<design>.hwh``); the files follow the real
artifacts, not our assumptions:

- the ``.hwh`` follows the hardware handoffs Vivado wrote for PYNQ's own overlays
  (Xilinx/PYNQ ``boards/Pynq-Z2/base/base.hwh``, ``boards/ZCU104/base/base.hwh``): an
  ``EDKSYSTEM`` root with ``VIVADOVERSION``, a ``SYSTEMINFO`` that gives the part in pieces
  (``ARCH="zynq" DEVICE="7z020" PACKAGE="clg400" SPEEDGRADE="-1"``; UltraScale+
  ``ARCH="zynquplus" DEVICE="xczu7ev" PACKAGE="ffvc1156" SPEEDGRADE="-2"``, no temperature
  grade) and the board, ``MODULE`` elements with their parameters, and the PS's
  ``MEMORYMAP`` of ``MEMRANGE`` elements (attributes in Vivado's alphabetical order) that
  pynq's parser (``pynq.pl_server.hwh_parser``) turns into ``ip_dict``;
- the timing summary follows ``report_timing_summary`` output: the header block, the
  "Design Timing Summary" table of twelve columns, and Vivado's verdict line.

``fake_vivado()`` writes a stand-in ``vivado`` executable that produces exactly these files,
so the Makefile edalize writes can be run end to end with the real hooks.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from overlay_helpers import ROOT  # noqa: F401  (tests import both)

from rtlcnn.board import overlay_spec


def systeminfo(part: str, board_part: str, design: str) -> str:
    """The SYSTEMINFO element Vivado writes for ``part``."""
    p = part.lower()
    if p.startswith("xczu"):
        device, package, speed = p.split("-")[:3]
        arch = "zynquplus"
    else:
        device, speed = p[2:].split("-")
        device, package = device[:5], device[5:]  # 7z020 | clg400
        arch = "zynq"
    return (f'<SYSTEMINFO ARCH="{arch}" BOARD="{board_part}" DEVICE="{device}" NAME="{design}" '
            f'PACKAGE="{package}" SPEEDGRADE="-{speed}"/>')


def _params(d: dict) -> str:
    return "".join(f'\n        <PARAMETER NAME="{k}" VALUE="{v}"/>' for k, v in d.items())


def _memrange(block, base, size, inst, master, slave, memtype="REGISTER") -> str:
    return (f'\n        <MEMRANGE ADDRESSBLOCK="{block}" BASENAME="C_BASEADDR" BASEVALUE="0x{base:08X}" '
            f'HIGHNAME="C_HIGHADDR" HIGHVALUE="0x{base + size - 1:08X}" INSTANCE="{inst}" '
            f'IS_DATA="TRUE" IS_INSTRUCTION="TRUE" MASTERBUSINTERFACE="{master}" '
            f'MEMTYPE="{memtype}" SLAVEBUSINTERFACE="{slave}"/>')


def _module(inst, vlnv, modtype, params, body="", modclass="PERIPHERAL") -> str:
    version = vlnv.rsplit(":", 1)[1]
    return (f'\n    <MODULE COREREVISION="1" FULLNAME="/{inst}" HWVERSION="{version}" INSTANCE="{inst}" '
            f'IPTYPE="PERIPHERAL" IS_ENABLE="1" MODCLASS="{modclass}" MODTYPE="{modtype}" '
            f'VLNV="{vlnv}">\n      <PARAMETERS>{_params(params)}\n      </PARAMETERS>{body}\n    </MODULE>')


def hwh_text(board: str, *, part: str | None = None, accel_base: int | None = None,
             accel_name: str | None = None, vivado: str = "2024.1") -> str:
    """A hardware handoff of the rtlcnn overlay for ``board`` (overrides make bad ones)."""
    spec = overlay_spec.load()
    b = spec.board(board)
    part = part or b.part
    accel = accel_name or spec.accel_name
    abase = b.accel_base if accel_base is None else accel_base
    ps_name, ps_vlnv = b.ps["name"], b.ps["vlnv"]
    ctrl = b.ps["ctrl_port"]
    zynq7 = ps_vlnv.split(":")[2] == "processing_system7"
    if zynq7:
        ps_params = {"PCW_FPGA_FCLK0_ENABLE": 1, "PCW_FPGA_FCLK1_ENABLE": 0,
                     "PCW_FPGA_FCLK2_ENABLE": 0, "PCW_FPGA_FCLK3_ENABLE": 0,
                     "PCW_FPGA0_PERIPHERAL_FREQMHZ": int(b.clk_mhz)}
        for i in range(4):
            ps_params[f"PCW_FCLK{i}_PERIPHERAL_DIVISOR0"] = 5 if i == 0 else 1
            ps_params[f"PCW_FCLK{i}_PERIPHERAL_DIVISOR1"] = 2 if i == 0 else 1
        ps_params[f"PCW_{b.ps['data_port']}_DATA_WIDTH"] = spec.dma_mm_bits
    else:
        ps_params = {f"PSU__FPGA_PL{i}_ENABLE": int(i == 0) for i in range(4)}
        for i in range(4):
            ps_params[f"PSU__CRL_APB__PL{i}_REF_CTRL__DIVISOR0"] = 15 if i == 0 else 4
            ps_params[f"PSU__CRL_APB__PL{i}_REF_CTRL__DIVISOR1"] = 1
        ps_params["PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ"] = int(b.clk_mhz)
        ps_params["PSU__SAXIGP2__DATA_WIDTH"] = spec.dma_mm_bits
    ps_map = ("\n      <MEMORYMAP>"
              + _memrange("Reg", b.dma_base, b.dma_range, spec.dma_name, ctrl, "S_AXI_LITE")
              + _memrange("reg0", abase, b.accel_range, accel, ctrl, spec.raw["accel.ctrl_intf"])
              + "\n      </MEMORYMAP>")
    seg = b.ps["ddr_seg"].split("/")
    dma_map = ("\n      <MEMORYMAP>"
               + _memrange(seg[1], b.ddr_base, b.ddr_range, ps_name, "M_AXI_MM2S", seg[0], "MEMORY")
               + _memrange(seg[1], b.ddr_base, b.ddr_range, ps_name, "M_AXI_S2MM", seg[0], "MEMORY")
               + "\n      </MEMORYMAP>")
    sw, mw = spec.dma_stream_bits, spec.dma_mm_bits
    dma_params = {
        "C_INCLUDE_SG": 0, "C_SG_LENGTH_WIDTH": spec.dma_length_bits,
        "C_M_AXI_MM2S_DATA_WIDTH": mw, "C_M_AXIS_MM2S_TDATA_WIDTH": sw,
        "C_M_AXI_S2MM_DATA_WIDTH": mw, "C_S_AXIS_S2MM_TDATA_WIDTH": sw,
        "C_BASEADDR": f"0x{b.dma_base:08X}", "C_HIGHADDR": f"0x{b.dma_base + b.dma_range - 1:08X}",
        "c_include_sg": 0, "c_sg_length_width": spec.dma_length_bits,
        "c_m_axis_mm2s_tdata_width": sw, "c_s_axis_s2mm_tdata_width": sw,
        "c_m_axi_mm2s_data_width": mw, "c_m_axi_s2mm_data_width": mw, "c_addr_width": spec.dma_addr_bits,
    }
    accel_params = dict(b.engine)
    modules = (
        _module(accel, spec.accel_vlnv, spec.accel_module, accel_params)
        + _module(spec.dma_name, spec.dma_vlnv, "axi_dma", dma_params, dma_map)
        + _module(ps_name, ps_vlnv, ps_vlnv.split(":")[2], ps_params, ps_map, modclass="PROCESSOR")
        + _module(spec.raw["reset.name"], spec.raw["reset.vlnv"], "proc_sys_reset", {"C_EXT_RESET_HIGH": 0})
    )
    return ('<?xml version="1.0" encoding="UTF-8" standalone="no" ?>\n'
            f'<EDKSYSTEM EDWVERSION="1.2" TIMESTAMP="Tue Dec  1 10:00:00 2026" VIVADOVERSION="{vivado}">\n\n'
            f'  {systeminfo(part, b.board_part, spec.design_name)}\n\n'
            '  <EXTERNALPORTS>\n  </EXTERNALPORTS>\n\n'
            '  <EXTERNALINTERFACES>\n  </EXTERNALINTERFACES>\n\n'
            f'  <MODULES>{modules}\n  </MODULES>\n\n</EDKSYSTEM>\n')


def timing_text(board: str, wns: float = 1.234, whs: float = 0.045, wpws: float = 3.75,
                failing: int | None = None) -> str:
    """A routed ``report_timing_summary`` of the overlay top (negative slack makes it fail)."""
    spec = overlay_spec.load()
    b = spec.board(board)
    top = f"{spec.design_name}_wrapper"
    period = 1000.0 / b.clk_mhz
    fs = failing if failing is not None else (7 if wns < 0 else 0)
    fh = 3 if whs < 0 else 0
    fp = 1 if wpws < 0 else 0
    tns, ths, tpws = (min(0.0, wns) * max(fs, 1), min(0.0, whs) * max(fh, 1), min(0.0, wpws))
    ok = wns >= 0 and whs >= 0 and wpws >= 0
    dash = "-" * 96
    return f"""Copyright 1986-2022 Xilinx, Inc. All Rights Reserved. Copyright 2022-2024 Advanced Micro Devices, Inc. All Rights Reserved.
{'-' * 200}
| Tool Version      : Vivado v.2024.1 (lin64) Build 5076996 Wed May 22 18:36:09 MDT 2024
| Date              : Tue Dec  1 10:00:00 2026
| Host              : buildhost running 64-bit Ubuntu 22.04.4 LTS
| Command           : report_timing_summary -max_paths 10 -report_unconstrained -file {top}_timing_summary_routed.rpt -pb {top}_timing_summary_routed.pb -rpx {top}_timing_summary_routed.rpx -warn_on_violation
| Design            : {top}
| Device            : {'-'.join(b.part.split('-')[:2]) if 'zu' in b.part else b.part[2:7] + '-' + b.part[7:13]}
| Speed File        : -{b.part.split('-')[-1] if 'zu' not in b.part else b.part.split('-')[2]}  PRODUCTION 1.12 2019-11-22
| Design State      : Routed
{'-' * 200}

Timing Summary Report

{dash}
| Timer Settings
| --------------
{dash}

  Enable Multi Corner Analysis               :  Yes
  Enable Pessimism Removal                   :  Yes


{dash}
| Design Timing Summary
| ---------------------
{dash}

    WNS(ns)      TNS(ns)  TNS Failing Endpoints  TNS Total Endpoints      WHS(ns)      THS(ns)  THS Failing Endpoints  THS Total Endpoints     WPWS(ns)     TPWS(ns)  TPWS Failing Endpoints  TPWS Total Endpoints  
    -------      -------  ---------------------  -------------------      -------      -------  ---------------------  -------------------     --------     --------  ----------------------  --------------------  
{wns:11.3f}  {tns:11.3f}  {fs:21d}  {24031:19d}  {whs:11.3f}  {ths:11.3f}  {fh:21d}  {24031:19d}  {wpws:11.3f}  {tpws:11.3f}  {fp:22d}  {9876:20d}  


{'All user specified timing constraints are met.' if ok else 'Timing constraints are not met.'}


{dash}
| Clock Summary
| -------------
{dash}

Clock       Waveform(ns)         Period(ns)      Frequency(MHz)
-----       ------------         ----------      --------------
clk_fpga_0  {{0.000 {period / 2:.3f}}}       {period:.3f}          {b.clk_mhz:.3f}
"""  # noqa: E501, W291


def write_outputs(work: Path, project: str, board: str, *, hwh: str | None = None,
                  timing: str | None = None) -> dict:
    """Write a finished build's handoff, timing summary and bitstream, in Vivado's order."""
    spec = overlay_spec.load()
    d, top = spec.design_name, f"{spec.design_name}_wrapper"
    paths = {
        "hwh": work / f"{project}.gen/sources_1/bd/{d}/hw_handoff/{d}.hwh",
        "rpt": work / f"{project}.runs/impl_1/{top}_timing_summary_routed.rpt",
        "bit": work / f"{project}.runs/impl_1/{top}.bit",
    }
    for p in paths.values():
        p.parent.mkdir(parents=True, exist_ok=True)
    paths["hwh"].write_text(hwh if hwh is not None else hwh_text(board))
    paths["rpt"].write_text(timing if timing is not None else timing_text(board))
    paths["bit"].write_bytes(b"\x00\x09\x0f\xf0" + f"bitstream of {project}".encode())
    t = paths["hwh"].stat().st_mtime
    for i, k in enumerate(("rpt", "bit"), 1):  # route, then write_bitstream
        os.utime(paths[k], (t + i, t + i))
    return paths


FAKE_VIVADO = '''#!{python}
"""A stand-in `vivado` for edalize's Makefile: writes what a Vivado 2024.1 build writes."""
import os, sys, time
sys.path[:0] = {paths!r}
from pathlib import Path
import vivado_outputs as V
work = Path.cwd()
args = sys.argv[1:]
scripts = [a for a in args if a.endswith(".tcl")]
log = work / "fake_vivado.log"
with log.open("a") as f:
    f.write(" ".join(args) + "\\n")
name = next(p.stem for p in work.glob("*.eda.yml")).replace(".eda", "")
board = os.environ["FAKE_VIVADO_BOARD"]
if scripts == [name + ".tcl"]:            # project creation: the block design and its handoff
    (work / (name + ".xpr")).write_text("<Project/>")
    d = V.overlay_spec.load().design_name
    hwh = work / f"{{name}}.gen/sources_1/bd/{{d}}/hw_handoff/{{d}}.hwh"
    hwh.parent.mkdir(parents=True, exist_ok=True)
    hwh.write_text(V.hwh_text(board, part=os.environ.get("FAKE_VIVADO_PART")))
elif name + "_run.tcl" in scripts:         # synthesis, implementation, bitstream
    if not (work / (name + ".xpr")).exists():
        sys.exit("ERROR: [Common 17-69] Command failed: project file " + name + ".xpr not found")
    time.sleep(0.02)
    top = V.overlay_spec.load().design_name + "_wrapper"
    impl = work / f"{{name}}.runs/impl_1"
    impl.mkdir(parents=True, exist_ok=True)
    wns = float(os.environ.get("FAKE_VIVADO_WNS", "1.234"))
    (impl / f"{{top}}_timing_summary_routed.rpt").write_text(V.timing_text(board, wns=wns))
    time.sleep(0.02)
    (impl / f"{{top}}.bit").write_bytes(b"bit " + str(time.time()).encode())
    (work / (name + ".bit")).write_bytes((impl / f"{{top}}.bit").read_bytes())
else:
    sys.exit("fake vivado: unexpected arguments " + " ".join(args))
'''


def fake_vivado(bindir: Path) -> Path:
    """Write the stand-in ``vivado`` into ``bindir`` (put it first on PATH)."""
    bindir.mkdir(parents=True, exist_ok=True)
    exe = bindir / "vivado"
    here = str(Path(__file__).resolve().parent)
    paths = [here] + [p for p in sys.path if p]
    exe.write_text(FAKE_VIVADO.format(python=sys.executable, paths=paths))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return exe
