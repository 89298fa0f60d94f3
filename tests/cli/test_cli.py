"""The ``rtlcnn`` command line: every command, and its error paths (exit code and message).

Most tests call ``rtlcnn.cli.main([...])`` in-process with the numpy reference board; the
mock-board ones share the session's simulator (tests/cli/conftest.py) and are marked slow.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

import rtlcnn.cli as cli
from rtlcnn.board.images import read_images
from rtlcnn.board.session import Board
from rtlcnn.cli import bench, demo, plots
from rtlcnn.cli.common import add_profiles
from rtlcnn.core import reference

ROOT = Path(__file__).resolve().parents[2]


def run_cli(capsys, *argv):
    """(exit code, stdout, stderr) of ``rtlcnn argv...`` run in this process."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _have(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


# ------------------------------------------------------------------------- help, version
def test_help_teaches_with_examples(capsys):
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    for word in ("demo", "compile", "run", "info", "bench", "examples:", "Exit codes"):
        assert word in out
    for sub in ("demo", "compile", "run", "info", "bench"):
        code, out, _ = run_cli(capsys, sub, "--help")
        assert code == 0 and "examples:" in out, sub


def test_no_command_prints_help_and_fails(capsys):
    code, out, _ = run_cli(capsys)
    assert code == 2 and "COMMAND" in out


def test_version(capsys):
    import rtlcnn

    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and rtlcnn.__version__ in out


# ----------------------------------------------------------------------------------- run
def test_run_reference_prints_top1_with_labels(capsys, small_program, images28):
    prog, path = small_program
    f, u, p = images28
    code, out, err = run_cli(capsys, "run", path, f, u, p, "--board", "reference")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 5  # 3 images of the batch, the uint8 image, the PNG
    x = np.concatenate([np.load(f), np.load(u)[None, None] / np.float32(255)]).astype(np.float32)
    want = reference.run(prog, x).argmax(1)
    for line, k in zip(lines, want):
        assert f"class{k}" in line
    assert lines[0].startswith("batch.npy[0]") and lines[3].startswith("one.npy")
    assert lines[4].startswith("digit.png")


def test_run_a_shipped_model_by_name(capsys, tmp_path):
    from rtlcnn.compile import datasets

    d = datasets.load_digits()
    np.save(tmp_path / "d.npy", d.heldout_images[:4])
    code, out, err = run_cli(capsys, "run", "digits", tmp_path / "d.npy", "--board", "reference")
    assert code == 0, err
    assert [ln.split()[1] for ln in out.splitlines()] == [str(k) for k in d.heldout_labels[:4]]


def test_run_a_folder_of_images(capsys, tmp_path, small_program, images28):
    _, path = small_program
    folder = images28[0].parent
    (folder / "notes.txt").write_text("not an image")
    code, out, err = run_cli(capsys, "run", path, folder, "--board", "reference")
    assert code == 0, err
    assert [ln.split()[0] for ln in out.splitlines()] == [
        "batch.npy[0]", "batch.npy[1]", "batch.npy[2]", "digit.png", "one.npy"]
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(capsys, "run", path, empty, "--board", "reference")
    assert code == 2 and "has no .png or .npy files" in err


