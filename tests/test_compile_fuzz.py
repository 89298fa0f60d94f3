"""Whatever model a user brings, ``rtlcnn.compile`` either returns a program the reference runs
or raises ``LayerNotSupported`` / ``InputError`` with a message: never a raw TypeError, KeyError
or torch error. Seeded random models from a vocabulary of supported, unsupported and
mis-sized layers, as chains and with residual adds and concatenations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

import rtlcnn
from rtlcnn import reference
from rtlcnn.core.errors import InputError, LayerNotSupported

CASES = 160


def _layer(rng, c):
    """A random layer for a map of ``c`` channels: (module, channels after it)."""
    k = int(rng.choice([1, 2, 3, 5]))
    r = rng.random()
    if r < 0.35:
        o = int(rng.choice([2, 4, 6]))
        groups = int(rng.choice([1, 1, 2, c])) if c % 2 == 0 else 1
        groups = groups if o % groups == 0 else 1
        return nn.Conv2d(c, o, k, stride=int(rng.choice([1, 2, 3])), padding=int(rng.integers(0, k)),
                         groups=groups, bias=bool(rng.integers(0, 2))), o
    if r > 0.95:  # a layer that does not fit the map: the model itself fails (skipped)
        return [(nn.Conv2d(c + 1, 2, 1), 2), (nn.BatchNorm2d(c + 1), c + 1)][int(rng.integers(0, 2))]
    options = [
        (nn.BatchNorm2d(c), c), (nn.ReLU(), c), (nn.ReLU6(), c), (nn.Hardtanh(-1.0, 2.0), c),
        (nn.MaxPool2d(int(rng.choice([2, 3])), 2, ceil_mode=bool(rng.integers(0, 2))), c),
        (nn.AvgPool2d(2, padding=int(rng.integers(0, 2))), c), (nn.Dropout(0.1), c), (nn.Identity(), c),
        (nn.SiLU(), c), (nn.Upsample(scale_factor=2), c), (nn.Conv2d(c, 2, (1, 3)), 2),
        (nn.AdaptiveAvgPool2d(int(rng.choice([1, 2, 3]))), c),
        (nn.Conv2d(c, 4, 3, padding=1, dilation=1 + int(rng.integers(0, 2))), 4),
        (nn.LeakyReLU(), c), (nn.GELU(), c), (nn.ReLU(), c), (nn.BatchNorm2d(c), c),
    ]
    return options[int(rng.integers(0, len(options)))]


class _Residual(nn.Module):
    def __init__(self, body, mode):
        super().__init__()
        self.body, self.mode = body, mode

    def forward(self, x):
        y = self.body(x)
        return x + y if self.mode == "add" else torch.cat([x, y], 1)


def _model(seed):
    rng = np.random.default_rng(seed)
    c = int(rng.choice([1, 2, 3]))
    layers = []
    for _ in range(int(rng.integers(1, 6))):
        if rng.random() < 0.2:
            body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU())
            mode = "add" if rng.random() < 0.5 else "cat"
            layers.append(_Residual(body, mode))
            c = c if mode == "add" else 2 * c
            continue
        m, c = _layer(rng, c)
        layers.append(m)
    tail = int(rng.integers(0, 4))
    if tail:
        layers.append(nn.Flatten())
        layers.append(nn.LazyLinear(int(rng.choice([3, 5]))))
    if tail == 3:
        layers.append(nn.LogSoftmax(1))
    return nn.Sequential(*layers), (c if not layers else None), rng


@pytest.mark.parametrize("chunk", range(4))
def test_random_models_compile_or_are_refused_with_a_message(chunk):
    compiled = refused = 0
    for seed in range(chunk * CASES // 4, (chunk + 1) * CASES // 4):
        torch.manual_seed(seed)
        model, _, rng = _model(seed)
        shape = (int(model[0].in_channels) if isinstance(model[0], nn.Conv2d) else int(rng.choice([1, 2, 3])),
                 int(rng.choice([8, 13, 16])), int(rng.choice([8, 16])))
        x = np.random.default_rng(seed).random((6,) + shape, dtype=np.float32)
        try:
            with torch.no_grad():
                model.eval()(torch.from_numpy(x))  # the model itself must work (else skip it)
        except Exception:
            continue
        try:
            prog = rtlcnn.compile(model, x)
        except (LayerNotSupported, InputError) as e:
            assert str(e) and len(str(e)) > 20, repr(e)
            refused += 1
            continue
        out = reference.run(prog, x)
        assert np.all(np.isfinite(out)) and len(out) == 6
        compiled += 1
    assert compiled >= 3 and compiled + refused >= CASES // 16  # enough models ran at all
