"""``rtlcnn compile``: quantize a PyTorch model (MODEL.py or a .pt file) into a program file.
Needs torch (imported when the command runs)."""

from __future__ import annotations

import importlib
import runpy
import sys
import warnings
from pathlib import Path

import numpy as np

from ..board.images import read_png
from .common import CliError, Formatter, say

__all__ = ["add_parser", "run"]

COMPILE_EPILOG = """\
examples:
  rtlcnn compile mynet.py --calib digits -o mynet.rtlcnn.npz
  rtlcnn compile mynet.py --calib calib.npy --labels cat,dog -o pets.rtlcnn.npz
  rtlcnn compile mynet.pt --calib my_pngs/ -o mynet.rtlcnn.npz

A MODEL.py for a model trained elsewhere:
    import torch
    from mynet import Net                        # your nn.Module class
    model = Net()
    model.load_state_dict(torch.load("mynet_weights.pth"))

MODEL is a Python file that defines `model` (a torch.nn.Module with trained weights)
or `build_model()` returning one, or a .pt file saved with torch.save(model, path)
(a pickle: it runs code when loaded, so only compile files you trust). TorchScript
files and bare state_dicts are not accepted: write a MODEL.py that loads them.
CALIB is 'digits' or 'mnist' (their training images), an .npy array (N, C, H, W)
float (real inputs) or uint8 (/255), or a folder of PNG images (/255).
Needs torch (pip install 'rtlcnn[train]').
"""


def _load_model(path: str):
    p = Path(path)
    if not p.is_file():
        raise CliError(f"model file {path} does not exist")
    if p.suffix == ".py":
        folder = str(p.resolve().parent)
        sys.path.insert(0, folder)  # as `python MODEL.py` would: its neighbours are importable
        try:
            ns = runpy.run_path(str(p), run_name="__rtlcnn_model__")
        except Exception as e:
            raise CliError(f"{path} raised {type(e).__name__}: {e} (rerun with --debug for the traceback)",
                           code=1) from e
        finally:
            if sys.path and sys.path[0] == folder:
                del sys.path[0]
        if "model" in ns:
            model = ns["model"]
        elif callable(ns.get("build_model")):
            model = ns["build_model"]()
        else:
            raise CliError(f"{path} defines neither `model` nor `build_model()`: add e.g. "
                           "`model = MyNet()` (with its trained weights loaded)")
    elif p.suffix in (".pt", ".pth"):
        try:
            import torch
        except ImportError as e:
            raise CliError("reading .pt files needs torch: pip install 'rtlcnn[train]'") from e
        try:
            # A full module is a pickle and runs code while loading, as a MODEL.py does:
            # only compile files you trust.
            # torch warns about a TorchScript archive before rtlcnn can say one line about it
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*TorchScript.*", category=UserWarning)
                model = torch.load(str(p), map_location="cpu", weights_only=False)
        except Exception as e:
            raise CliError(f"{path}: torch.load failed ({type(e).__name__}: {e})") from e
        if isinstance(model, dict):
            raise CliError(f"{path} holds a state_dict, not a model: write a MODEL.py that builds the "
                           "model and loads it (model = Net(); model.load_state_dict(torch.load(...)))")
        if type(model).__name__ in ("RecursiveScriptModule", "ScriptModule"):
            raise CliError(f"{path} is a TorchScript module, which rtlcnn does not compile; save the "
                           "Python module instead (torch.save(model, ...)) or write a MODEL.py")
    else:
        raise CliError(f"{path}: give a MODEL.py (defining `model` or `build_model()`) or a .pt file "
                       "saved with torch.save(model, path)")
    try:
        import torch
    except ImportError as e:
        raise CliError("compiling needs torch: pip install 'rtlcnn[train]'") from e
    if not isinstance(model, torch.nn.Module):
        raise CliError(f"{path}: `model` is a {type(model).__name__}, not a torch.nn.Module")
    return model.eval()


def _first_layer_channels(model) -> int:
    import torch

    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            return int(m.in_channels)
        if isinstance(m, torch.nn.Linear):
            return 1
    return 1


def _read_calibration(spec: str, model, count: int):
    """(calibration images float32 (N, C, H, W), held-out (images, labels) or None, description)."""
    from ..compile import datasets

    if spec == "digits":
        s = datasets.load_digits()
        return _spread(s.train_images, count), (s.heldout_images, s.heldout_labels), "digits training images"
    if spec == "mnist":
        try:
            s = datasets.mnist_splits(train_split=False)
        except FileNotFoundError as e:
            raise CliError(str(e)) from e
        return _spread(s.train_images, count), (s.heldout_images, s.heldout_labels), "MNIST t10k 0-7999"
    p = Path(spec)
    if not p.exists():
        raise CliError(f"calibration {spec} does not exist: give an .npy array, a folder of PNG "
                       "images, or 'digits' / 'mnist'")
    channels = _first_layer_channels(model)
    if p.is_dir():
        files = sorted(p.glob("*.png"))
        if not files:
            raise CliError(f"calibration folder {p} has no *.png images")
        arrays = [read_png(f, channels) for f in files[:count]]  # scaled by their bit depth
        arrays = [a[None, None] if a.ndim == 2 else a.transpose(2, 0, 1)[None] for a in arrays]
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise CliError(f"calibration images in {p} differ in size ({sorted(shapes)}); make them equal")
        x = np.concatenate(arrays).astype(np.float32)
        return x, None, f"{len(files[:count])} PNG images from {p}"
    if p.suffix != ".npy":
        raise CliError(f"calibration {spec}: give an .npy array, a folder of PNG images, "
                       "or 'digits' / 'mnist'")
    try:
        a = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise CliError(f"{p}: not a readable .npy array ({e})") from e
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / np.float32(255.0)
    if not np.issubdtype(a.dtype, np.floating):
        raise CliError(f"{p}: calibration arrays must be float (real inputs) or uint8 (/255), got {a.dtype}")
    if a.ndim == 3 and channels == 1:
        a = a[:, None]
    if a.ndim != 4:
        raise CliError(f"{p}: calibration array has shape {a.shape}; expected (N, C, H, W)")
    return _spread(a.astype(np.float32), count), None, f"{min(count, len(a))} images from {p}"


