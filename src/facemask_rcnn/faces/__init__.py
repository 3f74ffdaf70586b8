"""Faces in photos: a pretrained finder, a status head per face crop, masks on masked faces."""

from .finder import FINDERS, FaceBoxes, FinderUnavailable, YuNetFinder, build_finder
from .head import HEAD_CLASSES, FaceHead
from .pipeline import FacePipeline, is_face_head

__all__ = [
    "FINDERS",
    "HEAD_CLASSES",
    "FaceBoxes",
    "FaceHead",
    "FacePipeline",
    "FinderUnavailable",
    "YuNetFinder",
    "build_finder",
    "is_face_head",
]
