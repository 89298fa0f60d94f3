"""``rtlcnn.compile``: a PyTorch CNN to an int8 :class:`rtlcnn.Program`.

Three steps, each usable on its own (and importable from here):

1. :func:`~rtlcnn.compile.lowering.lower`: torch.fx graph -> chain of float stages
   (BatchNorm folded, ReLU and pooling fused), :mod:`rtlcnn.compile.lowering`.
2. :func:`~rtlcnn.compile.quantize.calibrate`: the scale of the input and of every stage
   output from calibration images.
3. :func:`~rtlcnn.compile.quantize.quantize`: stages and scales to program ops,
   :mod:`rtlcnn.compile.quantize`.

:func:`compile` runs the three, or converts a quantization-aware-trained model
(:mod:`rtlcnn.compile.qat`). torch is imported inside the functions, so ``import rtlcnn``
works without it (on the board).
"""

from __future__ import annotations

import numpy as np

from ..core.errors import InputError
from ..core.program import Program, normalize_images
from .lowering import SUPPORTED, Lowered, Stage, float_forward, lower, lower_graph
from .quantize import (
    ACT_METHODS,
    as_numpy_images,
    calibrate,
    image_range,
    int32_output,
    layer_scales,
    quantize,
    quantize_stage,
    quantize_weights,
    requant_params,
    weight_scales,
    worst_case_accumulator,
)

__all__ = [
    "compile",
    "lower",
    "lower_graph",
    "Lowered",
    "calibrate",
    "quantize",
    "Stage",
    "float_forward",
    "weight_scales",
    "quantize_weights",
    "requant_params",
    "quantize_stage",
    "layer_scales",
    "int32_output",
    "worst_case_accumulator",
    "as_numpy_images",
    "SUPPORTED",
    "ACT_METHODS",
]


def compile(
    model,
    calibration=None,
    *,
    name: str = "",
    input_shape=None,
    activation: str = "max",
    percentile: float = 99.99,
    normalize=None,
) -> Program:
    """Compile a PyTorch CNN into an int8 :class:`rtlcnn.Program`.

    Parameters
    ----------
    model : torch.nn.Module
        Built from Conv2d, BatchNorm2d, ReLU, MaxPool2d(2), AvgPool2d(2), Flatten,
        Linear and Dropout, as an ``nn.Sequential`` or with a forward that ``torch.fx``
        can trace; or a model from :func:`rtlcnn.compile.qat.prepare` (then its own scales are
        used and ``calibration`` may be None).
    calibration : array-like or torch.Tensor, float (N, C, H, W)
        A few hundred to a few thousand training images (never the test images). They
        fix the activation scales.
    name : str
        The program's name.
    input_shape : tuple of int, optional
        (C, H, W); default ``calibration.shape[1:]``.
    activation : {"max", "percentile"}
        How activation scales are picked, see :func:`calibrate`.
    percentile : float
        The percentile for ``activation="percentile"``.
    normalize : (mean, std), optional
        The normalization the model's inputs get (one value each, or one per channel, as
        ``torchvision.transforms.Normalize``): ``calibration`` holds the images as they
        come (e.g. pixels / 255) and the program normalizes them while quantizing its
        input (:attr:`rtlcnn.Program.input_norm`), so ``predict`` and ``rtlcnn run`` take
        them as they come too.

    Returns
    -------
    Program
        Checked, with ``meta["compiler"]`` recording the calibration settings.

    Raises
    ------
    LayerNotSupported
        A layer the engine cannot run, named with its module path and type and the reason;
        or a layer whose int32 accumulator could overflow.
    """
    from . import qat  # needs torch at import; this module does not

    if isinstance(model, qat.QATModel):
        return qat.convert(model, name=name)
    if calibration is None:
        raise ValueError("compile needs calibration images (a float (N, C, H, W) batch of training images)")
    x = as_numpy_images(calibration)
    if input_shape is None:
        if x.ndim != 4:
            raise ValueError(f"calibration images must be (N, C, H, W), got shape {x.shape}")
        input_shape = x.shape[1:]
    input_shape = tuple(int(v) for v in input_shape)
    if x.shape[1:] != input_shape:
        raise ValueError(f"calibration images have shape {x.shape[1:]}, the model input is {input_shape}")
    lowered = lower_graph(model, input_shape)
    stages = lowered.stages
    norm = None
    if normalize is not None:
        norm = tuple(tuple(float(v) for v in np.ravel(np.asarray(a, np.float64))) for a in normalize)
        if lowered.input_norm is not None:
            raise InputError("normalize= was given, but the model's forward normalizes its input "
                             f"itself ((x - {lowered.input_norm[0]}) / {lowered.input_norm[1]}); give one "
                             "of the two")
    norm = norm if norm is not None else lowered.input_norm
    xn = x if norm is None else normalize_images(x, norm).astype(np.float32)  # what the model sees
    input_scale, scales = calibrate(stages, xn, activation=activation, percentile=percentile)
    meta = {
        "compiler": {
            "activation": activation,
            **({"percentile": percentile} if activation == "percentile" else {}),
            "calibration_images": int(len(x)),
            **({"normalize": [list(norm[0]), list(norm[1])]} if norm else {}),
            "source": [s for st in stages for s in st.sources],
        }
    }
    return quantize(stages, input_scale, scales, input_shape=input_shape, name=name, meta=meta,
                    input_range=image_range(x), input_norm=norm, output_fn=lowered.output_fn)
