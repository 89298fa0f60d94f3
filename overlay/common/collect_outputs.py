#!/usr/bin/env python3
"""FuseSoC build hooks of the overlay targets: guard the inputs, check and collect the outputs.

FuseSoC copies this script into the build's work root (``collect_outputs.py``) and runs it
there, from the Makefile edalize writes:

``python3 collect_outputs.py --inputs <board>`` (pre-build hook)
    Records a SHA-256 of every exported input (``src/**``: RTL, block-design Tcl, the
    overlay description) and of edalize's project scripts in ``rtlcnn_inputs.json``. If a
    Vivado project already exists and any of them changed since it was created, the stale
    project is removed and the build stops, saying which files changed: edalize's Makefile
    re-creates the project when a source is newer, but never re-runs synthesis and
    implementation for it (its bitstream rule depends only on the run scripts), so without
    this the old bitstream would be collected. Running the same fusesoc command again
    builds from the new inputs.

``python3 collect_outputs.py <board>`` (post-build hook)
    Checks the finished build, then copies its bitstream and hardware handoff to
    ``<output_name>.bit`` / ``<output_name>.hwh`` (the names pynq loads side by side) in the
    work root and in the source tree's ``overlay/`` (or ``$RTLCNN_OVERLAY_OUT``). It refuses:

    - a ``.hwh`` for another device: its ``SYSTEMINFO`` element (``ARCH``, ``DEVICE``,
      ``PACKAGE``, ``SPEEDGRADE``, and ``BOARD`` when present; Vivado writes the part in
      these pieces, e.g. ``DEVICE="7z020" PACKAGE="clg400" SPEEDGRADE="-1"`` for
      xc7z020clg400-1) must match the board's part;
    - a ``.hwh`` without the engine and the DMA under the names and VLNVs the driver looks
      up, or with their registers at other addresses than the overlay description says;
    - a build whose routed timing summary
      (``*.runs/impl_1/<top>_timing_summary_routed.rpt``) shows negative setup (WNS), hold
      (WHS) or pulse-width (WPWS) slack, or that has none; ``--allow-timing-failure`` or
      ``RTLCNN_ALLOW_TIMING_FAILURE=1`` collects it anyway, with a warning;
    - a stale bitstream: older than the ``.hwh`` or the timing summary, or built from other
      inputs than the ones recorded by the pre-build hook.

Standard library only (Vivado hosts have python3, not necessarily anything else).
"""

from __future__ import annotations

import glob
import hashlib
import importlib.util
import json
import os
import re
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

STAMP = "rtlcnn_inputs.json"
ALLOW_TIMING_ENV = "RTLCNN_ALLOW_TIMING_FAILURE"
# What Vivado puts beside <name>.xpr for project <name> (removed when the inputs changed).
PROJECT_DIRS = ("runs", "gen", "srcs", "cache", "hw", "ip_user_files", "sim")
# The Zynq families and what their .hwh calls them (SYSTEMINFO ARCH).
ARCH_OF_PREFIX = (("xczu", "zynquplus"), ("xc7z", "zynq"))


class BuildError(Exception):
    """A check failed; the message says what and what to do."""


def fail(msg: str) -> None:
    raise BuildError(msg)


def warn(msg: str) -> None:
    print(f"collect_outputs: WARNING: {msg}", file=sys.stderr)


# ---------------------------------------------------------------------------- the work root
def edam_file(work: Path) -> Path:
    found = sorted(work.glob("*.eda.yml"))
    if not found:
        fail(f"no FuseSoC EDAM file (*.eda.yml) in {work}: run this from the build's work root")
    return found[0]


def project_name(work: Path) -> str:
    """The edalize project name (the EDAM's top-level ``name:``; the project is <name>.xpr)."""
    m = re.search(r"^name:\s*(\S+)\s*$", edam_file(work).read_text(), re.M)
    if not m:
        fail(f"{edam_file(work)} has no top-level name")
    return m.group(1)


