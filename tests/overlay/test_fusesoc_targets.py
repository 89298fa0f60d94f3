"""`fusesoc run --setup --target=<board>` works without Vivado and writes a project that reads
every RTL file, sources the block-design Tcl, guards its inputs before the build and checks and
copies rtlcnn.bit/.hwh after it (the hooks themselves: test_collect_outputs.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from overlay_helpers import BOARDS, ROOT, core_data, fileset_files, run_mock

from rtlcnn.board import overlay_spec


def fusesoc_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("fusesoc")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("fusesoc")
    if found is None:
        pytest.skip("fusesoc is not installed (pip install -e '.[sim]')")
    return [found]


@pytest.fixture(scope="module", params=BOARDS)
def setup(request, tmp_path_factory):
    """Run the documented set-up command in a temporary build root; return the work root."""
    board = request.param
    build = tmp_path_factory.mktemp(f"fusesoc_{board}")
    cmd = fusesoc_cmd() + [
        "--cores-root", str(ROOT), "run", "--setup", "--build-root", str(build),
        f"--target={board}", "rtlcnn",
    ]
    proc = subprocess.run(cmd, cwd=build, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    eda = list(build.glob(f"*/{board}/*.eda.yml"))
    assert len(eda) == 1, f"expected one EDAM file under {build}, found {eda}"
    return board, eda[0].parent, eda[0].name[: -len(".eda.yml")]


def test_targets_match_the_description():
    spec = overlay_spec.load()
    targets = core_data()["targets"]
    for board in BOARDS:
        t = targets[board]
        assert t["flow"] == "vivado"
        assert t["toplevel"] == f"{spec.design_name}_wrapper"
        assert t["flow_options"]["part"] == spec.board(board).part
        assert t["flow_options"]["board_part"] == spec.board(board).board_part


def test_project_reads_the_rtl_then_sources_the_block_design(setup):
    board, work, name = setup
    spec = overlay_spec.load()
    tcl = (work / f"{name}.tcl").read_text()
    reads = re.findall(r"^read_verilog \{(.+)\}$", tcl, re.M)
    rtl = fileset_files("rtl")
    assert [os.path.normpath(r).split(os.sep)[2:] for r in reads] == [f.split("/") for f in rtl]
    for r in reads:
        assert (work / r).exists(), f"{r} was not exported"
    sources = re.findall(r"^source \{(.+)\}$", tcl, re.M)
    assert [s for s in sources if s.endswith(f"overlay/{board}/rtlcnn_bd.tcl")], tcl
    bd_line = tcl.index(f"overlay/{board}/rtlcnn_bd.tcl")
    assert all(tcl.index(r) < bd_line for r in reads), "the RTL must be read before the block design"
    assert f"set_property part {spec.board(board).part} [current_project]" in tcl
    assert f"set_property board_part {spec.board(board).board_part} [current_project]" in tcl
    assert f"set_property top {spec.design_name}_wrapper [current_fileset]" in tcl
    # automatic compile order: with edalize's default (None) Vivado cannot resolve the block
    # design's module reference ([filemgmt 56-587], olofk/fusesoc#709)
    assert "set_property source_mgmt_mode All [current_project]" in tcl
    # the files the block-design Tcl needs beside it are exported with it
    bd = work / next(s for s in sources if s.endswith("rtlcnn_bd.tcl"))
    for rel in ("../common/spec.tcl", "../common/bd.tcl", "../../driver/board/overlay_spec.txt"):
        assert (bd.parent / rel).exists(), f"{rel} is not exported beside {bd}"
    assert "vivado" in (work / "Makefile").read_text()


def test_post_build_hook_collects_the_outputs(setup):
    board, work, _ = setup
    make = (work / "Makefile").read_text()
    assert re.search(rf"^\t.*python3 collect_outputs.py {board}$", make, re.M), make
    assert re.search(rf"^\t.*python3 collect_outputs.py --inputs {board}$", make, re.M), make
    assert re.search(r"^pre_build: \S+_inputs_" + board + "$", make, re.M), make
    assert re.search(r"^all: post_build$", make, re.M)
    script = ROOT / "overlay" / "common" / "collect_outputs.py"
    assert (work / "collect_outputs.py").read_text() == script.read_text()


def test_generated_project_runs_under_the_mock_vivado(setup, tclsh):
    """The whole generated project script, run where Vivado would run it."""
    board, work, name = setup
    spec = overlay_spec.load()
    rc, out, state, log = run_mock(tclsh, work, f"source {{{name}.tcl}}")
    assert rc == 0, out
    assert state["fileset_props"]["TOP"] == f"{spec.design_name}_wrapper"
    assert {spec.accel_name, spec.dma_name, spec.board(board).ps["name"]} <= set(state["cells"])
    read = [p for kind, p in state["files"] if kind == "read_verilog"]
    assert len(read) == len(fileset_files("rtl"))
    cmds = [r["cmd"] for r in log]
    assert cmds.index("create_bd_design") > max(i for i, c in enumerate(cmds) if c == "read_verilog")
