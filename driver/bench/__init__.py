"""rtlcnn.bench: the benchmarks behind docs/benchmarks.md.

``python -m rtlcnn.bench.reference`` (numpy reference speed), ``python -m rtlcnn.bench.rtl``
(per-layer engine cycles on the RTL), ``python -m rtlcnn.bench.runtime`` (mock-board and
driver figures). ``rtlcnn bench`` runs them all.
"""
