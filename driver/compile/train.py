"""Train the shipped example models and write their program files.

Usage::

    python -m rtlcnn.train lenet5_mnist [--epochs N] [--qat-epochs N] [--seed S] [--out PATH]
    python -m rtlcnn.train digits [...]
    python -m rtlcnn.train resnet_mnist [...]       (residual adds, a global average pool)
    python -m rtlcnn.train mobilenet_digits [...]   (depthwise convs, ReLU6, adds)

Each run is deterministic for a given seed (fixed seeds, deterministic torch algorithms,
one thread): it trains the float model, compiles it with calibration on training images
(post-training quantization), optionally fine-tunes it with QAT, and reports the float
and int8 accuracy on the held-out images, computed with :mod:`rtlcnn.reference`. The
program written is the QAT one when ``--qat-epochs`` > 0; its ``meta`` records the
accuracies, the seed, the command and the class labels. The float model's weights go
beside it (``<name>.float.npz``, plain arrays, see :func:`load_float`).

Data (see :mod:`rtlcnn.datasets`): MNIST t10k images 0-7199 train, 7200-7999 validate,
8000-9999 are held out (with the 60,000 train-* images in the folder, they join the
training images and the last 800 of them validate); digits images 0-1292 train,
1293-1436 validate, 1437-1796 are held out.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from ..core import reference
from . import compiler, datasets, qat

__all__ = ["lenet5", "digits_cnn", "ResNetMnist", "MobileNetDigits", "RECIPES", "train", "main",
           "save_float", "load_float", "float_path"]


def lenet5() -> nn.Module:
    """LeNet-5 for 28x28 MNIST (ReLU, max pooling; padding 2 on the first conv)."""
    return nn.Sequential(
        OrderedDict(
            features=nn.Sequential(
                nn.Conv2d(1, 6, 5, padding=2),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(6, 16, 5),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ),
            classifier=nn.Sequential(
                nn.Flatten(),
                nn.Linear(400, 120),
                nn.ReLU(),
                nn.Linear(120, 84),
                nn.ReLU(),
                nn.Linear(84, 10),
            ),
        )
    )


def digits_cnn() -> nn.Module:
    """A small CNN for scikit-learn's 8x8 digits."""
    return nn.Sequential(
        OrderedDict(
            features=nn.Sequential(
                nn.Conv2d(1, 16, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(16, 32, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ),
            classifier=nn.Sequential(
                nn.Flatten(),
                nn.Dropout(0.25),
                nn.Linear(512, 64),
                nn.ReLU(),
                nn.Linear(64, 10),
            ),
        )
    )


class _BasicBlock(nn.Module):
    """ResNet's basic block: two 3x3 convs with BatchNorm, the input added back (through a
    strided 1x1 conv and BatchNorm where the shape changes), ReLU after the add."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNetMnist(nn.Module):
    """A ResNet-8-style network for 28x28 MNIST: a 3x3 stem with a 2x2 max pool, two basic
    blocks (16 channels at 14x14, 32 at 7x7 with a 1x1 projection shortcut), a global
    average pool and a linear classifier."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                                  nn.MaxPool2d(2))
        self.layer1 = _BasicBlock(16, 16)
        self.layer2 = _BasicBlock(16, 32, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, classes)

    def forward(self, x):
        x = self.layer2(self.layer1(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


class _InvertedResidual(nn.Module):
    """MobileNetV2's block: 1x1 expansion, 3x3 depthwise conv, 1x1 linear projection
    (BatchNorm after each, ReLU6 after the first two); the input added back where the
    shape stays."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.conv = nn.Sequential(
            nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU6(),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid), nn.ReLU6(),
            nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)


class MobileNetDigits(nn.Module):
    """A MobileNetV2-style network for scikit-learn's 8x8 digits: a 3x3 stem, three
    inverted-residual blocks (depthwise 3x3 convs, ReLU6, one stride 2, two residual adds),
    a 1x1 conv, a global average pool and a linear classifier."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(),
            _InvertedResidual(16, 16, 1, 3),
            _InvertedResidual(16, 24, 2, 3),
            _InvertedResidual(24, 24, 1, 3),
            nn.Conv2d(24, 64, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU6())
        self.classifier = nn.Linear(64, classes)

    def forward(self, x):
        x = self.features(x)
        return self.classifier(x.mean((2, 3)))


@dataclass
class Recipe:
    """How one shipped model is made."""

    build: object
    data: str  # "mnist" or "digits"
    epochs: int
    qat_epochs: int
    lr: float
    qat_lr: float
    batch_size: int
    n_val: int  # the last n_val training images validate
    shift: float  # augmentation: max translation, pixels
    rotate: float  # degrees
    zoom: float  # relative
    classes: tuple = tuple(datasets.MNIST_CLASSES)


RECIPES = {
    "lenet5_mnist": Recipe(
        lenet5, "mnist", epochs=40, qat_epochs=4, lr=3e-3, qat_lr=1e-4, batch_size=64, n_val=800,
        shift=2.5, rotate=12.0, zoom=0.1,
    ),
    "digits": Recipe(
        digits_cnn, "digits", epochs=60, qat_epochs=4, lr=3e-3, qat_lr=1e-4, batch_size=32, n_val=144,
        shift=0.7, rotate=8.0, zoom=0.05, classes=tuple(datasets.DIGITS_CLASSES),
    ),
    # graphs (residual adds, depthwise convs): post-training quantization only, since
    # rtlcnn.compile.qat takes chains of layers
    "resnet_mnist": Recipe(
        ResNetMnist, "mnist", epochs=30, qat_epochs=0, lr=3e-3, qat_lr=1e-4, batch_size=64, n_val=800,
        shift=2.5, rotate=12.0, zoom=0.1,
    ),
    "mobilenet_digits": Recipe(
        MobileNetDigits, "digits", epochs=60, qat_epochs=0, lr=3e-3, qat_lr=1e-4, batch_size=32, n_val=144,
        shift=0.7, rotate=8.0, zoom=0.05, classes=tuple(datasets.DIGITS_CLASSES),
    ),
}  # fmt: skip


def float_path(program_path) -> str:
    """Where the float weights of a program file live: ``x.rtlcnn.npz`` -> ``x.float.npz``."""
    p = os.fspath(program_path)
    return (p[: -len(".rtlcnn.npz")] if p.endswith(".rtlcnn.npz") else p) + ".float.npz"


def save_float(model: nn.Module, path) -> None:
    """Save a model's float state dict as a plain ``.npz`` (no pickle)."""
    arrays = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    with open(os.fspath(path), "wb") as fh:
        np.savez_compressed(fh, **arrays)


def load_float(name: str, path=None) -> nn.Module:
    """The float model ``name`` (a key of :data:`RECIPES`) with the weights saved by :func:`train`.

    Default ``path``: the shipped ``rtlcnn/models/<name>.float.npz``. The model is in eval mode.
    """
    from .. import models

    model = RECIPES[name].build()
    path = path if path is not None else float_path(models.path(name))
    with np.load(os.fspath(path), allow_pickle=False) as z:
        state = {k: torch.from_numpy(z[k]) for k in z.files}
    model.load_state_dict(state)
    return model.eval()


def _seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    # One thread: results depend on the thread count (summation order), and on a shared
    # machine a single thread is also the fastest for these small nets by far (OpenMP
    # threads spin at barriers while the other one waits for a core).
    torch.set_num_threads(1)
    return torch.Generator().manual_seed(seed)


def _augment(x: torch.Tensor, r: Recipe, gen: torch.Generator) -> torch.Tensor:
    """Random affine jitter (shift, rotation, zoom) of a batch, bilinear, zero fill."""
    n, _, h, w = x.shape
    u = torch.rand(n, 4, generator=gen) * 2 - 1
    ang = u[:, 0] * math.radians(r.rotate)
    zoom = 1 + u[:, 1] * r.zoom
    tx, ty = u[:, 2] * (2 * r.shift / w), u[:, 3] * (2 * r.shift / h)
    cos, sin = torch.cos(ang) / zoom, torch.sin(ang) / zoom
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _accuracy(fn, images: np.ndarray, labels: np.ndarray, batch: int = 1000) -> float:
    hits = 0
    for i in range(0, len(images), batch):
        out = fn(images[i : i + batch])
        hits += int((np.asarray(out).argmax(1) == labels[i : i + batch]).sum())
    return hits / len(images)


def _torch_fn(model: nn.Module):
    def fn(x):
        model.eval()
        with torch.no_grad():
            return model(torch.from_numpy(x)).numpy()

    return fn


def _fit(model, xs, ys, xv, yv, epochs, lr, r: Recipe, gen, desc: str):
    """Adam with a one-cycle schedule, augmented batches; shows progress with tqdm."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * math.ceil(len(xs) / r.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    xt, yt = torch.from_numpy(xs), torch.from_numpy(ys)
    bar = tqdm(range(epochs), desc=desc, unit="epoch", file=sys.stderr, dynamic_ncols=True)
    val = float("nan")
    for _ in bar:
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(perm), r.batch_size):
            idx = perm[i : i + r.batch_size]
            xb = _augment(xt[idx], r, gen)
            loss = F.cross_entropy(model(xb), yt[idx], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        val = _accuracy(_torch_fn(model), xv, yv)
        bar.set_postfix(loss=f"{total / len(xt):.4f}", val=f"{100 * val:.2f}%")
    return val


def train(name: str, *, epochs=None, qat_epochs=None, seed: int = 0, out=None, data_dir=None):
    """Train model ``name`` (a key of :data:`RECIPES`), write its program; return the Program."""
    r = RECIPES[name]
    epochs = r.epochs if epochs is None else int(epochs)
    qat_epochs = r.qat_epochs if qat_epochs is None else int(qat_epochs)
    t0 = time.time()
    gen = _seed_everything(seed)
    if r.data == "mnist":
        s = datasets.mnist_splits(data_dir)
        heldout_desc = "MNIST t10k images 8000-9999"
    else:
        s = datasets.load_digits()
        heldout_desc = "sklearn digits images 1437-1796"
    n_tr = len(s.train_images) - r.n_val
    xs, ys = s.train_images[:n_tr], s.train_labels[:n_tr]
    xv, yv = s.train_images[n_tr:], s.train_labels[n_tr:]
    xh, yh = s.heldout_images, s.heldout_labels
    print(f"{name}: {n_tr} training, {len(xv)} validation, {len(xh)} held-out images ({heldout_desc})")

    model = r.build()
    val_float = _fit(model, xs, ys, xv, yv, epochs, r.lr, r, gen, f"{name} float")
    model.eval()
    calib = xs  # calibration: the training images, never the held-out ones
    print(f"{name}: compiling with {len(calib)} calibration images (training images)")
    ptq = compiler.compile(model, calib, name=name)
    acc = {
        "float": _accuracy(_torch_fn(model), xh, yh),
        "int8_ptq": _accuracy(lambda x: reference.run(ptq, x), xh, yh),
    }
    val = {"float": val_float, "int8_ptq": _accuracy(lambda x: reference.run(ptq, x), xv, yv)}
    program = ptq
    if qat_epochs > 0:
        print(f"{name}: quantization-aware fine-tuning, {qat_epochs} epochs (validation = int8 accuracy)")
        qmodel = qat.prepare(model, calib)
        val["int8_qat"] = _fit(qmodel, xs, ys, xv, yv, qat_epochs, r.qat_lr, r, gen, f"{name} QAT")
        program = qat.convert(qmodel, name=name)
        acc["int8_qat"] = _accuracy(lambda x: reference.run(program, x), xh, yh)
    acc["int8"] = acc["int8_qat"] if qat_epochs > 0 else acc["int8_ptq"]

    cmd = f"python -m rtlcnn.train {name} --epochs {epochs} --qat-epochs {qat_epochs} --seed {seed}"
    program.meta = {
        "model": name,
        "dataset": r.data,
        "classes": list(r.classes),
        "input": "float32 (N, 1, H, W) = pixel / 255"
        if r.data == "mnist"
        else "float32 (N, 1, 8, 8) = value / 16",
        "heldout_accuracy": acc["int8"],
        "accuracy": acc,
        "validation_accuracy": val,
        "heldout": {"images": heldout_desc, "count": int(len(xh))},
        "train_images": int(n_tr),
        "validation_images": int(len(xv)),
        "calibration_images": int(len(calib)),
        "epochs": epochs,
        "qat_epochs": qat_epochs,
        "seed": seed,
        "command": cmd,
        "torch": torch.__version__,
        "compiler": program.meta.get("compiler", {}),
    }
    out = out or f"{name}.rtlcnn.npz"
    program.save(out)
    save_float(model, float_path(out))
    wall = time.time() - t0
    print(program.summary())
    print(
        f"{name}: held-out accuracy ({len(xh)} images): float {100 * acc['float']:.2f} %, "
        f"int8 PTQ {100 * acc['int8_ptq']:.2f} %"
        + (f", int8 QAT {100 * acc['int8_qat']:.2f} %" if qat_epochs > 0 else "")
        + f"; wrote {out} (float weights: {float_path(out)}) in {wall:.0f} s"
    )
    return program


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m rtlcnn.train",
        description="Train a shipped example model, report float and int8 held-out accuracy, "
        "write its program file.",
    )
    p.add_argument("model", choices=sorted(RECIPES))
    p.add_argument("--epochs", type=int, default=None, help="float training epochs (default: the recipe's)")
    p.add_argument("--qat-epochs", type=int, default=None, help="QAT fine-tuning epochs, 0 for none")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="program file to write (default: ./<model>.rtlcnn.npz)")
    p.add_argument(
        "--data", default=None, help="MNIST folder (default: $RTLCNN_MNIST_DIR or ../shared/data/mnist)"
    )
    a = p.parse_args(argv)
    try:
        train(a.model, epochs=a.epochs, qat_epochs=a.qat_epochs, seed=a.seed, out=a.out, data_dir=a.data)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