def test_read_images_uint8_is_scaled_and_int8_is_quantized(tmp_path):
    a = np.arange(64, dtype=np.uint8).reshape(8, 8)
    np.save(tmp_path / "u.npy", a)
    x, names = read_images([tmp_path / "u.npy"], (1, 8, 8))
    assert x.dtype == np.float32 and x.shape == (1, 1, 8, 8) and np.allclose(x[0, 0], a / 255)
    np.save(tmp_path / "q.npy", np.ones((2, 1, 8, 8), np.int8))
    x, names = read_images([tmp_path / "q.npy"], (1, 8, 8))
    assert x.dtype == np.int8 and names == ["q.npy[0]", "q.npy[1]"]


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing_program", "does not exist"),
        ("junk_program", "not an rtlcnn program file"),
        ("truncated_program", "truncated or corrupted"),
        ("other_npz", "not an rtlcnn program file"),
        ("missing_image", "image file"),
        ("wrong_png_size", "is 8x8 pixels but the program expects 28x28"),
        ("wrong_npy_shape", "does not match the program's input (1, 28, 28)"),
        ("bad_dtype", "dtype int64 is not accepted"),
        ("bad_suffix", "unknown image file type"),
        ("non_finite", "nan.npy: the array holds 3 NaN or infinite values (first at index (0, 4, 7) of its "
                       "shape (2, 28, 28))"),
    ],
)
def test_run_errors_are_one_line_with_exit_2(capsys, tmp_path, small_program, images28, case, message):
    from PIL import Image

    _, prog_path = small_program
    image = images28[0]
    program = prog_path
    if case == "missing_program":
        program = tmp_path / "nope.rtlcnn.npz"
    elif case == "junk_program":
        program = tmp_path / "junk.rtlcnn.npz"
        program.write_bytes(b"this is not a program")
    elif case == "truncated_program":
        program = tmp_path / "cut.rtlcnn.npz"
        program.write_bytes(prog_path.read_bytes()[:300])
    elif case == "other_npz":
        program = tmp_path / "other.npz"
        np.savez(program, a=np.zeros(3))
    elif case == "missing_image":
        image = tmp_path / "nope.png"
    elif case == "wrong_png_size":
        image = tmp_path / "small.png"
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(image)
    elif case == "wrong_npy_shape":
        image = tmp_path / "bad.npy"
        np.save(image, np.zeros((2, 3, 28, 28), np.float32))
    elif case == "bad_dtype":
        image = tmp_path / "i64.npy"
        np.save(image, np.zeros((28, 28), np.int64))
    elif case == "bad_suffix":
        image = tmp_path / "image.jpg"
        image.write_bytes(b"\xff\xd8")
    elif case == "non_finite":
        image = tmp_path / "nan.npy"
        a = np.zeros((2, 28, 28), np.float32)
        a[0, 4, 7], a[1, 0, 0], a[1, 2, 3] = np.nan, np.inf, -np.inf
        np.save(image, a)
    code, out, err = run_cli(capsys, "run", program, image, "--board", "reference")
    assert code == 2
    assert err.startswith("rtlcnn: error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_run_names_the_image_files_when_the_board_rejects_the_batch(capsys, monkeypatch, small_program,
                                                                  images28):
    """An InputError from the board's check (past read_images' own checks) names the input files."""
    from rtlcnn.core.errors import InputError

    _, path = small_program

    class _Picky:
        def predict_int(self, x):
            raise InputError("images contain 1 NaN or infinite value (first at index (0, 0, 1, 2))")

        def profile(self):
            return []

    monkeypatch.setattr(Board, "load", lambda self, prog: _Picky())
    code, _, err = run_cli(capsys, "run", path, images28[0], "--board", "reference")
    assert code == 2 and err.strip() == (f"rtlcnn: error: {images28[0]}: images contain 1 NaN or infinite "
                                         "value (first at index (0, 0, 1, 2))")


def test_truncated_zip_is_really_truncated(small_program, tmp_path):
    _, prog_path = small_program
    cut = tmp_path / "cut.npz"
    cut.write_bytes(prog_path.read_bytes()[:300])
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(cut)


def test_run_in_batches_gives_the_same_answers(capsys, small_program, images28):
    _, path = small_program
    outs = [run_cli(capsys, "run", path, images28[0], "--board", "reference", "--batch", b) for b in (1, 64)]
    assert outs[0][0] == outs[1][0] == 0 and outs[0][1] == outs[1][1]
    code, _, err = run_cli(capsys, "run", path, images28[0], "--board", "reference", "--batch", "0")
    assert code == 2 and "--batch must be at least 1" in err


def test_bad_board_is_a_usage_error(capsys, small_program, images28):
    _, path = small_program
    code, _, err = run_cli(capsys, "run", path, images28[0], "--board", "fpga")
    assert code == 2
    assert err.startswith("rtlcnn: error: argument --board: invalid choice: 'fpga'")
    assert "rtlcnn run --help" in err and len(err.strip().splitlines()) == 1


