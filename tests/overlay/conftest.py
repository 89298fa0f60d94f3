"""Fixtures of the overlay tests: tclsh, the overlay description, the RTL file list."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from overlay_helpers import ROOT, fileset_files

from rtlcnn.board import overlay_spec


@pytest.fixture(scope="session")
def tclsh() -> str:
    """tclsh 8.6 (Debian package `tcl`; `make setup` installs it)."""
    path = shutil.which("tclsh") or shutil.which("tclsh8.6")
    if path is None:
        pytest.skip("tclsh not found: install Tcl 8.6 (`apt-get install tcl`, done by `make setup`)")
    return path


@pytest.fixture(scope="session")
def spec() -> overlay_spec.OverlaySpec:
    return overlay_spec.load()


@pytest.fixture(scope="session")
def rtl_files() -> list[Path]:
    """The RTL that FuseSoC reads: fusesoc.core's `rtl` fileset."""
    files = [ROOT / f for f in fileset_files("rtl")]
    missing = [str(f) for f in files if not f.exists()]
    assert not missing, f"fusesoc.core lists RTL files that do not exist: {missing}"
    return files