def _spread(x: np.ndarray, count: int) -> np.ndarray:
    if len(x) <= count:
        return x
    idx = np.linspace(0, len(x) - 1, count).round().astype(int)
    return x[idx]


def _normalization(text):
    """``"0.1307/0.3081"`` or ``"m1,m2,m3/s1,s2,s3"`` -> (means, stds); None for None."""
    if text is None:
        return None
    try:
        mean, std = text.split("/")
        norm = tuple(float(v) for v in mean.split(",")), tuple(float(v) for v in std.split(","))
    except ValueError as e:
        raise CliError(f"--normalize {text!r}: give MEAN/STD, e.g. 0.1307/0.3081 or "
                       "0.485,0.456,0.406/0.229,0.224,0.225") from e
    if not all(s > 0 for s in norm[1]):
        raise CliError(f"--normalize {text!r}: the standard deviations must be positive")
    return norm


def run(args) -> int:
    if args.calib_count < 1:
        raise CliError(f"--calib-count must be at least 1, got {args.calib_count}")
    model = _load_model(args.model)
    calib, heldout, what = _read_calibration(args.calib, model, args.calib_count)
    out = args.output or (Path(args.model).stem + ".rtlcnn.npz")
    if not str(out).endswith(".npz"):
        raise CliError(f"output {out}: program files end in .rtlcnn.npz")
    say(f"compiling {args.model} with {len(calib)} calibration images ({what}, shape {calib.shape[1:]})...")
    try:
        compile_fn = importlib.import_module("rtlcnn.compile.compiler").compile
    except (ImportError, AttributeError) as e:
        raise CliError(f"the compiler is not available ({e}); pip install 'rtlcnn[train]'", code=1) from e
    program = compile_fn(model, calib, normalize=_normalization(args.normalize))
    program.name = args.name or program.name or Path(args.model).stem
    if args.labels:
        labels = [s.strip() for s in args.labels.split(",")]
        n_out = int(np.prod(program.output_shape))
        if len(labels) != n_out:
            raise CliError(f"--labels gives {len(labels)} names but the model has {n_out} outputs")
        program.meta["labels"] = labels
    program.save(out)
    say(program.summary())
    say(f"{program.macs():,} MACs per image")
    _agreement(model, program, calib, heldout)
    say(f"wrote {out} ({Path(out).stat().st_size:,} bytes)")
    return 0


def _agreement(model, program, calib, heldout) -> None:
    """How often the int8 program's top-1 equals the float model's (and held-out accuracy)."""
    import torch

    from ..core import reference

    x = calib[:512]
    with torch.no_grad():
        f = model(torch.from_numpy(np.ascontiguousarray(x))).numpy()
    q = reference.run(program, x)
    agree = float((f.argmax(1) == q.argmax(1)).mean())
    say(f"int8 program and float model agree on top-1 for {agree:.1%} of {len(x)} calibration images")
    if heldout is not None:
        hx, hy = heldout
        acc = float((reference.run(program, hx).argmax(1) == hy).mean())
        with torch.no_grad():
            facc = float((model(torch.from_numpy(hx)).numpy().argmax(1) == hy).mean())
        say(f"held-out accuracy ({len(hy)} images): int8 program {acc:.2%}, float model {facc:.2%}")


def add_parser(sub, common) -> None:
    c = sub.add_parser("compile", parents=[common], formatter_class=Formatter, epilog=COMPILE_EPILOG,
                       help="quantize a PyTorch model into a program file (*.rtlcnn.npz)",
                       description="Quantize a PyTorch model into an int8 program file.")
    c.add_argument("model", metavar="MODEL", help="MODEL.py (defines `model` or `build_model()`) or MODEL.pt")
    c.add_argument("--calib", required=True, metavar="CALIB",
                   help="calibration images: digits, mnist, an .npy array or a folder of PNGs")
    c.add_argument("--calib-count", type=int, default=256, metavar="N",
                   help="calibration images used (spread over the set). Default: 256")
    c.add_argument("-o", "--output", metavar="FILE", help="program file to write. Default: MODEL.rtlcnn.npz")
    c.add_argument("--normalize", metavar="MEAN/STD",
                   help="the normalization the model's inputs get, one value or one per channel, e.g. "
                        "0.1307/0.3081 or 0.485,0.456,0.406/0.229,0.224,0.225: the program applies it, "
                        "so images are given as they come (pixels / 255)")
    c.add_argument("--name", help="program name stored in the file")
    c.add_argument("--labels", metavar="A,B,...", help="class names stored in the program (comma separated)")
    c.set_defaults(func=run)