def source_root(work: Path) -> Path:
    """The checkout holding fusesoc.core, from the EDAM file FuseSoC wrote in the work root."""
    for eda in sorted(work.glob("*.eda.yml")):
        m = re.search(r"^\s*core_file:\s*(\S+)\s*$", eda.read_text(), re.M)
        if m:
            core = (work / m.group(1)).resolve()
            if core.exists():
                return core.parent
    fail(f"no FuseSoC EDAM file (*.eda.yml naming core_file) in {work}")
    raise AssertionError  # unreachable


def load_spec(root: Path):
    """rtlcnn.overlay_spec from the checkout (pure Python; rtlcnn need not be installed)."""
    path = root / "driver" / "board" / "overlay_spec.py"
    mod_spec = importlib.util.spec_from_file_location("rtlcnn_overlay_spec", path)
    module = importlib.util.module_from_spec(mod_spec)
    sys.modules[mod_spec.name] = module  # dataclasses look their module up here
    mod_spec.loader.exec_module(module)
    return module.load(root / "driver" / "board" / "overlay_spec.txt")


def newest(pattern: str, what: str, work: Path) -> Path:
    found = [Path(p) for p in glob.glob(str(work / pattern))]
    if not found:
        fail(f"no {what} ({pattern}) under {work}: did the Vivado build finish?")
    return max(found, key=lambda p: p.stat().st_mtime)


# ---------------------------------------------------------------------------- inputs
def input_digests(work: Path) -> dict:
    """SHA-256 of every build input: the exported sources and edalize's project scripts."""
    files = [p for p in (work / "src").rglob("*") if p.is_file()]
    files += [p for p in work.glob("*.tcl") if p.is_file()]
    return {p.relative_to(work).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(files)}


def changed_inputs(old: dict, new: dict) -> list:
    out = [f"{k} (changed)" for k in sorted(set(old) & set(new)) if old[k] != new[k]]
    out += [f"{k} (new)" for k in sorted(set(new) - set(old))]
    out += [f"{k} (removed)" for k in sorted(set(old) - set(new))]
    return out


def read_stamp(work: Path):
    try:
        data = json.loads((work / STAMP).read_text())
        return data["inputs"] if isinstance(data.get("inputs"), dict) else None
    except (OSError, ValueError, AttributeError, KeyError):
        return None


def remove_project(work: Path, name: str, output_name: str) -> list:
    """Delete the Vivado project ``name`` and its outputs from ``work``; return what went."""
    gone = []
    for p in [work / f"{name}.xpr", work / f"{name}.bit", work / f"{name}.bin",
              work / f"{output_name}.bit", work / f"{output_name}.hwh", work / STAMP]:
        if p.exists():
            p.unlink()
            gone.append(p.name)
    for ext in PROJECT_DIRS:
        d = work / f"{name}.{ext}"
        if d.is_dir():
            shutil.rmtree(d)
            gone.append(d.name)
    return gone


def pre_build(work: Path, board: str) -> str:
    """The pre-build hook: record the inputs, or remove a project built from other inputs."""
    name = project_name(work)
    spec = load_spec(source_root(work))
    spec.board(board)
    now = input_digests(work)
    if (work / f"{name}.xpr").exists():
        old = read_stamp(work)
        if old == now:
            return f"inputs unchanged since the project was created ({len(now)} files)"
        what = ("; ".join(changed_inputs(old, now)) if old is not None
                else f"the project predates the input record {STAMP}")
        gone = remove_project(work, name, spec.output_name)
        fail(f"the overlay's inputs changed since the Vivado project {name}.xpr was created "
             f"({what}). edalize's Makefile would re-create the project but not re-run "
             f"synthesis and implementation, so the old bitstream would be collected; the "
             f"stale project was removed ({', '.join(gone)}). Run the same fusesoc command "
             f"again to build from the new inputs.")
    (work / STAMP).write_text(json.dumps({"board": board, "inputs": now}, indent=1) + "\n")
    return f"recorded {len(now)} inputs in {STAMP}"