def test_debug_shows_the_traceback(capsys, tmp_path, small_program):
    _, path = small_program
    code, _, err = run_cli(capsys, "run", path, tmp_path / "nope.npy", "--board", "reference", "--debug")
    assert code == 2 and "Traceback" in err and err.strip().endswith("does not exist")


# ---------------------------------------------------------------------------------- info
def test_info_without_board(capsys):
    code, out, err = run_cli(capsys, "info", "--board", "none")
    assert code == 0, err
    for word in ("rtlcnn 0.", "numpy 1.", "pynq", "cocotb", "verilator", "models:", "on a PYNQ board: no"):
        assert word in out


# --------------------------------------------------------------------------------- bench
def test_bench_reference_passes_arguments_after_double_dash(capsys):
    code = cli.main(["bench", "reference", "--", "--batch", "1", "--seconds", "0.05"])
    assert code == 0


def test_bench_runs_every_present_module_in_its_own_process(capsys, monkeypatch):
    calls = []

    class _Done:
        returncode = 0

    monkeypatch.setattr(bench.subprocess, "run", lambda cmd, env: calls.append((cmd, env)) or _Done())
    assert cli.main(["bench"]) == 0
    present = [m for m, _ in bench.BENCHES.values() if _have(f"rtlcnn.{m}")]
    assert [c[0][2] for c in calls] == [f"rtlcnn.{m}" for m in present]
    assert all(c[0][0] == sys.executable for c in calls)
    ref = [env for cmd, env in calls if cmd[2] == "rtlcnn.bench.reference"]
    assert ref and ref[0]["OMP_NUM_THREADS"] == os.environ.get("OMP_NUM_THREADS", "1")  # one core


def test_bench_unknown_name(capsys):
    code, _, err = run_cli(capsys, "bench", "gpu")
    assert code == 2 and "unknown benchmark 'gpu'" in err


def test_double_dash_only_for_bench(capsys):
    code, _, err = run_cli(capsys, "info", "--", "x")
    assert code == 2 and "only for 'rtlcnn bench'" in err


# ---------------------------------------------------------------------------------- demo
def test_demo_unknown_model(capsys, tmp_path):
    code, _, err = run_cli(capsys, "demo", "--model", "resnet50", "--board", "reference", "--out", tmp_path)
    assert code == 2 and "unknown model 'resnet50'; available: " in err and "digits" in err


def test_demo_flow_with_a_stand_in_model(capsys, tmp_path, monkeypatch):
    """The demo's flow on the reference board, whatever models this tree ships."""
    from rtlcnn import models
    from rtlcnn.core.random_programs import lenet5

    prog = lenet5(seed=2)
    prog.input_shape = (1, 8, 8)
    prog.ops = [op for op in prog.ops if op.kind == "linear"]
    prog.ops[0].weight = prog.ops[0].weight[:, :64].copy()
    prog.name = "digits"
    monkeypatch.setattr(models, "available", lambda: ["digits"], raising=False)
    monkeypatch.setattr(models, "load", lambda name: prog, raising=False)
    code, out, err = run_cli(capsys, "demo", "--board", "reference", "--images", "10", "--batch", "4",
                             "--out", tmp_path)
    assert code == 0, err
    assert "digits: " in out and "10 scikit-learn digits" in out
    # the reference board is the reference: comparing it with itself would prove nothing
    assert "bit for bit: n/a (the reference board is rtlcnn.reference itself)" in out
    assert "bit for bit: yes" not in out and "accuracy: " in out
    assert "every output equal" not in out
    # the wall time once: the progress line, not again as "wall time here"
    assert out.count("classifying on reference: 10 img in ") == 1 and "wall time here" not in out
    assert (tmp_path / "digits_predictions.png").read_bytes()[:4] == b"\x89PNG"
    import json

    assert json.loads((tmp_path / "results.json").read_text())["models"]["digits"]["bit_exact"] is None
    code, out, err = run_cli(capsys, "demo", "--board", "reference", "--images", "10", "--batch", "4",
                             "--out", tmp_path, "--quiet")
    assert code == 0, err
    assert "classifying on" not in out and out.count("wall time here: ") == 1  # quiet: no progress line


