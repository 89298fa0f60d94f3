"""Helpers of the overlay tests (a module of its own, so no `conftest` name clash with
other test folders): paths, the fusesoc.core file list, running the recording mock Vivado."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from rtlcnn.board import overlay_spec

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
MOCK_VIVADO = HERE / "mock_vivado.tcl"
CORE_FILE = ROOT / "fusesoc.core"
BOARDS = sorted(overlay_spec.load().boards)

def core_data() -> dict:
    """fusesoc.core parsed (YAML after the CAPI=2 line)."""
    import yaml  # comes with fusesoc

    return yaml.safe_load(CORE_FILE.read_text())


def fileset_files(name: str) -> list[str]:
    """The file names of one fusesoc.core fileset, in order."""
    data = core_data()
    out = []
    for entry in data["filesets"][name]["files"]:
        out.append(next(iter(entry)) if isinstance(entry, dict) else entry)
    return out


def tcl_quote(value) -> str:
    return "{" + str(value) + "}"


def run_mock(tclsh: str, workdir: Path, body: str, version: str = "2024.1", env=None):
    """Run `body` under the mock Vivado in `workdir`; return (returncode, output, state, log)."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "mock_log.jsonl"
    state = workdir / "mock_state.json"
    script = workdir / "mock_run.tcl"
    script.write_text(
        f"source {tcl_quote(MOCK_VIVADO)}\n"
        f"mock::configure {tcl_quote(log)} {version}\n"
        f"{body}\n"
        f"mock::dump_state {tcl_quote(state)}\n"
    )
    run_env = dict(os.environ)
    run_env.pop("RTLCNN_ANY_VIVADO", None)
    run_env.update(env or {})
    proc = subprocess.run(
        [tclsh, str(script)], cwd=workdir, capture_output=True, text=True, timeout=120, env=run_env
    )
    out = proc.stdout + proc.stderr
    st = json.loads(state.read_text()) if proc.returncode == 0 else None
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return proc.returncode, out, st, records


def bd_body(board: str, rtl_files, part: str, root: Path = ROOT) -> str:
    """A project like FuseSoC's: create it, set the part, read the RTL, source the BD Tcl
    (of the checkout, or of a copy made by `overlay_copy`)."""
    lines = ["create_project rtlcnn_test -force", f"set_property part {part} [current_project]"]
    lines += [f"read_verilog {tcl_quote(f)}" for f in rtl_files]
    lines.append(f"source {tcl_quote(root / 'overlay' / board / 'rtlcnn_bd.tcl')}")
    return "\n".join(lines)


OVERLAY_FILES = [
    "overlay/common/spec.tcl",
    "overlay/common/bd.tcl",
    *[f"overlay/{b}/rtlcnn_bd.tcl" for b in BOARDS],
    "driver/board/overlay_spec.txt",
]


def overlay_copy(dest: Path, edits=()) -> Path:
    """Copy the block-design Tcl and the description to `dest`, laid out as in the checkout
    (the board Tcl finds ../common and ../../driver/board), and apply text substitutions
    `edits` = [(relative path, old, new), ...]; each `old` must occur. Returns `dest`, a root
    for `bd_body`: a variant of the overlay to show what the mock Vivado makes of it."""
    for rel in OVERLAY_FILES:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text((ROOT / rel).read_text())
    for rel, old, new in edits:
        text = (dest / rel).read_text()
        assert old in text, f"{rel} has no {old!r} to replace"
        (dest / rel).write_text(text.replace(old, new))
    return dest
