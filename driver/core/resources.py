"""Where rtlcnn finds its own files: the source checkout, if it runs from one."""

from __future__ import annotations

from pathlib import Path

__all__ = ["project_root", "package_root"]


def package_root() -> Path:
    """The folder of the installed ``rtlcnn`` package (``driver/`` in a checkout)."""
    return Path(__file__).resolve().parents[1]


def project_root() -> Path:
    """The source checkout (the folder holding ``fusesoc.core``), if rtlcnn runs from one."""
    return package_root().parent