def test_demo_reports_a_mismatch_and_fails(capsys, tmp_path, monkeypatch):
    """A board whose outputs differ from the reference makes the demo say so and exit 1."""

    real_load = Board.load

    class _Off:
        def __init__(self, net):
            self.net = net

        def predict_int(self, x):
            y = self.net.predict_int(x).copy()
            y[1, 3] += 1
            return y

        def profile(self):
            return []

    monkeypatch.setattr(Board, "load", lambda self, prog: _Off(real_load(self, prog)))
    code, out, err = run_cli(capsys, "demo", "--board", "reference", "--model", "digits", "--images", "4",
                             "--out", tmp_path)
    assert code == 1
    assert "bit for bit: NO" in out and "1 of 4 images differ (indices [1])" in out
    assert "did not match rtlcnn.reference" in err


def test_digits_without_scikit_learn_use_the_copy_beside_the_notebook(monkeypatch):
    pytest.importorskip("sklearn")
    from rtlcnn.compile import datasets

    want = datasets.load_digits()
    monkeypatch.setattr(datasets, "load_digits", lambda: (_ for _ in ()).throw(ImportError("no sklearn")))
    images, labels, what = demo._demo_data("digits")
    assert "copy beside the notebook" in what
    assert np.array_equal(images, want.heldout_images) and np.array_equal(labels, want.heldout_labels)


def test_prediction_grid_marks_wrong_predictions_in_text(tmp_path, recwarn):
    """Wrong predictions carry a text mark (not only red): fed deliberately wrong labels, the
    grid counts them and titles them "✗ predicted (true ...)", in a font that has the glyph."""
    pred = np.array([3, 1, 4, 1, 5, 9, 2, 6])
    truth = pred.copy()
    truth[[1, 6]] = [7, 0]  # two deliberately wrong labels
    titles, wrong = plots.prediction_titles(pred, truth)
    assert wrong == 2
    assert titles[1] == ("\u2717 1 (true 7)", "red") and titles[6] == ("\u2717 2 (true 0)", "red")
    assert all(t.startswith("\u2713 ") and c == "green" for i, (t, c) in enumerate(titles) if i not in (1, 6))
    names = [f"n{k}" for k in range(10)]
    assert plots.prediction_titles(pred, truth, names)[0][1][0] == "\u2717 n1 (true n7)"
    assert plots.prediction_titles(pred, pred)[1] == 0
    assert plots.prediction_titles(pred)[0][0] == ("3", "black")  # no truth: no marks
    images = np.random.default_rng(0).random((8, 1, 8, 8), dtype=np.float32)
    png = plots.save_prediction_grid(tmp_path / "g.png", images, pred, truth, title="2 wrong, \u2717")
    assert png.read_bytes()[:4] == b"\x89PNG"
    missing = [str(w.message) for w in recwarn if "Glyph" in str(w.message)]
    assert not missing, missing  # the ✗ and ✓ render in matplotlib's default font


def test_profile_chart_and_summed_profiles(tmp_path):
    rows = [{"name": "conv1", "kind": "conv2d", "cycles": 100, "macs": 800, "utilization": 0.5},
            {"name": "fc", "kind": "linear", "cycles": 50, "macs": 100, "utilization": 0.125}]
    total = add_profiles(add_profiles(None, rows), rows)
    assert [r["cycles"] for r in total] == [200, 100] and total[0]["utilization"] == 0.5
    png = plots.save_profile_chart(tmp_path / "p.png", total, title="t")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_demo_on_reference_writes_pngs(capsys, tmp_path):
    out_dir = tmp_path / "out"
    code, out, err = run_cli(capsys, "demo", "--model", "digits", "--images", "16", "--board", "reference",
                             "--out", out_dir)
    assert code == 0, err
    assert "outputs equal rtlcnn.reference bit for bit: n/a" in out
    assert "accuracy: " in out
    png = out_dir / "digits_predictions.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------- compile
MODEL_PY = '''
import torch
from torch import nn

torch.manual_seed(0)
model = nn.Sequential(
    nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(64, 10),
)
'''


