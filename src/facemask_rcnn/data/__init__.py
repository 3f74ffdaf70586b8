"""Annotations in and out: the format-neutral records, image reading, checks and loading;
``formats/`` reads and writes each annotation format, ``training/`` turns records into tensors."""

from .checks import Problem
from .load import DatasetError, load_records
from .records import ImageRecord, Instance
from .training.dataset import MaskDataset, collate

__all__ = [
    "DatasetError",
    "ImageRecord",
    "Instance",
    "MaskDataset",
    "Problem",
    "collate",
    "load_records",
]
