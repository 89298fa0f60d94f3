"""``rtlcnn bench``: run the benchmark modules behind docs/benchmarks.md, each in its own process."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

from .common import CliError, Formatter, say

__all__ = ["add_parser", "run", "BENCHES"]

BENCHES = {
    "reference": ("bench.reference", "numpy reference model, images/s on one core"),
    "rtl": ("bench.rtl", "engine cycles per layer and network (RTL under cocotb)"),
    "runtime": ("bench.runtime", "runtime on the mock board: wall time, DMA bytes, projected images/s"),
}


def run(args) -> int:
    names = args.which or list(BENCHES)
    for n in names:
        if n not in BENCHES:
            raise CliError(f"unknown benchmark {n!r}; known: {', '.join(BENCHES)}")
    pkg = "rtlcnn"
    ran = 0
    for n in names:
        mod, what = BENCHES[n]
        if importlib.util.find_spec(f"{pkg}.{mod}") is None:
            say(f"== {n}: {pkg}.{mod} is not in this rtlcnn (skipped)")
            continue
        cmd = [sys.executable, "-m", f"{pkg}.{mod}", *args.bench_args]
        env = dict(os.environ)
        if n == "reference":  # docs/benchmarks.md measures one core
            env.setdefault("OMP_NUM_THREADS", "1")
            env.setdefault("OPENBLAS_NUM_THREADS", "1")
        say(f"== {n}: {what}\n   $ python -m {pkg}.{mod} {' '.join(args.bench_args)}".rstrip())
        r = subprocess.run(cmd, env=env)
        if r.returncode != 0:
            raise CliError(f"benchmark {n} failed (exit {r.returncode})", code=1)
        ran += 1
    if not ran:
        raise CliError("no benchmark module is installed", code=1)
    return 0


BENCH_EPILOG = """\
examples:
  rtlcnn bench                           every benchmark this rtlcnn has
  rtlcnn bench reference -- --batch 1 64 arguments after -- go to the benchmark module

Each benchmark is a module you can also run yourself: python -m rtlcnn.bench.reference,
rtlcnn.bench.rtl, rtlcnn.bench.runtime. Their output is what docs/benchmarks.md records.
"""



def add_parser(sub, common) -> None:
    b = sub.add_parser("bench", parents=[common], formatter_class=Formatter, epilog=BENCH_EPILOG,
                       help="run the benchmarks behind docs/benchmarks.md",
                       description="Run the benchmark modules and print the figures of docs/benchmarks.md.")
    b.add_argument("which", nargs="*", metavar="NAME", help=f"benchmarks to run ({', '.join(BENCHES)}). "
                   "Default: all present")
    b.set_defaults(func=run, bench_args=[])
