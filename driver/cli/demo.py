"""``rtlcnn demo``: classify held-out images with each shipped model on the board (or the
mock board), check every output against rtlcnn.reference, print accuracy and engine speed,
draw the pictures."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any, Dict

import numpy as np

from ..core.resources import project_root
from .common import (
    CliError,
    Formatter,
    board_options,
    class_names,
    measured_over,
    open_session,
    run_batches,
    say,
)
from .plots import mpl, save_prediction_grid, save_profile_chart

__all__ = ["add_parser", "run", "DEFAULT_DEMO_IMAGES", "DEFAULT_OUT"]

DEFAULT_DEMO_IMAGES = 32
DEFAULT_OUT = "rtlcnn-demo-out"

DEMO_EPILOG = """\
examples:
  rtlcnn demo                          the shipped models, 32 images each, PNGs in ./rtlcnn-demo-out/
  rtlcnn demo --images 8 --out /tmp/d  a quick run
  rtlcnn demo --model digits --sim icarus
  rtlcnn demo --board reference        numpy only (no simulator), to see the flow

The demo runs each model on held-out images (digits, mobilenet_digits: scikit-learn's,
shipped with it; lenet5_mnist, resnet_mnist: MNIST t10k 8000-9999 from
../shared/data/mnist or $RTLCNN_MNIST_DIR, skipped when absent), checks every output
equals rtlcnn.reference bit for bit, and prints accuracy, engine cycles per image and
projected images/s at the overlay clock. It writes <model>_predictions.png and
<model>_profile.png into the output folder.
"""


#: the shipped models the demo runs by default, in this order (MNIST ones when MNIST is there)
DEMO_MODELS = ("digits", "lenet5_mnist", "mobilenet_digits", "resnet_mnist")


def _dataset(name: str) -> str:
    """"digits" or "mnist": the data the shipped model ``name`` was trained on."""
    from .. import models

    return _dataset_of(models.load(name))


def _dataset_of(program) -> str:
    """"digits" or "mnist", as the program's meta says (by its name where it does not)."""
    return str(program.meta.get("dataset") or ("mnist" if str(program.name).endswith("mnist") else "digits"))


def _demo_data(name: str, dataset: str | None = None):
    """(images, labels, description) of the held-out sample set for a shipped model
    (``dataset``: its :func:`_dataset`, read from the program file if not given)."""
    from ..compile import datasets

    dataset = dataset or _dataset(name)
    if dataset == "digits":
        try:
            s = datasets.load_digits()
            return s.heldout_images, s.heldout_labels, "scikit-learn digits, held-out images"
        except ImportError:  # a board image without scikit-learn: the copy beside the notebook
            images, labels = _digits_heldout_copy()
            return images, labels, "scikit-learn digits, held-out images (the copy beside the notebook)"
    if dataset == "mnist":
        try:
            s = datasets.mnist_splits(train_split=False)
        except FileNotFoundError as e:
            raise CliError(f"{e}", code=2) from e
        return s.heldout_images, s.heldout_labels, "MNIST t10k held-out images 8000-9999"
    raise CliError(f"no sample images for model {name!r}; the demo knows the digits and MNIST models")