# ---------------------------------------------------------------------------- the .hwh
def part_fields(part: str) -> dict:
    """What a .hwh's SYSTEMINFO says for ``part``: ARCH, DEVICE, PACKAGE, SPEEDGRADE.

    ``xc7z020clg400-1`` -> zynq / 7z020 / clg400 / -1 (Zynq-7000 .hwh files drop the "xc");
    ``xczu7ev-ffvc1156-2-e`` -> zynquplus / xczu7ev / ffvc1156 / -2 (no temperature grade).
    """
    p = part.lower()
    m = (re.fullmatch(r"(xczu\d+[a-z]{2})-([a-z]+\d+)-(\d)(?:-[a-z])?", p)
         or re.fullmatch(r"(xc7[a-z]\d+[ts]?)([a-z]{3}\d+)-(\d)", p))
    if not m:
        fail(f"cannot split part {part!r} into device, package and speed grade")
    device, package, speed = m.groups()
    if device.startswith("xc7"):
        device = device[2:]
    arch = next((a for pre, a in ARCH_OF_PREFIX if p.startswith(pre)), None)
    return {"ARCH": arch, "DEVICE": device, "PACKAGE": package, "SPEEDGRADE": f"-{speed}"}


def read_hwh(hwh: Path) -> ET.Element:
    try:
        root = ET.parse(hwh).getroot()
    except (ET.ParseError, OSError) as e:
        fail(f"{hwh} is not a readable hardware handoff (XML): {e}")
    if root.tag != "EDKSYSTEM":
        fail(f"{hwh} is not a hardware handoff: its root element is <{root.tag}>, not <EDKSYSTEM>")
    return root


def check_hwh(hwh: Path, spec, board) -> list:
    """Problems of the .hwh for ``board`` (empty when it is the overlay the driver expects)."""
    root = read_hwh(hwh)
    problems = []
    info = root.find("SYSTEMINFO")
    if info is None:
        problems.append("it has no SYSTEMINFO element (the device it was built for)")
    else:
        want = part_fields(board.part)
        got = {k: info.get(k) for k in want}
        bad = [k for k, v in want.items() if v is not None and (got[k] or "").lower() != v]
        if bad:
            problems.append(
                f"it is for {' '.join(f'{k}={got[k]!r}' for k in want)}, not part {board.part} "
                f"of board {board.name} ({' '.join(f'{k}={v!r}' for k, v in want.items())})")
        bp = info.get("BOARD")
        if bp and bp.split(":")[:2] != board.board_part.split(":")[:2]:
            problems.append(f"it was built for board {bp}, not {board.board_part}")
        elif bp and bp != board.board_part:
            warn(f"{hwh.name}: board files {bp}, the overlay description names {board.board_part}")
    version = root.get("VIVADOVERSION")
    if version and not version.startswith(spec.vivado_version):
        warn(f"{hwh.name} was written by Vivado {version}; the overlay is written for "
             f"{spec.vivado_version} (docs/board.md)")
    modules = {m.get("INSTANCE"): m for m in root.iter("MODULE")}
    ranges = [r for r in root.iter("MEMRANGE") if (r.get("MEMTYPE") or "REGISTER") == "REGISTER"]
    for name, vlnv, base, size in ((spec.accel_name, spec.accel_vlnv, board.accel_base, board.accel_range),
                                   (spec.dma_name, spec.dma_vlnv, board.dma_base, board.dma_range)):
        mod = modules.get(name)
        if mod is None:
            problems.append(f"it has no instance {name!r} ({vlnv}); the driver looks it up by that "
                            f"name (instances: {', '.join(sorted(k for k in modules if k))})")
            continue
        if mod.get("VLNV") != vlnv:
            problems.append(f"instance {name!r} is {mod.get('VLNV')}, not {vlnv}")
        mine = [r for r in ranges if r.get("INSTANCE") == name]
        if not mine:
            problems.append(f"instance {name!r} has no register range in the address map")
        for r in mine:
            try:
                lo, hi = int(r.get("BASEVALUE"), 16), int(r.get("HIGHVALUE"), 16)
            except (TypeError, ValueError):
                problems.append(f"instance {name!r}: unreadable address range {r.attrib}")
                continue
            if (lo, hi) != (base, base + size - 1):
                problems.append(f"instance {name!r} is mapped at 0x{lo:08X}-0x{hi:08X}, the overlay "
                                f"description says 0x{base:08X}-0x{base + size - 1:08X}")
    return problems


