"""Backbones, the Mask R-CNN builder and weight loading."""

from .backbones import BACKBONES, WeightsUnavailable
from .maskrcnn import FaceMaskRCNN, build_model, load_trained

__all__ = ["BACKBONES", "FaceMaskRCNN", "WeightsUnavailable", "build_model", "load_trained"]
