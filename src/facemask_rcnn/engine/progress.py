"""Where a run stands: its progress through the schedule, and a stage's share of a time budget."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from . import distributed as dist


@dataclass
class Progress:
    """Where a run stands; saved in every checkpoint so that ``resume`` continues exactly."""

    metrics: list[dict[str, Any]] = field(default_factory=list)
    best: float | None = None
    best_epoch: int | None = None
    since_best: int = 0
    stage: int = 0  # index of the stage in progress
    stage_epoch: int = 0  # its epochs done
    stage_done: bool = False  # ended early (patience, time budget): resume starts the next

    def record(self, row: dict[str, Any], metric: str) -> bool:
        """Add an epoch's row; True when it improves ``metric`` (val_loss: lower is better,
        val_ap50: higher). An epoch that did not compute the metric neither improves it nor
        counts towards patience."""
        self.metrics.append(row)
        value = row.get(metric)
        if value is None:
            return False
        if self.best is None or (value > self.best if metric == "val_ap50" else value < self.best):
            self.best, self.best_epoch, self.since_best = value, row["epoch"], 0
            return True
        self.since_best += 1
        return False


@dataclass
class StageClock:
    """A stage's share of a time budget: training stops one validation's length before ``end``.

    Every rank reads its own clock, and :meth:`sync` agrees on the largest share, so that all
    ranks anneal the learning rate alike and stop at the same step (none waits alone).
    """

    end: float
    validation_seconds: float = 0.0
    start: float = field(default_factory=time.perf_counter)
    agreed: float = 0.0

    def deadline(self) -> float:
        return self.end - self.validation_seconds

    def sync(self) -> float:
        """Share of the stage's training time spent (1 or more: time is up), agreed by ranks."""
        own = (time.perf_counter() - self.start) / max(1e-6, self.deadline() - self.start)
        self.agreed = dist.maximum(own)
        return self.agreed

    def share(self) -> float:
        """The last agreed share: lets the learning rate anneal by the deadline, so a cut stage
        does not stop at a high rate on one noisy point of its path."""
        return self.agreed
