"""Benchmark of the numpy reference model: images per second on one core.

Reproduce with::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python -m rtlcnn.bench_reference [--batch 1000]

It runs the shipped ``lenet5_mnist`` program (or, where it is not built yet, a random
program of the same shape) on random images and prints images/s for a few batch sizes.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def lenet5_like(seed: int = 0):
    """A random program with LeNet-5's shape (same op list as the shipped model)."""
    from .program import Op, Program

    rng = np.random.default_rng(seed)

    def layer(o, i, k=None, **kw):
        shape = (o, i, k, k) if k else (o, i)
        return dict(
            weight=rng.integers(-127, 128, shape).astype(np.int8),
            bias=rng.integers(-500, 500, o).astype(np.int32),
            mult=rng.integers(2**30, 2**31 - 1, o).astype(np.int32),
            shift=np.full(o, 8, np.int32),
            **kw,
        )

    return Program(
        (1, 28, 28),
        1 / 127,
        [
            Op("conv2d", "conv1", **layer(6, 1, 5, padding=2, relu=True, pool="max", out_scale=0.1)),
            Op("conv2d", "conv2", **layer(16, 6, 5, relu=True, pool="max", out_scale=0.1)),
            Op("linear", "fc1", **layer(120, 400, relu=True, out_scale=0.1)),
            Op("linear", "fc2", **layer(84, 120, relu=True, out_scale=0.1)),
            Op("linear", "fc3", **layer(10, 84, out_int32=True, acc_scale=np.full(10, 1e-3, np.float32))),
        ],
        name="lenet5_like",
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, nargs="*", default=[1, 64, 1000])
    ap.add_argument("--seconds", type=float, default=2.0, help="time spent per batch size")
    args = ap.parse_args(argv)

    from . import reference
    from .program import Program

    try:
        from . import models

        prog: Program = models.load("lenet5_mnist")
    except Exception:  # the model may not be built yet in a fresh tree
        prog = lenet5_like()
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