# ---------------------------------------------------------------------------- timing
_TIMING_COLUMNS = ("WNS(ns)", "TNS(ns)", "TNS Failing Endpoints", "TNS Total Endpoints",
                   "WHS(ns)", "THS(ns)", "THS Failing Endpoints", "THS Total Endpoints",
                   "WPWS(ns)", "TPWS(ns)", "TPWS Failing Endpoints", "TPWS Total Endpoints")


def read_timing(rpt: Path) -> dict:
    """The "Design Timing Summary" of a Vivado ``report_timing_summary`` file.

    Returns ``{"WNS": float or None, "TNS": ..., "WHS", "THS", "WPWS", "TPWS",
    "TNS Failing Endpoints": int, ..., "met": True/False/None}`` (None for NA, and for "met"
    when the report has neither of Vivado's verdict lines).
    """
    lines = rpt.read_text(errors="replace").splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "| Design Timing Summary")
        head = next(i for i in range(start, min(start + 12, len(lines)))
                    if lines[i].split()[:1] == ["WNS(ns)"])
    except StopIteration:
        fail(f"{rpt} has no Design Timing Summary table: not a report_timing_summary report?")
    row = next((line.split() for line in lines[head + 1:head + 6]
                if line.strip() and set(line.strip()) - set("- ")), None)
    if row is None or len(row) < 8:
        fail(f"{rpt}: cannot read the Design Timing Summary values")
    out = {}
    for col, value in zip(_TIMING_COLUMNS, row):
        key = col.replace("(ns)", "")
        try:
            out[key] = int(value) if "Endpoints" in col else float(value)
        except ValueError:
            out[key] = None  # NA: nothing of that kind is timed
    text = "\n".join(lines)
    out["met"] = (True if "All user specified timing constraints are met." in text
                  else False if "Timing constraints are not met." in text else None)
    return out


def timing_problems(t: dict) -> list:
    out = []
    for key, what, total, count in (("WNS", "setup", "TNS", "TNS Failing Endpoints"),
                                    ("WHS", "hold", "THS", "THS Failing Endpoints"),
                                    ("WPWS", "pulse width", "TPWS", "TPWS Failing Endpoints")):
        v = t.get(key)
        if v is not None and v < 0:
            out.append(f"{what} slack {key} {v:.3f} ns: the worst path misses by {-v:.3f} ns "
                       f"({t.get(count)} failing endpoints, total {t.get(total)} ns)")
    if not out and t.get("met") is False:
        out.append("Vivado reports 'Timing constraints are not met.'")
    if t.get("WNS") is None and t.get("met") is not True:
        out.append("no setup slack was reported (are the clocks constrained?)")
    return out