def test_compile_model_py_then_run(capsys, tmp_path):
    pytest.importorskip("torch", reason="compiling needs torch: pip install -e '.[train]'")
    model_py = tmp_path / "tiny.py"
    model_py.write_text(MODEL_PY)
    out_file = tmp_path / "tiny.rtlcnn.npz"
    code, out, err = run_cli(capsys, "compile", model_py, "--calib", "digits", "--calib-count", "64",
                             "-o", out_file, "--labels", "zero,one,two,three,four,five,six,seven,eight,nine")
    assert code == 0, err
    assert "Program" in out and "MACs" in out and "agree on top-1" in out and f"wrote {out_file}" in out
    from rtlcnn import Program

    prog = Program.load(out_file)
    assert prog.meta["labels"][7] == "seven"
    np.save(tmp_path / "x.npy", np.zeros((8, 8), np.uint8))
    code, out, err = run_cli(capsys, "run", out_file, tmp_path / "x.npy", "--board", "reference")
    assert code == 0, err
    assert out.split()[1] in prog.meta["labels"]


def test_compile_model_py_imports_its_neighbours(capsys, tmp_path):
    pytest.importorskip("torch", reason="compiling needs torch: pip install -e '.[train]'")
    import torch

    (tmp_path / "mynet.py").write_text(MODEL_PY.replace("model = ", "def Net():\n    return "))
    ns = {}
    exec(MODEL_PY, ns)
    torch.save(ns["model"].state_dict(), tmp_path / "w.pth")
    (tmp_path / "load.py").write_text(
        "import torch\nfrom mynet import Net\nmodel = Net()\n"
        f"model.load_state_dict(torch.load({str(tmp_path / 'w.pth')!r}))\n")
    code, out, err = run_cli(capsys, "compile", tmp_path / "load.py", "--calib", "digits",
                             "--calib-count", "16", "-o", tmp_path / "l.rtlcnn.npz")
    assert code == 0, err
    assert str(tmp_path) not in sys.path


def test_compile_calib_npy_and_png_folder(capsys, tmp_path):
    pytest.importorskip("torch", reason="compiling needs torch: pip install -e '.[train]'")
    from PIL import Image

    model_py = tmp_path / "m.py"
    model_py.write_text(MODEL_PY.replace("model = ", "def build_model():\n    return "))
    rng = np.random.default_rng(0)
    np.save(tmp_path / "calib.npy", rng.random((32, 1, 8, 8), dtype=np.float32))
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(folder / f"{i}.png")
    for calib in (tmp_path / "calib.npy", folder):
        code, _, err = run_cli(capsys, "compile", model_py, "--calib", calib, "-o", tmp_path / "m.rtlcnn.npz")
        assert code == 0, err


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "model file"),
        ("no_model", "defines neither `model` nor `build_model()`"),
        ("raises", "raised ZeroDivisionError"),
        ("wrong_suffix", "give a MODEL.py"),
        ("missing_calib", "calibration"),
    ],
)
def test_compile_errors(capsys, tmp_path, case, message):
    model = tmp_path / "m.py"
    model.write_text("x = 1\n" if case == "no_model" else "1 / 0\n" if case == "raises" else MODEL_PY)
    calib = "digits"
    if case == "missing":
        model = tmp_path / "nope.py"
    elif case == "wrong_suffix":
        model = tmp_path / "m.onnx"
        model.write_bytes(b"onnx")
    elif case == "missing_calib":
        calib = str(tmp_path / "nope.npy")
        pytest.importorskip("torch", reason="compiling needs torch: pip install -e '.[train]'")
    code, _, err = run_cli(capsys, "compile", model, "--calib", calib, "-o", tmp_path / "o.rtlcnn.npz")
    assert code in (1, 2) and err.startswith("rtlcnn: error: ") and message in err, err
    assert "Traceback" not in err


