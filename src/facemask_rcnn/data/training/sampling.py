"""Repeat-factor sampling (LVIS, Gupta et al. 2019): images of rare classes come more often.

A class seen in a share ``f`` of the training images below ``threshold`` has the repeat factor
``sqrt(threshold / f)``; an image takes the largest factor among its classes (at least 1). Each
epoch an image appears ``floor(r)`` times, once more with probability ``r - floor(r)``. In a
faces dataset most images show masked faces, few a bare or incorrectly worn one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

from ..records import ImageRecord


def repeat_factors(records: list[ImageRecord], threshold: float) -> list[float]:
    """Each record's repeat factor (1.0 for all when ``threshold`` is 0)."""
    labels = [{inst.label for inst in record.instances} for record in records]
    counts: dict[str, int] = {}
    for present in labels:
        for label in present:
            counts[label] = counts.get(label, 0) + 1
    share = {label: count / max(1, len(records)) for label, count in counts.items()}
    per_class = {
        c: max(1.0, math.sqrt(threshold / f)) if threshold else 1.0 for c, f in share.items()
    }
    return [max((per_class[c] for c in present), default=1.0) for present in labels]


class RepeatFactorSampler(Sampler[int]):
    """Indices of one epoch, rare-class images repeated, shuffled; with ``world`` > 1, the
    share of rank ``rank`` (every rank draws the same list from ``seed`` and ``epoch``)."""

    def __init__(
        self, factors: list[float], seed: int, epoch: int = 0, rank: int = 0, world: int = 1
    ) -> None:
        self.factors = torch.tensor(factors, dtype=torch.float64)
        self.seed, self.epoch, self.rank, self.world = seed, epoch, rank, world

    def indices(self) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        whole = self.factors.floor()
        extra = torch.rand(len(self.factors), generator=generator, dtype=torch.float64)
        repeats = (whole + (extra < self.factors - whole)).long()
        chosen = torch.repeat_interleave(torch.arange(len(self.factors)), repeats)
        chosen = chosen[torch.randperm(len(chosen), generator=generator)].tolist()
        padded = chosen + chosen[: (-len(chosen)) % self.world]  # equal shares per rank
        return padded[self.rank :: self.world]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices())

    def __len__(self) -> int:
        return len(self.indices())
