"""The shipped example programs: load with numpy only, and their recorded accuracy holds."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from rtlcnn import models
from rtlcnn.compile import datasets
from rtlcnn.core import reference

SHIPPED = ["digits", "lenet5_mnist", "mobilenet_digits", "resnet_mnist"]


def test_available_lists_the_shipped_programs():
    assert set(SHIPPED) <= set(models.available())
    for name in SHIPPED:
        assert models.path(name).name == f"{name}.rtlcnn.npz"


def test_unknown_name_lists_what_is_available():
    with pytest.raises(LookupError) as e:
        models.load("resnet50")
    assert "resnet50" in str(e.value) and "lenet5_mnist" in str(e.value) and "digits" in str(e.value)


def test_shipped_programs_load_and_run_without_torch():
    code = (
        "import sys\n"
        "for m in ('torch', 'sklearn', 'tqdm'):\n"
        "    sys.modules[m] = None  # importing them now fails, as on the board\n"
        "import numpy as np\n"
        "from rtlcnn import models, reference\n"
        "for name in models.available():\n"
        "    p = models.load(name)\n"
        "    x = np.zeros((2,) + tuple(p.input_shape), np.float32)\n"
        "    print(name, reference.run(p, x).shape)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for name in SHIPPED:
        assert f"{name} (2, 10)" in out.stdout


@pytest.mark.parametrize("name", SHIPPED)
def test_meta_records_how_the_program_was_made(name):
    meta = models.load(name).meta
    assert meta["classes"] == [str(d) for d in range(10)]
    assert meta["command"].startswith(f"python -m rtlcnn.train {name} ")
    assert f"--seed {meta['seed']}" in meta["command"]
    acc = meta["accuracy"]
    assert {"float", "int8", "int8_ptq"} <= set(acc)
    assert meta["heldout_accuracy"] == acc["int8"]
    assert acc["int8"] >= acc["float"] - 0.005, "int8 more than 0.5 points below float"


def _check_accuracy(name, images, labels):
    prog = models.load(name)
    meta = prog.meta
    assert meta["heldout"]["count"] == len(labels)
    pred = reference.run(prog, images).argmax(1)
    acc = float((pred == labels).mean())
    assert acc == pytest.approx(meta["accuracy"]["int8"], abs=1e-12)
    return acc


@pytest.mark.parametrize("name", ["digits", "mobilenet_digits"])
def test_digits_accuracy_is_reproduced_by_the_reference(name):
    s = datasets.load_digits()
    acc = _check_accuracy(name, s.heldout_images, s.heldout_labels)
    assert acc >= 0.95


@pytest.mark.parametrize("name", ["lenet5_mnist", "resnet_mnist"])
def test_mnist_accuracy_is_reproduced_by_the_reference(name, mnist_dir):
    s = datasets.mnist_splits(mnist_dir, train_split=False)
    acc = _check_accuracy(name, s.heldout_images, s.heldout_labels)
    assert acc >= 0.98
    assert np.isclose(models.load(name).meta["heldout_accuracy"], acc)


def test_the_graph_models_hold_what_they_are_shipped_for():
    """resnet_mnist: residual adds (one over a 1x1 projection) and a global average pool;
    mobilenet_digits: depthwise convs with ReLU6 bounds and adds. Both plan onto the default
    engine with every op's arithmetic on it."""
    from rtlcnn.core import schedule as SC
    from rtlcnn.core.stream import Build

    res, mob = models.load("resnet_mnist"), models.load("mobilenet_digits")
    assert sum(op.kind == "add" for op in res.ops) == 2 and res.ops[-2].kind == "globalavgpool"
    dw = [op for op in mob.ops if op.kind == "conv2d" and op.groups > 1]
    assert len(dw) == 3 and all(op.weight.shape[1] == 1 for op in dw)
    # ReLU6: nothing above 6 (to the half step) is representable
    assert all(op.relu and op.out_scale * op.act_max <= 6 + op.out_scale / 2 for op in dw)
    assert sum(op.kind == "add" for op in mob.ops) == 2
    for prog in (res, mob):
        pl = SC.plan(prog, Build())
        assert all(lp.opcode != SC.OPCODE_HOST for lp in pl.layers), pl.summary()


@pytest.mark.parametrize("name,data", [("mobilenet_digits", "digits"), ("resnet_mnist", "mnist")])
def test_the_float_weights_beside_a_graph_model_give_its_float_accuracy(name, data, request):
    torch = pytest.importorskip("torch")
    from rtlcnn.compile import train

    if data == "digits":
        s = datasets.load_digits()
    else:
        s = datasets.mnist_splits(request.getfixturevalue("mnist_dir"), train_split=False)
    model = train.load_float(name)
    with torch.no_grad():
        f = model(torch.from_numpy(s.heldout_images)).numpy()
    assert float((f.argmax(1) == s.heldout_labels).mean()) == pytest.approx(
        models.load(name).meta["accuracy"]["float"], abs=1e-12)


def _train(*args, cwd):
    cmd = [sys.executable, "-m", "rtlcnn.train", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=cwd)


@pytest.mark.slow
def test_training_is_deterministic_and_writes_program_and_float_weights(tmp_path):
    """A short digits run, twice: same bytes, meta filled in, float weights beside it."""
    pytest.importorskip("torch")
    for run in ("a", "b"):
        out = _train(
            "digits", "--epochs", "2", "--qat-epochs", "1", "--out", f"{run}.rtlcnn.npz", cwd=tmp_path
        )
        assert out.returncode == 0, out.stderr
        assert "held-out accuracy (360 images)" in out.stdout
    a, b = (tmp_path / "a.rtlcnn.npz").read_bytes(), (tmp_path / "b.rtlcnn.npz").read_bytes()
    assert a == b
    assert (tmp_path / "a.float.npz").read_bytes() == (tmp_path / "b.float.npz").read_bytes()
    from rtlcnn import Program
    from rtlcnn.compile import train

    meta = Program.load(tmp_path / "a.rtlcnn.npz").meta
    assert meta["command"] == "python -m rtlcnn.train digits --epochs 2 --qat-epochs 1 --seed 0"
    assert meta["epochs"] == 2 and meta["qat_epochs"] == 1 and meta["seed"] == 0
    s = datasets.load_digits()
    model = train.load_float("digits", tmp_path / "a.float.npz")
    import torch

    with torch.no_grad():
        f = model(torch.from_numpy(s.heldout_images)).numpy()
    assert float((f.argmax(1) == s.heldout_labels).mean()) == pytest.approx(
        meta["accuracy"]["float"], abs=1e-12
    )


def test_training_without_mnist_says_where_it_looked(tmp_path):
    pytest.importorskip("torch")
    out = _train("lenet5_mnist", "--data", str(tmp_path / "none"), cwd=tmp_path)
    assert out.returncode == 2
    assert str(tmp_path / "none") in out.stderr and "t10k-images-idx3-ubyte" in out.stderr
