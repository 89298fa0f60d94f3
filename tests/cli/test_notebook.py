"""notebooks/rtlcnn_demo.ipynb: committed without outputs, and runs top to bottom on the mock board."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "rtlcnn_demo.ipynb"


def _cells():
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]


def test_notebook_is_committed_without_outputs():
    """Outputs could carry MNIST images into the repository (and make noisy diffs)."""
    for cell in _cells():
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, cell["source"][:80]


def test_notebook_config_cell_chooses_the_board_automatically():
    first_code = next(c for c in _cells() if c["cell_type"] == "code")
    src = "".join(first_code["source"])
    assert 'BOARD = "auto"' in src and "N_IMAGES" in src


def test_notebook_needs_only_what_a_pynq_image_has():
    """numpy, matplotlib, pynq and rtlcnn at module level; torch only inside a guard."""
    allowed = {"numpy", "matplotlib", "pynq", "rtlcnn", "time", "pathlib", "tqdm"}
    for cell in _cells():
        if cell["cell_type"] != "code":
            continue
        lines = "".join(cell["source"]).splitlines()
        for i, line in enumerate(lines):
            s = line.strip()
            if not (s.startswith("import ") or s.startswith("from ")):
                continue
            top = s.split()[1].split(".")[0]
            guarded = any(p.strip() == "try:" for p in lines[max(0, i - 2):i])
            assert top in allowed or guarded, f"unguarded import of {top!r}: {line}"


#: the public modules a notebook may import from (rtlcnn's __all__ and the rooms' public faces)
PUBLIC_MODULES = {"rtlcnn", "rtlcnn.board", "rtlcnn.mock", "rtlcnn.reference", "rtlcnn.models",
                  "rtlcnn.datasets", "rtlcnn.compile"}


def test_notebook_imports_only_public_api():
    """No private names and no command-line internals: rtlcnn, its public attributes, and
    the names rtlcnn.board and rtlcnn.mock export."""
    import re

    import rtlcnn
    import rtlcnn.board
    import rtlcnn.mock

    exported = {"rtlcnn": set(rtlcnn.__all__) | {"datasets"}, "rtlcnn.board": set(rtlcnn.board.__all__),
                "rtlcnn.mock": set(rtlcnn.mock.__all__)}
    for cell in _cells():
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        for line in src.splitlines():
            s = line.strip()
            m = re.match(r"(?:from\s+(\S+)\s+import\s+(.+)|import\s+(\S+))", s)
            if not m or not (m.group(1) or m.group(3)).startswith("rtlcnn"):
                continue
            module = m.group(1) or m.group(3)
            assert module in PUBLIC_MODULES, f"not a public module: {line}"
            for name in (n.strip().split(" as ")[0] for n in (m.group(2) or "").split(",") if n.strip()):
                assert not name.startswith("_"), line
                if module in exported:
                    assert name in exported[module], f"{name} is not exported by {module}: {line}"
        for attr in re.findall(r"\brtlcnn\.([A-Za-z_]\w*)", src):
            public = attr in exported["rtlcnn"] or f"rtlcnn.{attr}" in PUBLIC_MODULES
            assert public or attr in ("bit", "hwh", "npz"), f"rtlcnn.{attr} is not public"


def test_shipped_digits_sample_equals_scikit_learn_heldout():
    """The notebook's fallback for boards without scikit-learn holds the same images."""
    pytest.importorskip("sklearn")
    from rtlcnn.compile import datasets

    z = np.load(ROOT / "notebooks" / "digits_heldout.npz", allow_pickle=False)
    s = datasets.load_digits()
    assert np.array_equal(z["images"][:, None].astype(np.float32) / 16, s.heldout_images)
    assert np.array_equal(z["labels"], s.heldout_labels)


def _kernelspec(tmp_path) -> str:
    """A kernelspec that runs this interpreter (the venv's python), found through JUPYTER_PATH."""
    name = "rtlcnn-test-python"
    d = tmp_path / "jupyter" / "kernels" / name
    d.mkdir(parents=True)
    (d / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "rtlcnn test (venv python)",
        "language": "python",
    }))
    return name


def _png_outputs(cell) -> int:
    return sum(1 for o in cell.get("outputs", []) if "image/png" in o.get("data", {}))


@pytest.mark.slow
def test_notebook_runs_top_to_bottom_on_the_mock_board(tmp_path, monkeypatch):
    for mod in ("nbclient", "nbformat", "ipykernel", "matplotlib"):
        pytest.importorskip(mod)
    from rtlcnn.sim import toolchain

    if not toolchain.have_simulator("verilator"):
        pytest.skip("Verilator is not installed (apt-get install verilator)")
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the inline backend must make the PNGs
    kernel = _kernelspec(tmp_path)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, timeout=1200, kernel_name=kernel,
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()

    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "outputs equal rtlcnn.reference bit for bit: True" in text
    grid = next(c for c in nb.cells if c.cell_type == "code" and "imshow" in c.source)
    profile = next(c for c in nb.cells if c.cell_type == "code" and "utilization per layer" in c.source)
    assert _png_outputs(grid) >= 1, "no prediction grid in the outputs"
    assert _png_outputs(profile) >= 1, "no per-layer profile chart in the outputs"