def _digits_heldout_copy():
    """The digits held-out images shipped beside the notebook (notebooks/digits_heldout.npz)."""
    folders = [project_root() / "notebooks"]
    try:
        spec = importlib.util.find_spec("rtlcnn.notebooks")
        folders[:0] = [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    except ImportError:
        pass
    for folder in folders:
        f = folder / "digits_heldout.npz"
        if f.is_file():
            with np.load(f, allow_pickle=False) as z:
                return z["images"][:, None].astype(np.float32) / np.float32(16), z["labels"].astype(np.int64)
    raise CliError("the digits sample images need scikit-learn (pip install scikit-learn) or "
                   "digits_heldout.npz from the rtlcnn notebooks")


def _mnist_available() -> bool:
    from ..compile import datasets

    d = datasets.mnist_dir()
    return any((d / f).is_file() for f in ("t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte"))


def _mismatch_text(got: np.ndarray, want: np.ndarray) -> str:
    """Which images differ from the reference, and the first one's values side by side."""
    if got.shape != want.shape:
        return (f"the accelerator returned shape {got.shape} ({got.dtype}), "
                f"the reference {want.shape} ({want.dtype})")
    diff = (got.reshape(len(got), -1) != want.reshape(len(want), -1))
    bad = np.flatnonzero(diff.any(axis=1))
    i = int(bad[0])
    k = np.flatnonzero(diff[i])
    more = " ..." if len(bad) > 10 else ""
    return (f"{len(bad)} of {len(got)} images differ (indices {bad[:10].tolist()}{more});"
            f" image {i} differs in {len(k)} of {diff.shape[1]} values\n"
            f"accelerator: {got.reshape(len(got), -1)[i][:10].tolist()}\n"
            f"reference:   {want.reshape(len(want), -1)[i][:10].tolist()}")


def run(args) -> int:
    from .. import models

    out = Path(args.out)
    available = models.available()
    have_mnist = _mnist_available()
    data_of = {n: _dataset(n) for n in DEMO_MODELS if n in available}  # each file read once
    names = args.model or [n for n, d in data_of.items() if have_mnist or d != "mnist"]
    for n in names:
        if n not in available:
            raise CliError(f"unknown model {n!r}; available: {', '.join(available) or 'none'}")
    if not names:
        raise CliError("no shipped model to run (rtlcnn.models has none): reinstall rtlcnn", code=1)
    if args.images < 1:
        raise CliError("--images must be at least 1")
    if args.batch < 1:
        raise CliError("--batch must be at least 1")
    skipped_mnist = [] if args.model or have_mnist else [n for n, d in data_of.items() if d == "mnist"]
    out.mkdir(parents=True, exist_ok=True)
    quiet = args.quiet
    failures = 0
    results: Dict[str, Any] = {"board": None, "models": {}}
    with open_session(args.board, args.sim, args.bitfile, quiet=quiet, verbose=args.debug) as board:
        say(f"board: {board.description}")
        build = board.build()
        clock = board.clock_mhz() if board.kind != "reference" else None
        if build:
            say("engine build parameters (read from the hardware): "
                + ", ".join(f"{k}={v}" for k, v in build.items()))
        if skipped_mnist:
            from ..compile import datasets

            say(f"({', '.join(skipped_mnist)} skipped: no MNIST t10k files in {datasets.mnist_dir()}; "
                "set RTLCNN_MNIST_DIR to a folder with the standard IDX files to add it)")
        for name in names:
            program = models.load(name)
            images_all, labels_all, what = _demo_data(name, _dataset_of(program))
            n = min(args.images, len(images_all))
            images, truth = images_all[:n], labels_all[:n]
            c, h, w = program.input_shape
            say(f"\n{name}: {program.macs():,} MACs/image, {len(program.ops)} layers; "
                f"{n} {what} ({h}x{w})")
            net = board.load(program)
            raw, rows, seconds = run_batches(net, images, args.batch, f"  classifying on {board.kind}",
                                             quiet)
            from ..core import reference

            want = reference.run_int(program, images)
            equal = bool(raw.shape == want.shape and np.array_equal(raw, want))
            if equal and board.kind == "reference":
                say("  outputs equal rtlcnn.reference bit for bit: n/a (the reference board is "
                    "rtlcnn.reference itself)")
            elif equal:
                say(f"  outputs equal rtlcnn.reference bit for bit: yes ({n} images x "
                    f"{int(np.prod(want.shape[1:]))} {want.dtype} values)")
            else:
                failures += 1
                say("  outputs equal rtlcnn.reference bit for bit: NO")
                say("    " + _mismatch_text(raw, want).replace("\n", "\n    "))
            logits = program.dequantize_output(raw)
            pred = logits.reshape(len(logits), -1).argmax(axis=1)
            correct = int((pred == truth).sum())
            extra = ""
            ref_acc = program.meta.get("heldout_accuracy")
            if isinstance(ref_acc, (int, float)):
                float_acc = (program.meta.get("accuracy") or {}).get("float")
                extra = (f" (recorded for all {len(images_all)} held-out images: int8 {ref_acc:.1%}"
                         + (f", float model {float_acc:.1%})" if isinstance(float_acc, float) else ")"))
            say(f"  accuracy: {correct}/{n} = {correct / n:.1%}{extra}")
            cyc = sum(r["cycles"] for r in rows) / n if rows else None
            batch = min(args.batch, n)
            if cyc:
                say(f"  engine: {cyc:,.0f} cycles/image ({measured_over(n, batch)}) -> "
                    f"{clock * 1e6 / cyc:,.0f} images/s projected "
                    f"at {clock:g} MHz (engine time; driver and DMA set-up not counted)")
            if quiet:  # otherwise the progress line or bar has shown the wall time
                say(f"  wall time here: {seconds:.2f} s for {n} images ({board.kind})")
            names_out = class_names(program, int(np.prod(program.output_shape)))
            grid = save_prediction_grid(out / f"{name}_predictions.png", images, pred, truth, names_out,
                                        title=f"{name} on {board.kind}: {correct}/{n} correct "
                                              "(predicted label; \u2717 red: wrong, with the true label)")
            chart = save_profile_chart(out / f"{name}_profile.png", rows, images=n, batch=batch,
                                       title=f"{name}: per-layer profile ({board.kind})")
            wrote = [str(p) for p in (grid, chart) if p is not None]
            if wrote:
                say("  wrote " + ", ".join(wrote))
            elif mpl() is None:
                say("  (no PNG written: matplotlib is not installed)")
            results["board"] = {"kind": board.kind, "description": board.description, "clock_mhz": clock,
                                "build": build}
            results["models"][name] = {
                "images": n, "correct": correct,
                "bit_exact": None if equal and board.kind == "reference" else equal,  # None: n/a
                "batch": batch, "cycles_per_image": cyc,
                "images_per_s_projected": clock * 1e6 / cyc if cyc else None,
                "wall_s": seconds, "profile": rows,
            }
    (out / "results.json").write_text(json.dumps(results, indent=1, default=_json_default) + "\n")
    if failures:
        raise CliError(f"{failures} model(s) did not match rtlcnn.reference bit for bit; "
                       "rerun with --debug and report it", code=1)
    checked = ("" if board.kind == "reference" else
               ", every output equal to rtlcnn.reference")
    say(f"\ndone: {len(names)} model(s) on the {board.kind} board{checked}; "
        f"pictures and results.json in {out}/")
    return 0


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def add_parser(sub, common) -> None:
    d = sub.add_parser("demo", parents=[common, board_options()], formatter_class=Formatter,
                       epilog=DEMO_EPILOG,
                       help="classify sample digits on the (mock) board and check them",
                       description="Classify sample digits on the board or the mock board, check the "
                                   "outputs against rtlcnn.reference and write PNGs.")
    d.add_argument("--model", action="append", metavar="NAME",
                   help="a shipped model (repeatable). Default: digits and mobilenet_digits, and "
                        "lenet5_mnist and resnet_mnist when MNIST is there")
    d.add_argument("--images", type=int, default=DEFAULT_DEMO_IMAGES, metavar="N",
                   help=f"held-out images per model. Default: {DEFAULT_DEMO_IMAGES}")
    d.add_argument("--batch", type=int, default=8, metavar="B",
                   help="images per accelerator call. Default: 8")
    d.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"folder for the PNG files. Default: ./{DEFAULT_OUT}/")
    d.set_defaults(func=run)
