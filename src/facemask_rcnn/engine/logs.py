"""Training logs: metrics.csv (one row per epoch), loss.png, and TensorBoard when installed."""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

from ..fileio import atomic_write, write_csv

log = logging.getLogger(__name__)


def write_metrics(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rewrite metrics.csv from all rows (columns = union of keys, first-seen order)."""
    write_csv(path, rows)


def read_metrics(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def plot_losses(path: Path, rows: list[dict[str, Any]]) -> None:
    """Train and validation loss per epoch, stage boundaries marked."""
    from matplotlib.figure import Figure  # no pyplot: never touches the caller's backend

    epochs = [int(r["epoch"]) for r in rows]
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.plot(epochs, [float(r["loss"]) for r in rows], marker="o", label="train loss")
    val = [
        (e, float(r["val_loss"]))
        for e, r in zip(epochs, rows, strict=True)
        if r.get("val_loss") not in (None, "")
    ]
    if val:
        ax.plot(*zip(*val, strict=True), marker="s", label="val loss")
    for prev, row in zip(rows, rows[1:], strict=False):
        if row["stage"] != prev["stage"]:
            ax.axvline(int(row["epoch"]) - 0.5, color="grey", linestyle="--")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))


class TensorBoard:
    """Writes scalars when ``tensorboard`` is installed; silently does nothing otherwise."""

    def __init__(self, folder: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self.writer = None
            log.debug("tensorboard not installed: no event files")
        else:
            self.writer = SummaryWriter(str(folder))

    def add(self, row: dict[str, Any]) -> None:
        if self.writer is None:
            return
        for key, value in row.items():
            if isinstance(value, int | float) and key != "epoch":
                self.writer.add_scalar(key, value, int(row["epoch"]))
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
