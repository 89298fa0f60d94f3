"""Benchmark of the numpy reference model: images per second on one core.

Reproduce with::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python -m rtlcnn.bench.reference [--batch 1000]

It runs the shipped ``lenet5_mnist`` program (or, where it is not built yet, a random
program of the same shape from ``rtlcnn.core.random_programs``) on random images and prints
images/s for a few batch sizes.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, nargs="*", default=[1, 64, 1000])
    ap.add_argument("--seconds", type=float, default=2.0, help="time spent per batch size")
    args = ap.parse_args(argv)

    from ..core import reference
    from ..core.program import Program

    try:
        from .. import models

        prog: Program = models.load("lenet5_mnist")
    except Exception:  # the model may not be built yet in a fresh tree
        from ..core.random_programs import lenet5

        prog = lenet5()
    threads = os.environ.get("OMP_NUM_THREADS") or os.environ.get("OPENBLAS_NUM_THREADS") or "all"
    print(f"rtlcnn.reference on {prog.name}: {prog.macs():,} MACs/image, BLAS threads: {threads}")
    rng = np.random.default_rng(0)
    for n in args.batch:
        x = rng.random((n,) + tuple(prog.input_shape), dtype=np.float32)
        reference.run(prog, x)  # warm up
        runs, t0 = 0, time.perf_counter()
        while True:
            reference.run(prog, x)
            runs += 1
            dt = time.perf_counter() - t0
            if dt >= args.seconds:
                break
        print(f"  batch {n:5d}: {runs * n / dt:10,.0f} images/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
