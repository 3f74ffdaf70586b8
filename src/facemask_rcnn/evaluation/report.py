"""Evaluation artefacts a person looks at: PR curve, per-image table, worst-image gallery."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..fileio import atomic_write

PR_COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]


def plot_pr_curves(path: Path, curves: dict[str, list[float]], recall: list[float]) -> None:
    """Precision-recall at mask IoU 0.5, one line per class."""
    from matplotlib.figure import Figure  # no pyplot: never touches the caller's backend

    fig = Figure(figsize=(5, 4))
    ax = fig.subplots()
    for i, (name, precision) in enumerate(curves.items()):
        values = np.asarray(precision, dtype=float)
        values[values < 0] = np.nan
        ax.plot(recall, values, label=name, color=PR_COLOURS[i % len(PR_COLOURS)])
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title("mask precision-recall at IoU 0.5")
    if curves:
        ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))


def side_by_side(prediction: Image.Image, truth: Image.Image, title: str) -> Image.Image:
    """Prediction overlay on the left, ground truth on the right, a caption above."""
    width, height = prediction.size
    sheet = Image.new("RGB", (2 * width, height + 16), (255, 255, 255))
    sheet.paste(prediction, (0, 16))
    sheet.paste(truth, (width, 16))
    ImageDraw.Draw(sheet).text(
        (2, 2), f"{title}   [left: prediction | right: ground truth]", fill=(0, 0, 0)
    )
    return sheet