# ---------------------------------------------------------------------------- post-build
def post_build(work: Path, board_name: str, allow_timing_failure: bool) -> str:
    root = source_root(work)
    spec = load_spec(root)
    board = spec.board(board_name)
    design = spec.design_name
    bit = newest(f"*.runs/impl_1/{design}_wrapper.bit", "bitstream", work)
    hwh = newest(f"*.gen/sources_1/bd/{design}/hw_handoff/{design}.hwh", "hardware handoff", work)
    rpt_pattern = f"*.runs/impl_1/{design}_wrapper_timing_summary_routed.rpt"
    rpts = glob.glob(str(work / rpt_pattern))
    if not rpts:
        fail(f"no routed timing summary ({rpt_pattern}) under {work}: implementation did not "
             "finish, or wrote no report, so the bitstream's timing is unknown")
    rpt = max((Path(p) for p in rpts), key=lambda p: p.stat().st_mtime)

    if bit.stat().st_mtime < hwh.stat().st_mtime:
        fail(f"{bit} is older than {hwh}: the bitstream is stale (the block design was "
             "regenerated after it was written); rebuild")
    if bit.stat().st_mtime < rpt.stat().st_mtime:
        fail(f"{bit} is older than {rpt}: the design was routed again after the bitstream was "
             "written, so the bitstream is stale; rebuild")
    recorded = read_stamp(work)
    if recorded is None:
        fail(f"{work / STAMP} is missing: the pre-build hook did not run, so nothing says which "
             "inputs the bitstream was built from; build with fusesoc (docs/board.md)")
    if recorded != input_digests(work):
        fail("the inputs changed after the project was created ("
             + "; ".join(changed_inputs(recorded, input_digests(work)))
             + "): the bitstream is stale; run the fusesoc command again")
    if bit.stat().st_mtime < (work / STAMP).stat().st_mtime:
        fail(f"{bit} is older than the input record {STAMP}: it was not built from these inputs; rebuild")

    problems = check_hwh(hwh, spec, board)
    if problems:
        fail(f"{hwh} is not the overlay the driver expects for board {board.name}: "
             + "; ".join(problems))

    timing = timing_problems(read_timing(rpt))
    note = ""
    if timing:
        msg = (f"the routed design fails timing at {board.clk_mhz:g} MHz ({rpt.name}): "
               + "; ".join(timing))
        if not allow_timing_failure:
            fail(msg + ". A bitstream that fails timing may compute wrong results on the board. "
                 "Lower board." + board.name + ".clk_mhz in driver/board/overlay_spec.txt or "
                 f"improve the design; {ALLOW_TIMING_ENV}=1 collects it anyway, unsupported")
        warn("!" * 60)
        warn(msg)
        warn(f"collected anyway because of {ALLOW_TIMING_ENV}=1 / --allow-timing-failure: "
             "results on the board are NOT trustworthy")
        warn("!" * 60)
        note = " (TIMING FAILED, collected on request)"

    out_dir = Path(os.environ.get("RTLCNN_OVERLAY_OUT", root / "overlay"))
    out_dir.mkdir(parents=True, exist_ok=True)
    for dest in (work, out_dir):
        shutil.copyfile(bit, dest / f"{spec.output_name}.bit")
        shutil.copyfile(hwh, dest / f"{spec.output_name}.hwh")
    return (f"{board.name}: {bit.name} + {hwh.name} -> {out_dir / spec.output_name}.bit/.hwh"
            f"{note}")


def main(argv) -> int:
    args = list(argv[1:])
    inputs = "--inputs" in args
    allow = "--allow-timing-failure" in args or os.environ.get(ALLOW_TIMING_ENV) == "1"
    rest = [a for a in args if a not in ("--inputs", "--allow-timing-failure")]
    if len(rest) != 1 or rest[0].startswith("-"):
        print(__doc__)
        print("usage: python3 collect_outputs.py [--inputs | --allow-timing-failure] <board>",
              file=sys.stderr)
        return 2
    work = Path.cwd()
    try:
        done = pre_build(work, rest[0]) if inputs else post_build(work, rest[0], allow)
    except BuildError as e:
        print(f"collect_outputs: ERROR: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # the spec's SpecError (unknown board, bad description), OSError...
        print(f"collect_outputs: ERROR: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"collect_outputs: {done}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
