"""The build hooks (overlay/common/collect_outputs.py) on build folders laid out and written as
Vivado 2024.1 writes them (tests/overlay/vivado_outputs.py), and through the Makefile edalize
writes, run end to end with a stand-in `vivado`."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
import vivado_outputs as V
from overlay_helpers import BOARDS, ROOT
from test_fusesoc_targets import fusesoc_cmd

from rtlcnn.board import ip, overlay_spec

SCRIPT = ROOT / "overlay" / "common" / "collect_outputs.py"
PROJECT = "rtlcnn_1.0.0"


def _script_module():
    spec = importlib.util.spec_from_file_location("collect_outputs_under_test", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


CO = _script_module()

# SYSTEMINFO of the hardware handoffs Vivado wrote for PYNQ's own base overlays
# (Xilinx/PYNQ boards/Pynq-Z2/base/base.hwh and boards/ZCU104/base/base.hwh).
REAL_SYSTEMINFO = {
    "pynq_z2": {"ARCH": "zynq", "DEVICE": "7z020", "PACKAGE": "clg400", "SPEEDGRADE": "-1"},
    "zcu104": {"ARCH": "zynquplus", "DEVICE": "xczu7ev", "PACKAGE": "ffvc1156", "SPEEDGRADE": "-2"},
}


@pytest.mark.parametrize("board", BOARDS)
def test_part_is_split_as_vivado_writes_it(board):
    spec = overlay_spec.load()
    assert CO.part_fields(spec.board(board).part) == REAL_SYSTEMINFO[board]
    # and the fixture writes what the real handoffs hold
    text = V.systeminfo(spec.board(board).part, spec.board(board).board_part, "x")
    for k, v in REAL_SYSTEMINFO[board].items():
        assert f'{k}="{v}"' in text


@pytest.mark.parametrize("board", BOARDS)
def test_pynq_parses_the_fixture_handoff_as_the_driver_expects(board):
    """pynq's own parser reads the fixture .hwh: the fixture follows pynq's format, and the
    addresses and parameters the driver uses are where pynq finds them."""
    from pynq.pl_server.hwh_parser import _HWHUltrascale, _HWHZynq

    spec = overlay_spec.load()
    b = spec.board(board)
    parser = _HWHZynq if b.ps["vlnv"].split(":")[2] == "processing_system7" else _HWHUltrascale
    h = parser(hwh_data=V.hwh_text(board))
    acc, dma = h.ip_dict[spec.accel_name], h.ip_dict[spec.dma_name]
    want = (b.accel_base, b.accel_range, spec.accel_vlnv)
    assert (acc["phys_addr"], acc["addr_range"], acc["type"]) == want
    assert (dma["phys_addr"], dma["addr_range"], dma["type"]) == (b.dma_base, b.dma_range, spec.dma_vlnv)
    assert {k: int(v) for k, v in acc["parameters"].items()} == b.engine
    assert h.clock_dict[0]["enable"] == 1
    overlay = types.SimpleNamespace(ip_dict=h.ip_dict)
    assert ip.dma_max_transfer_bytes(overlay) == spec.max_transfer_bytes


def make_work(tmp_path: Path, board: str) -> Path:
    """A FuseSoC work root as `fusesoc run` leaves it: EDAM file, exported sources, script."""
    root = tmp_path / "checkout"
    (root / "driver" / "board").mkdir(parents=True)
    for f in ("overlay_spec.py", "overlay_spec.txt"):
        shutil.copy(ROOT / "driver" / "board" / f, root / "driver" / "board" / f)
    (root / "fusesoc.core").write_text("CAPI=2:\n")
    work = root / "build" / PROJECT / board
    src = work / "src" / PROJECT
    (src / "driver" / "board").mkdir(parents=True)
    shutil.copy(ROOT / "driver" / "board" / "overlay_spec.txt", src / "driver" / "board")
    (work / f"{PROJECT}.eda.yml").write_text(
        f"version: 0.2.1\nname: {PROJECT}\ntoplevel: rtlcnn_bd_wrapper\ncores:\n"
        f"  ::rtlcnn:1.0.0:\n    core_file: ../../../fusesoc.core\n")
    (work / f"{PROJECT}.tcl").write_text("# project script\n")
    shutil.copy(SCRIPT, work / "collect_outputs.py")
    return work


def hook(work: Path, *args, env=None):
    full = dict(os.environ, RTLCNN_OVERLAY_OUT=str(work / "out"))
    full.pop(CO.ALLOW_TIMING_ENV, None)
    full.update(env or {})
    return subprocess.run([sys.executable, "collect_outputs.py", *args], cwd=work,
                          capture_output=True, text=True, env=full)


def built(tmp_path, board, **outputs):
    work = make_work(tmp_path, board)
    assert hook(work, "--inputs", board).returncode == 0
    (work / f"{PROJECT}.xpr").write_text("<Project/>")
    V.write_outputs(work, PROJECT, board, **outputs)
    return work


@pytest.mark.parametrize("board", BOARDS)
def test_a_good_build_is_collected(tmp_path, board):
    work = built(tmp_path, board)
    proc = hook(work, board)
    assert proc.returncode == 0, proc.stderr
    spec = overlay_spec.load()
    for dest in (work, work / "out"):
        assert (dest / f"{spec.output_name}.bit").read_bytes().startswith(b"\x00\x09\x0f\xf0")
        assert 'INSTANCE="axi_dma_0"' in (dest / f"{spec.output_name}.hwh").read_text()


def test_wrong_part_is_refused(tmp_path):
    work = built(tmp_path, "pynq_z2", hwh=V.hwh_text("pynq_z2", part="xc7z010clg400-1"))
    proc = hook(work, "pynq_z2")
    assert proc.returncode == 1
    assert "DEVICE='7z010'" in proc.stderr and "not part xc7z020clg400-1" in proc.stderr
    assert not (work / "out").exists()


def test_handoff_of_the_other_board_is_refused(tmp_path):
    work = built(tmp_path, "pynq_z2", hwh=V.hwh_text("zcu104"))
    proc = hook(work, "pynq_z2")
    assert proc.returncode == 1 and "ARCH='zynquplus'" in proc.stderr
    assert "built for board xilinx.com:zcu104" in proc.stderr


def test_missing_engine_and_wrong_address_are_refused(tmp_path):
    work = built(tmp_path, "zcu104", hwh=V.hwh_text("zcu104", accel_name="other_0"))
    proc = hook(work, "zcu104")
    assert proc.returncode == 1 and "no instance 'rtlcnn_0'" in proc.stderr
    assert "other_0" in proc.stderr  # the instances it has are listed
    work = built(tmp_path / "b", "zcu104", hwh=V.hwh_text("zcu104", accel_base=0xA0020000))
    proc = hook(work, "zcu104")
    assert proc.returncode == 1
    assert "mapped at 0xA0020000-0xA002FFFF" in proc.stderr and "says 0xA0000000" in proc.stderr


def test_stale_bitstream_is_refused(tmp_path):
    work = built(tmp_path, "pynq_z2")
    paths = V.write_outputs(work, PROJECT, "pynq_z2")
    t = paths["bit"].stat().st_mtime
    os.utime(paths["hwh"], (t + 5, t + 5))  # the block design was regenerated afterwards
    proc = hook(work, "pynq_z2")
    assert proc.returncode == 1 and "the bitstream is stale" in proc.stderr
    os.utime(paths["hwh"], (t - 5, t - 5))
    os.utime(paths["rpt"], (t + 5, t + 5))  # routed again, bitstream not rewritten
    proc = hook(work, "pynq_z2")
    assert proc.returncode == 1 and "routed again" in proc.stderr


def test_bitstream_from_other_inputs_is_refused(tmp_path):
    work = built(tmp_path, "pynq_z2")
    spec_txt = work / "src" / PROJECT / "driver" / "board" / "overlay_spec.txt"
    spec_txt.write_text(spec_txt.read_text() + "\n# edited\n")
    proc = hook(work, "pynq_z2")
    assert proc.returncode == 1
    assert "overlay_spec.txt (changed)" in proc.stderr and "stale" in proc.stderr


@pytest.mark.parametrize("kind, kw, words", [
    ("setup", {"wns": -0.321}, ["setup slack WNS -0.321 ns", "misses by 0.321 ns", "7 failing endpoints"]),
    ("hold", {"whs": -0.012}, ["hold slack WHS -0.012 ns", "misses by 0.012 ns"]),
    ("pulse width", {"wpws": -0.1}, ["pulse width slack WPWS -0.100 ns"]),
])
def test_failed_timing_is_refused_saying_by_how_much(tmp_path, kind, kw, words):
    work = built(tmp_path, "zcu104", timing=V.timing_text("zcu104", **kw))
    proc = hook(work, "zcu104")
    assert proc.returncode == 1, proc.stdout
    assert "fails timing at 100 MHz" in proc.stderr
    for w in words:
        assert w in proc.stderr
    assert not (work / "out").exists()


def test_failed_timing_can_be_collected_loudly_on_request(tmp_path):
    work = built(tmp_path, "pynq_z2", timing=V.timing_text("pynq_z2", wns=-0.5))
    for args, env in (((), {CO.ALLOW_TIMING_ENV: "1"}), (("--allow-timing-failure",), {})):
        proc = hook(work, *args, "pynq_z2", env=env)
        assert proc.returncode == 0, proc.stderr
        assert "NOT trustworthy" in proc.stderr and "TIMING FAILED" in proc.stdout


def test_missing_or_foreign_timing_report_is_refused(tmp_path):
    work = built(tmp_path, "pynq_z2")
    rpt = next(work.glob("*.runs/impl_1/*_timing_summary_routed.rpt"))
    rpt.write_text("Utilization report\n")
    proc = hook(work, "pynq_z2")
    assert proc.returncode == 1 and "no Design Timing Summary table" in proc.stderr
    rpt.unlink()
    proc = hook(work, "pynq_z2")
    assert proc.returncode == 1 and "no routed timing summary" in proc.stderr


def test_timing_summary_is_read_like_vivado_writes_it(tmp_path):
    rpt = tmp_path / "t.rpt"
    rpt.write_text(V.timing_text("pynq_z2", wns=2.479, whs=0.022, wpws=2.225))
    t = CO.read_timing(rpt)
    assert (t["WNS"], t["WHS"], t["WPWS"], t["met"]) == (2.479, 0.022, 2.225, True)
    assert CO.timing_problems(t) == []
    rpt.write_text(V.timing_text("pynq_z2", wns=-1.445))
    t = CO.read_timing(rpt)
    assert t["met"] is False and t["TNS Failing Endpoints"] == 7


def test_unknown_board_and_usage_errors(tmp_path):
    work = built(tmp_path, "pynq_z2")
    proc = hook(work, "zedboard")
    assert proc.returncode == 1 and "no board 'zedboard'" in proc.stderr
    assert hook(work).returncode == 2


# ----------------------------------------------------------------------- through edalize's Makefile
@pytest.fixture
def work_root(tmp_path):
    """`fusesoc run --setup` for pynq_z2 into tmp_path; return (work root, env for make)."""
    build = tmp_path / "build"
    cmd = fusesoc_cmd() + ["--cores-root", str(ROOT), "run", "--setup", "--build-root", str(build),
                           "--target=pynq_z2", "rtlcnn"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    work = next(build.glob("*/pynq_z2"))
    V.fake_vivado(tmp_path / "bin")
    env = dict(os.environ, PATH=f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
               FAKE_VIVADO_BOARD="pynq_z2", RTLCNN_OVERLAY_OUT=str(tmp_path / "out"))
    env.pop(CO.ALLOW_TIMING_ENV, None)
    return work, env


def make(work, env, **extra):
    return subprocess.run(["make"], cwd=work, capture_output=True, text=True,
                          env=dict(env, **extra), timeout=120)


def vivado_runs(work) -> list:
    log = work / "fake_vivado.log"
    return log.read_text().splitlines() if log.exists() else []


def test_makefile_builds_collects_and_rebuilds_when_the_inputs_change(work_root):
    work, env = work_root
    out = Path(env["RTLCNN_OVERLAY_OUT"])
    proc = make(work, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(vivado_runs(work)) == 2  # project, then synthesis + implementation
    first = (out / "rtlcnn.bit").read_bytes()

    proc = make(work, env)  # nothing changed: nothing is rebuilt
    assert proc.returncode == 0, proc.stderr
    assert len(vivado_runs(work)) == 2 and "inputs unchanged" in proc.stdout

    # `fusesoc run` re-exports an edited file; edalize's Makefile alone would re-create the
    # project but never re-run implementation, and the old bitstream would be collected
    spec_txt = next(work.glob("src/*/driver/board/overlay_spec.txt"))
    spec_txt.write_text(spec_txt.read_text() + "# edited\n")
    proc = make(work, env)
    assert proc.returncode != 0
    assert "inputs changed" in proc.stderr and "overlay_spec.txt (changed)" in proc.stderr
    assert "Run the same fusesoc command again" in proc.stderr
    assert not (work / f"{PROJECT}.xpr").exists()
    proc = make(work, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(vivado_runs(work)) == 4
    assert (out / "rtlcnn.bit").read_bytes() != first


def test_makefile_stops_on_failed_timing(work_root):
    work, env = work_root
    out = Path(env["RTLCNN_OVERLAY_OUT"])
    proc = make(work, env, FAKE_VIVADO_WNS="-0.75")
    assert proc.returncode != 0 and "misses by 0.750 ns" in proc.stderr
    assert not (out / "rtlcnn.bit").exists()
    proc = make(work, env, FAKE_VIVADO_WNS="-0.75", RTLCNN_ALLOW_TIMING_FAILURE="1")
    assert proc.returncode == 0 and (out / "rtlcnn.bit").exists()
