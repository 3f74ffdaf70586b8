"""Annotation formats, checks, the torch Dataset, augmentation and the synthetic default."""

from .checks import Problem
from .dataset import MaskDataset, collate
from .load import DatasetError, load_records
from .records import ImageRecord, Instance

__all__ = [
    "DatasetError",
    "ImageRecord",
    "Instance",
    "MaskDataset",
    "Problem",
    "collate",
    "load_records",
]