def test_compile_full_module_pt(capsys, tmp_path):
    pytest.importorskip("torch", reason="compiling needs torch: pip install -e '.[train]'")
    import torch

    ns = {}
    exec(MODEL_PY, ns)
    pt = tmp_path / "net.pt"
    torch.save(ns["model"], pt)
    code, out, err = run_cli(capsys, "compile", pt, "--calib", "digits", "--calib-count", "32",
                             "-o", tmp_path / "net.rtlcnn.npz")
    assert code == 0, err
    assert "Program 'net'" in out


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated in torch 2.13
def test_compile_torchscript_is_refused_with_advice(capsys, tmp_path):
    torch = pytest.importorskip("torch")
    ns = {}
    exec(MODEL_PY, ns)
    pt = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(ns["model"]), pt)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        code, _, err = run_cli(capsys, "compile", pt, "--calib", "digits")
    assert code == 2 and "TorchScript" in err, err
    assert err.strip().count("\n") == 0 and err.startswith("rtlcnn: error:"), err  # one line
    assert not [w for w in seen if "TorchScript" in str(w.message)]  # torch's own warning not shown


def test_compile_calib_count_0_is_a_bad_argument(capsys, tmp_path):
    model = tmp_path / "m.py"
    model.write_text(MODEL_PY)
    code, _, err = run_cli(capsys, "compile", model, "--calib", "digits", "--calib-count", "0")
    assert code == 2 and "--calib-count must be at least 1" in err, err


