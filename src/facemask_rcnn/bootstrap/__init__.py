"""Bootstrapping training masks for photos that have face boxes but no outlines.

``occlude``: paste synthetic masks with exact outlines onto bare faces. ``pseudo``: let a model
draw crude masks inside masked faces' boxes, for a person to correct in VIA and for training.
"""

from .occlude import Occluded, occlude_faces
from .pseudo import PseudoLabels, pseudo_label

__all__ = ["Occluded", "PseudoLabels", "occlude_faces", "pseudo_label"]
