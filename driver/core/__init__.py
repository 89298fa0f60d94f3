"""rtlcnn.core: the program and what defines its results. numpy and the standard library only.

- :mod:`~rtlcnn.core.errors`: the exceptions every room raises.
- :mod:`~rtlcnn.core.program`: :class:`Program` (a graph of ops) and the ``*.rtlcnn.npz`` file
  format (:mod:`~rtlcnn.core.programfile`); :mod:`~rtlcnn.core.ops`: :class:`Op` and its checks.
- :mod:`~rtlcnn.core.reference`: the numpy model that defines every result bit for bit (its
  per-op functions in :mod:`~rtlcnn.core.ref_ops`).
- :mod:`~rtlcnn.core.regs`: the engine's register map, build parameters and default build.
- :mod:`~rtlcnn.core.stream`: job configurations and the stream format of a job.
- :mod:`~rtlcnn.core.unfold`: host layouts (kx, pair, im2col) that fill the MAC array.
- :mod:`~rtlcnn.core.schedule`: a program cut into jobs that fit an engine build;
  :mod:`~rtlcnn.core.engine_support`: what of a program the engine runs, a clear refusal else.
- :mod:`~rtlcnn.core.random_programs`: seeded random programs for tests and benchmarks.
"""
