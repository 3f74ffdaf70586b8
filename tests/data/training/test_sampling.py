"""Repeat-factor sampling: rare-class images come more often, reproducibly, split across ranks."""

import math
from collections import Counter
from pathlib import Path

import pytest

from facemask_rcnn.data.records import ImageRecord, Instance
from facemask_rcnn.data.training.sampling import RepeatFactorSampler, repeat_factors


def _record(*labels: str) -> ImageRecord:
    return ImageRecord(Path("x.jpg"), 10, 10, [Instance(lab, bbox=(1, 1, 5, 5)) for lab in labels])


def test_repeat_factor_is_the_square_root_of_threshold_over_class_share():
    records = [_record("masked"), _record("masked"), _record("masked", "bare"), _record()]
    assert repeat_factors(records, 0.5) == pytest.approx([1.0, 1.0, math.sqrt(0.5 / 0.25), 1.0])
    assert repeat_factors(records, 0.0) == [1.0] * 4
    # a class as common as the threshold, or more, is never repeated
    assert repeat_factors(records, 0.25) == [1.0] * 4


def test_an_epoch_repeats_each_image_its_factor_on_average_and_is_reproducible():
    sampler = RepeatFactorSampler([1.0, 2.5], seed=3, epoch=0)
    assert sampler.indices() == RepeatFactorSampler([1.0, 2.5], seed=3, epoch=0).indices()
    epochs = [
        Counter(RepeatFactorSampler([1.0, 2.5], seed=3, epoch=e).indices()) for e in range(400)
    ]
    assert all(c[0] == 1 and c[1] in (2, 3) for c in epochs)
    assert sum(c[1] for c in epochs) / len(epochs) == pytest.approx(2.5, abs=0.08)
    assert len({tuple(RepeatFactorSampler([1.0, 2.5], 3, e).indices()) for e in range(10)}) > 1


def test_ranks_share_one_epoch_in_equal_disjoint_parts():
    factors = [1.0, 1.7, 1.0, 3.2, 1.0]
    whole = RepeatFactorSampler(factors, seed=0, epoch=2).indices()
    parts = [RepeatFactorSampler(factors, 0, 2, rank=r, world=2).indices() for r in (0, 1)]
    assert len(parts[0]) == len(parts[1]) == math.ceil(len(whole) / 2)
    padded = whole + whole[: len(whole) % 2]
    assert Counter(parts[0]) + Counter(parts[1]) == Counter(padded)
