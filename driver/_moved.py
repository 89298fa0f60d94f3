"""Import paths of the flat layout before the rooms (rtlcnn 0.1): they keep working.

``import rtlcnn.accelerator`` gives the module ``rtlcnn.board.accelerator`` itself (one module
object, so monkeypatching and isinstance checks see the same thing) with a
``DeprecationWarning`` that names the new path; ``python -m rtlcnn.train`` runs
``rtlcnn.compile.train``. ``rtlcnn.reference`` and ``rtlcnn.datasets`` are public names and
stay without a warning.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

#: old module (under rtlcnn.) -> its home now
MOVED = {
    "errors": "core.errors",
    "program": "core.program",
    "reference": "core.reference",
    "stream": "core.stream",
    "unfold": "core.unfold",
    "schedule": "core.schedule",
    "random_programs": "core.random_programs",
    "overlay_spec": "board.overlay_spec",
    "ip": "board.ip",
    "accelerator": "board.accelerator",
    "compiler": "compile.compiler",
    "qat": "compile.qat",
    "train": "compile.train",
    "datasets": "compile.datasets",
    "toolchain": "sim.toolchain",
    "simbuild": "sim.simbuild",
    "synth_report": "sim.synth_report",
    "bench_reference": "bench.reference",
    "bench_rtl": "bench.rtl",
    "bench_runtime": "bench.runtime",
}

#: public short names: no warning
PUBLIC = ("reference", "datasets", "train")

_PKG = __name__.rsplit(".", 1)[0]


def new_name(old: str) -> str:
    """``rtlcnn.accelerator`` -> ``rtlcnn.board.accelerator``."""
    return f"{_PKG}.{MOVED[old.split('.', 1)[1]]}"


def _warn(old: str, stacklevel: int) -> None:
    short = old.split(".", 1)[1]
    if short not in PUBLIC:
        warnings.warn(f"{old} moved to {new_name(old)} (docs/architecture.md); import it from there",
                      DeprecationWarning, stacklevel=stacklevel)


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``rtlcnn.<old>`` and loads it as the module at its new home."""

    def find_spec(self, fullname, path=None, target=None):
        head, _, short = fullname.partition(".")
        if head != _PKG or short not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        _warn(spec.name, stacklevel=8)
        module = importlib.import_module(new_name(spec.name))
        spec.loader_state = module.__spec__  # importlib is about to overwrite it
        return module

    def exec_module(self, module):
        # importlib set __spec__ to the alias's spec; the module gets its own back
        module.__spec__ = module.__spec__.loader_state

    def get_code(self, fullname):
        """``python -m rtlcnn.<old>`` runs the module at its new home."""
        _warn(fullname, stacklevel=2)
        src = f"import runpy\nrunpy.run_module({new_name(fullname)!r}, run_name='__main__', alter_sys=True)\n"
        return compile(src, f"<{fullname}: moved to {new_name(fullname)}>", "exec")


def install() -> None:
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedFinder())
