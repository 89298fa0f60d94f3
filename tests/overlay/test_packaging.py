"""Board packaging after PYNQ's conventions: the wheel ships the overlay description, the
notebooks (for `pynq get-notebooks rtlcnn`) and, when built, overlay/rtlcnn.bit + .hwh
(found by `pynq.Overlay("rtlcnn.bit")` through the `pynq.overlays` entry point)."""

from __future__ import annotations

import configparser
import importlib.util
import shutil
import subprocess
import sys
import zipfile

import pytest
from overlay_helpers import ROOT


def can_build_wheels() -> bool:
    """setuptools >= 70.1 has bdist_wheel built in; older ones need the `wheel` package."""
    try:
        import setuptools
    except ImportError:
        return False
    major, minor = (int(x) for x in setuptools.__version__.split(".")[:2])
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


def build_wheel(tmp_path, with_overlay: bool) -> zipfile.ZipFile:
    if not can_build_wheels():
        pytest.skip("this Python cannot build wheels offline (setuptools < 70.1 without `wheel`)")
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(ROOT / "setup.py", src)
    shutil.copy(ROOT / "README.md", src)
    ignore = shutil.ignore_patterns("__pycache__", "*.bit", "*.hwh", "build*")
    for d in ("driver", "overlay", "notebooks"):
        shutil.copytree(ROOT / d, src / d, ignore=ignore)
    if with_overlay:
        (src / "overlay" / "rtlcnn.bit").write_bytes(b"bitstream")
        (src / "overlay" / "rtlcnn.hwh").write_text("<hwh/>")
    out = tmp_path / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = out.glob("rtlcnn-*.whl")
    return zipfile.ZipFile(wheel)


@pytest.mark.parametrize("with_overlay", [True, False], ids=["built", "not-built"])
def test_wheel_contents_and_entry_points(tmp_path, with_overlay):
    whl = build_wheel(tmp_path, with_overlay)
    names = set(whl.namelist())
    assert "rtlcnn/board/overlay_spec.txt" in names and "rtlcnn/board/overlay_spec.py" in names
    for room in ("core", "board", "compile", "sim", "mock", "bench", "cli"):
        assert f"rtlcnn/{room}/__init__.py" in names, room
    assert "rtlcnn/board/ip.py" in names
    # the entry-point target must always import, or pynq's overlay lookup breaks for everyone
    assert "rtlcnn/overlay/__init__.py" in names
    shipped = {n for n in names if n.endswith((".bit", ".hwh"))}
    if with_overlay:
        assert shipped == {"rtlcnn/overlay/rtlcnn.bit", "rtlcnn/overlay/rtlcnn.hwh"}
    else:
        assert not shipped
    assert not [n for n in names if n.endswith(".tcl")], "the Vivado Tcl is not for the board"
    notebooks = [n for n in names if n.startswith("rtlcnn/notebooks/") and n.endswith(".ipynb")]
    assert notebooks == [f"rtlcnn/notebooks/{p.name}" for p in sorted((ROOT / "notebooks").glob("*.ipynb"))]
    assert notebooks, "no notebook to deliver"

    ep_name = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    eps = configparser.ConfigParser()
    eps.read_string(whl.read(ep_name).decode())
    assert eps["pynq.notebooks"]["rtlcnn"] == "rtlcnn.notebooks"
    assert eps["pynq.overlays"]["rtlcnn"] == "rtlcnn.overlay"


def test_board_guide_matches_the_description():
    """docs/board.md quotes the description: version, parts, length width, addresses."""
    from rtlcnn.board import overlay_spec

    spec = overlay_spec.load()
    doc = (ROOT / "docs" / "board.md").read_text()
    assert f"Vivado {spec.vivado_version}" in doc
    assert f"{spec.dma_length_bits} bits" in doc and f"{spec.max_transfer_bytes}" in doc
    for b in spec.boards.values():
        assert b.part in doc and b.board_part in doc and f"--target={b.name}" in doc
        for base in (b.accel_base, b.dma_base):
            assert f"0x{base >> 16:04X}_{base & 0xFFFF:04X}" in doc, f"{b.name}: 0x{base:08X}"
        assert f"{b.engine['P_OC']} x {b.engine['P_IC']}" in doc
        assert f"{b.clk_mhz:g} MHz" in doc