def test_compile_calib_mnist_without_the_files_names_the_folder(capsys, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setenv("RTLCNN_MNIST_DIR", str(tmp_path / "no-mnist"))
    model = tmp_path / "m.py"
    model.write_text(MODEL_PY)
    code, _, err = run_cli(capsys, "compile", model, "--calib", "mnist")
    assert code == 2 and "no-mnist" in err and "RTLCNN_MNIST_DIR" in err


def test_compile_state_dict_pt_is_refused_with_advice(capsys, tmp_path):
    torch = pytest.importorskip("torch")
    pt = tmp_path / "w.pt"
    torch.save({"weight": torch.zeros(2)}, pt)
    code, _, err = run_cli(capsys, "compile", pt, "--calib", "digits")
    assert code == 2 and "holds a state_dict" in err


# ------------------------------------------------------------------------ console script
def test_console_script_and_module_entry(tmp_path):
    exe = Path(sys.executable).with_name("rtlcnn")
    cmds = [[sys.executable, "-m", "rtlcnn"]] + ([[str(exe)]] if exe.exists() else [])
    for cmd in cmds:
        r = subprocess.run(cmd + ["info", "--board", "none"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert "models:" in r.stdout
        r = subprocess.run(cmd + ["run", str(tmp_path / "missing.rtlcnn.npz"), "x.png"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2
        assert r.stderr.startswith("rtlcnn: error: program file") and "Traceback" not in r.stderr


# -------------------------------------------------------------------- on the mock board
@pytest.mark.slow
def test_run_and_info_on_the_mock_board(capsys, shared_mock, small_program, images28):
    prog, path = small_program
    code, out, err = run_cli(capsys, "run", path, images28[0], "--board", "mock")
    assert code == 0, err
    want = reference.run(prog, np.load(images28[0])).argmax(1)
    assert [ln.split()[1] for ln in out.splitlines()] == [f"class{k}" for k in want]  # only answers
    assert "engine cycles/image" in err
    code, out, err = run_cli(capsys, "info", "--board", "mock")
    assert code == 0, err
    assert "ID" in out and "RCNN" in out and "P_OC" in out and "P_IC" in out


@pytest.mark.slow
def test_pynq_board_path_with_a_stand_in_overlay(capsys, tmp_path, monkeypatch, mock_overlay):
    """--board pynq: the bitstream lookup, pynq.Overlay(path) and the board's clock; the
    overlay pynq would load is stood in by the session's mock board (no FPGA here)."""
    import pynq

    bit = tmp_path / "rtlcnn.bit"
    bit.write_bytes(b"bitstream")
    opened = []
    monkeypatch.setattr(pynq, "Overlay", lambda path: opened.append(path) or mock_overlay)
    code, out, err = run_cli(capsys, "demo", "--board", "pynq", "--bitfile", bit, "--model", "digits",
                             "--images", "8", "--out", tmp_path / "out")
    assert code == 0, err
    assert opened == [str(bit)]
    assert f"board: PYNQ overlay {bit}" in out and "bit for bit: yes" in out and "at 100 MHz" in out
    assert not mock_overlay._closed  # a pynq overlay is not closed by the command


@pytest.mark.slow
def test_demo_end_to_end_on_the_mock_board(tmp_path):
    """The README's main job: `python -m rtlcnn demo --images 8 --out tmp` in a fresh process."""
    env = dict(os.environ)
    r = subprocess.run([sys.executable, "-m", "rtlcnn", "demo", "--images", "8", "--out", "tmp"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=1200, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "board: mock board" in r.stdout
    assert r.stdout.count("outputs equal rtlcnn.reference bit for bit: yes") >= 1
    assert "cycles/image (mean over 8 images in batches of 8)" in r.stdout
    assert "images/s projected" in r.stdout
    assert "at batch" not in r.stdout and "wall time here" not in r.stdout  # one wall time: the progress line
    for png in ("digits_predictions.png", "digits_profile.png"):
        assert (tmp_path / "tmp" / png).read_bytes()[:4] == b"\x89PNG"
    import json

    res = json.loads((tmp_path / "tmp" / "results.json").read_text())
    assert res["board"]["kind"] == "mock" and res["models"]["digits"]["bit_exact"] is True
    assert res["models"]["digits"]["cycles_per_image"] > 0 and res["models"]["digits"]["profile"]


@pytest.mark.slow
def test_demo_on_icarus(capsys, tmp_path):
    """--sim icarus: the second simulator gives the same bit-exact answers."""
    from rtlcnn.sim import toolchain

    if not toolchain.have_simulator("icarus"):
        pytest.skip("Icarus Verilog is not installed (apt-get install iverilog)")
    code, out, err = run_cli(capsys, "demo", "--sim", "icarus", "--model", "digits", "--images", "2",
                             "--out", tmp_path)
    assert code == 0, err
    assert "Icarus Verilog simulation" in out and "bit for bit: yes" in out


def test_run_warns_once_about_0_255_float_images_and_strict_refuses(capsys, tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (3, 8, 8)).astype(np.float32)  # not / 255
    np.save(tmp_path / "raw.npy", x)
    code, out, err = run_cli(capsys, "run", "digits", tmp_path / "raw.npy", "--board", "reference")
    assert code == 0 and err.count("rtlcnn: warning:") == 1 and "integer pixel values up to" in err, err
    assert "InputRangeWarning" not in err  # a line for people, not a Python warning
    code, out, err = run_cli(capsys, "run", "digits", tmp_path / "raw.npy", "--board", "reference",
                             "--strict")
    assert code == 2 and err.startswith("rtlcnn: error:") and "integer pixel values" in err, err


def test_a_corrupted_program_file_is_one_line_with_exit_2(capsys, tmp_path):
    from rtlcnn import models

    data = bytearray(models.path("digits").read_bytes())
    data[len(data) // 3] ^= 0x40  # inside the compressed weights
    bad = tmp_path / "bad.rtlcnn.npz"
    bad.write_bytes(bytes(data))
    np.save(tmp_path / "x.npy", np.zeros((1, 8, 8), np.float32))
    code, out, err = run_cli(capsys, "run", bad, tmp_path / "x.npy", "--board", "reference")
    assert code == 2 and err.count("\n") == 1 and err.startswith("rtlcnn: error:"), err
    assert "bad.rtlcnn.npz" in err
    assert "error: error" not in err


def test_compile_normalize_is_recorded_and_bad_values_are_one_line(capsys, tmp_path):
    pytest.importorskip("torch")
    model = tmp_path / "m.py"
    model.write_text(MODEL_PY)
    out = tmp_path / "n.rtlcnn.npz"
    code, _, err = run_cli(capsys, "compile", model, "--calib", "digits", "--calib-count", "32",
                           "--normalize", "0.5/0.25", "-o", out)
    assert code == 0, err
    from rtlcnn import Program

    assert Program.load(out).input_norm == ((0.5,), (0.25,))
    code, _, err = run_cli(capsys, "compile", model, "--calib", "digits", "--normalize", "0.5")
    assert code == 2 and "give MEAN/STD" in err, err
