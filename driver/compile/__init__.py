"""rtlcnn.compile: PyTorch model -> int8 program. Needs torch (the ``train`` extra).

``rtlcnn.compile(model, calibration_images)`` is this package, called: it lowers the model,
calibrates and quantizes it (:func:`rtlcnn.compile.compiler.compile`). Importing the
package needs no torch (:mod:`~rtlcnn.compile.datasets` runs on a board); calling it does.

- :mod:`~rtlcnn.compile.lowering` (+ ``lowering_ops``): torch.fx graph -> float graph of stages
  (:mod:`~rtlcnn.compile.stages`: the Stage and its float forward).
- :mod:`~rtlcnn.compile.quantize`: calibration and quantization of stages (numpy).
- :mod:`~rtlcnn.compile.compiler`: ``compile()``, the whole flow.
- :mod:`~rtlcnn.compile.qat`: quantization-aware training.
- :mod:`~rtlcnn.compile.train`: the reproducible training of the shipped models.
- :mod:`~rtlcnn.compile.datasets`: MNIST and scikit-learn digits (numpy only).
"""

from __future__ import annotations

import sys
import types


class _CallableModule(types.ModuleType):
    """``rtlcnn.compile`` is both this package and the function ``compile``."""

    def __call__(self, *args, **kwargs):
        from .compiler import compile as _compile

        return _compile(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
