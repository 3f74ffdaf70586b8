"""Training and validation records of one or more datasets, never the same images in both."""

from __future__ import annotations

import logging
from pathlib import Path

from ..config import Config
from ..data import load_records
from ..data.faces import face_records, status_of
from ..data.load import available_splits
from ..data.records import ImageRecord, class_names_of
from ..synth import training_scenes
from . import distributed as dist
from .layers import TrainingError

log = logging.getLogger(__name__)


def load_splits(
    data: str | Path | list[str | Path], config: Config, keep_empty: bool = False
) -> tuple[list[ImageRecord], list[ImageRecord], list[str]]:
    """Train and val records of one or more datasets, and the class names.

    Each dataset's ``config.val_split`` is used for validation (``test`` only when asked for);
    a dataset without it (a flat folder, one annotation file) gives every 10th training image.
    """
    train_records: list[ImageRecord] = []
    val_records: list[ImageRecord] = []
    for source in data if isinstance(data, list) else [data]:
        records, val = dataset_splits(source, config, keep_empty)
        train_records += records
        val_records += val
    if not any(r.instances for r in train_records):
        raise TrainingError(f"{data}: the train split has no instances: nothing to learn")
    names = config.class_names
    if config.class_attribute and names == ["face_mask"]:
        names = class_names_of(train_records)
    unknown = set(class_names_of(train_records + val_records)) - set(names)
    if unknown:
        hint = ""
        if all(status_of(label) for label in unknown):
            hint = "; they name face statuses: train the face head (--config configs/faces.yaml)"
        raise TrainingError(
            f"{data}: classes {sorted(unknown)} are not in class_names {names}{hint}"
        )
    return train_records, val_records, names


def dataset_splits(
    source: str | Path, config: Config, keep_empty: bool
) -> tuple[list[ImageRecord], list[ImageRecord]]:
    """One dataset's (train, val) records; never the same images in both."""
    attribute, splits = config.class_attribute, available_splits(source)
    if "train" not in splits:
        records, problems = load_records(source, None, attribute, keep_empty=keep_empty)
        records, val = hold_out(records, f"{source}: no split folders")
    else:
        records, problems = load_records(source, "train", attribute, keep_empty=keep_empty)
        if config.val_split in splits:
            val, more = load_records(source, config.val_split, attribute, keep_empty=True)
            problems += more
        elif config.val_split == "val":
            records, val = hold_out(records, f"{source}: no val split")
        else:
            raise TrainingError(f"{source}: no {config.val_split!r} split to validate on")
    if config.val_split == "test":
        log.warning("%s: validating on the test split: its numbers will be optimistic", source)
    if config.task == "faces":
        records, val = face_records(records, problems), face_records(val, problems)
    for problem in problems:
        log.warning("%s", problem)
    return records, val


def hold_out(records: list[ImageRecord], why: str) -> tuple[list[ImageRecord], list[ImageRecord]]:
    """(train, val): every 10th image validates (at least one when there are two or more)."""
    if len(records) < 2:
        log.warning("%s, and too few images to hold one out: none of it validates", why)
        return records, []
    log.warning("%s; holding out every 10th training image for validation", why)
    return [r for i, r in enumerate(records) if i % 10], records[::10]


def synthetic_records(config: Config, class_names: list[str], run_dir: Path) -> list[ImageRecord]:
    """``config.synthetic_scenes`` procedural scenes for the train split, rendered into the run.

    Only for single-class runs: the synthesiser's mask kinds are not the user's classes.
    """
    if not config.synthetic_scenes:
        return []
    if len(class_names) != 1:
        log.warning(
            "synthetic_scenes=%d ignored: synthetic masks cannot carry the classes %s",
            config.synthetic_scenes,
            class_names,
        )
        return []
    args = (run_dir / "synthetic", config.synthetic_scenes, config.seed, config.image_size)
    records = training_scenes(*args, class_names[0]) if dist.is_main() else None
    dist.barrier()  # rank 0 has rendered them; the others read them back
    return records if records is not None else training_scenes(*args, class_names[0])
