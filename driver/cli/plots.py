"""The demo's pictures: the prediction grid and the per-layer profile chart (matplotlib, if installed)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from .common import measured_over

__all__ = ["mpl", "prediction_titles", "save_prediction_grid", "save_profile_chart", "WRONG_MARK",
           "RIGHT_MARK"]


def mpl():
    """matplotlib.pyplot with the Agg backend (unless one is chosen already), or None."""
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
    plt = mpl()
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


def save_profile_chart(path, rows, title="", images: Optional[int] = None,
                       batch: Optional[int] = None) -> Optional[Path]:
    """A PNG bar chart of cycles and MAC utilization per layer; None without matplotlib.

    ``rows`` are summed over ``images`` images (run in batches of ``batch``); given ``images``,
    the chart shows engine cycles per image, the same measure as the demo's summary line.
    """
    plt = mpl()
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
        ax1.set_xlabel(measured_over(images, batch), fontsize=8)
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
