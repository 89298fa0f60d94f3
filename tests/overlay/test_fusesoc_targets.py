"""`fusesoc run --setup --target=<board>` works without Vivado and writes a project that reads
every RTL file, sources the block-design Tcl and copies rtlcnn.bit/.hwh after the build."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
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
    # the files the block-design Tcl needs beside it are exported with it
    bd = work / next(s for s in sources if s.endswith("rtlcnn_bd.tcl"))
    for rel in ("../common/spec.tcl", "../common/bd.tcl", "../../driver/board/overlay_spec.txt"):
        assert (bd.parent / rel).exists(), f"{rel} is not exported beside {bd}"
    assert "vivado" in (work / "Makefile").read_text()


def test_post_build_hook_collects_the_outputs(setup):
    board, work, _ = setup
    make = (work / "Makefile").read_text()
    assert re.search(rf"^\t.*python3 collect_outputs.py {board}$", make, re.M), make
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


def test_collect_outputs_copies_and_checks(tmp_path, setup):
    """The post-build script, on a fake finished build: copies, and refuses a wrong .hwh."""
    board, _, _ = setup
    spec = overlay_spec.load()
    b = spec.board(board)
    root = tmp_path / "checkout"
    (root / "driver" / "board").mkdir(parents=True)
    for f in ("overlay_spec.py", "overlay_spec.txt"):
        shutil.copy(ROOT / "driver" / "board" / f, root / "driver" / "board" / f)
    (root / "fusesoc.core").write_text("CAPI=2:\n")
    work = root / "build" / "rtlcnn_1" / board
    d = spec.design_name
    hwh = work / f"proj.gen/sources_1/bd/{d}/hw_handoff/{d}.hwh"
    bit = work / f"proj.runs/impl_1/{d}_wrapper.bit"
    hwh.parent.mkdir(parents=True)
    bit.parent.mkdir(parents=True)
    (work / "rtlcnn_1.eda.yml").write_text("cores:\n  ::rtlcnn:1:\n    core_file: ../../../fusesoc.core\n")
    shutil.copy(ROOT / "overlay" / "common" / "collect_outputs.py", work)

    def run():
        return subprocess.run([sys.executable, "collect_outputs.py", board], cwd=work,
                              capture_output=True, text=True)

    hwh.write_text(f'<MODULE INSTANCE="{spec.accel_name}"/><MODULE INSTANCE="{spec.dma_name}"/>'
                   f'<SYSTEMINFO DEVICE="{b.part}"/>')
    time.sleep(0.01)
    bit.write_bytes(b"\x00bit")
    proc = run()
    assert proc.returncode == 0, proc.stderr
    for dest in (work, root / "overlay"):
        assert (dest / f"{spec.output_name}.bit").read_bytes() == b"\x00bit"
        assert spec.dma_name in (dest / f"{spec.output_name}.hwh").read_text()

    hwh.write_text(f'<MODULE INSTANCE="other_0"/><SYSTEMINFO DEVICE="{b.part}"/>')
    os.utime(bit)
    proc = run()
    assert proc.returncode != 0 and f"no instance '{spec.accel_name}'" in proc.stderr
