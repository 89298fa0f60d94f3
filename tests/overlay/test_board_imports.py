"""What the board runs needs neither torch nor cocotb: `import rtlcnn`, every driver module the
board uses (overlay description, pynq binding, accelerator, schedule, stream, reference, models,
datasets, cli, the board session and open_board), `Program.load`, the shipped digits model
through the reference and `rtlcnn run digits x.npy --board reference` work in a Python where
importing torch and cocotb fails (as on a PYNQ image); without pynq too, except the binding
class, which says what to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from rtlcnn import Op, Program

BLOCKER = """
import importlib.abc, sys
BLOCKED = {blocked!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: not on the board)")
        return None
sys.meta_path.insert(0, Block())
"""

BOARD_MODULES = ("overlay_spec", "ip", "accelerator", "schedule", "stream", "reference", "models", "cli",
                 "datasets", "board.session", "mock.session")

CHECKS = """
import contextlib, importlib, io
import numpy as np
import rtlcnn
for m in {modules!r}:
    importlib.import_module("rtlcnn." + m)
import rtlcnn.cli as cli
from rtlcnn import models
from rtlcnn.board import engine_build, find_bitfile, on_board, pl_clock_mhz
from rtlcnn.mock.session import open_board
from rtlcnn.board import overlay_spec
from rtlcnn.board import ip
from rtlcnn.core import reference
spec = overlay_spec.load()
assert spec.accel_name == "rtlcnn_0" and spec.board("Pynq-Z2").name == "pynq_z2"
prog = rtlcnn.Program.load({path!r})
assert prog.name == "board" and len(prog.ops) == 1
assert ip.pl_clock_mhz(None, "pynq_z2") == spec.board("pynq_z2").clk_mhz
assert pl_clock_mhz is ip.pl_clock_mhz and callable(engine_build) and isinstance(on_board(), bool)
assert find_bitfile() is None or find_bitfile().name.endswith(".bit")
with open_board("reference") as board:
    assert board.load(prog).predict(np.zeros((1, 8, 1, 1), np.float32)).shape == (1, 3)
try:
    cls = ip.RtlcnnIP
except ImportError as exc:
    assert "pynq" in str(exc), exc
    print("NO_PYNQ_CLASS")
else:
    assert cls.bindto == [spec.accel_vlnv]
    print("PYNQ_CLASS")
digits = models.load("digits")
img = (np.arange(64).reshape(8, 8) % 17 * 15).astype(np.uint8)
np.save("one.npy", img)
want = int(reference.run(digits, (img / np.float32(255)).astype(np.float32)[None, None]).argmax(1)[0])
labels = digits.meta.get("labels") or [str(k) for k in range(10)]
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    code = cli.main(["run", "digits", "one.npy", "--board", "reference"])
assert code == 0, code
line, = buf.getvalue().splitlines()
assert line.startswith("one.npy"), line
assert line.split()[1] == labels[want], (line, want)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {blocked!r})
assert not loaded, loaded
print("OK")
"""


@pytest.fixture(scope="module")
def program_file(tmp_path_factory):
    rng = np.random.default_rng(5)
    prog = Program(
        input_shape=(8, 1, 1),
        input_scale=0.05,
        ops=[
            Op("linear", "fc", rng.integers(-127, 128, (3, 8)).astype(np.int8),
               np.zeros(3, np.int32), np.full(3, 2**30, np.int32), np.full(3, 6, np.int32),
               out_int32=True, acc_scale=np.ones(3, np.float32)),
        ],
        name="board",
    )
    path = tmp_path_factory.mktemp("prog") / "board.rtlcnn.npz"
    prog.save(path)
    return path


@pytest.mark.parametrize(
    "blocked, expect",
    [
        ({"torch", "torchvision", "cocotb", "cocotb_tools", "cocotbext", "sklearn"}, "PYNQ_CLASS"),
        ({"torch", "torchvision", "cocotb", "cocotb_tools", "cocotbext", "sklearn", "pynq"},
         "NO_PYNQ_CLASS"),
    ],
    ids=["board", "no-pynq"],
)
def test_board_side_imports_without_torch(tmp_path, program_file, blocked, expect):
    if "pynq" not in blocked:
        pytest.importorskip("pynq")
    code = textwrap.dedent(BLOCKER.format(blocked=sorted(blocked))) + "import sys\n" + textwrap.dedent(
        CHECKS.format(path=str(program_file), blocked=sorted(blocked), modules=BOARD_MODULES)
    )
    script = tmp_path / "board_check.py"
    script.write_text(code)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.split() == [expect, "OK"]


def test_the_blocker_really_blocks(tmp_path):
    """The check above can fail: with the blocker, importing torch is an error."""
    script = tmp_path / "blocked.py"
    script.write_text(textwrap.dedent(BLOCKER.format(blocked=["torch"])) + "import torch\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "blocked: not on the board" in proc.stderr
