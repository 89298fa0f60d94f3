"""Fixtures of the overlay tests: tclsh, the overlay description, the RTL file list."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from overlay_helpers import ROOT, STANDIN_TOP, core_data, fileset_files

from rtlcnn import overlay_spec


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
def rtl_files(tmp_path_factory) -> list[Path]:
    """The RTL that FuseSoC reads (fusesoc.core's `rtl` fileset); a port-only stand-in of
    rtlcnn_top while the core file or the RTL is not in the checkout."""
    data = core_data()
    if data is not None and "rtl" in data.get("filesets", {}):
        files = [ROOT / f for f in fileset_files("rtl")]
        if all(f.exists() for f in files):
            return files
    standin = tmp_path_factory.mktemp("standin") / "rtlcnn_top_ports.v"
    standin.write_text(STANDIN_TOP)
    return [standin]
