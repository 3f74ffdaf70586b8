"""The synthesiser: drawn people in masks (``people``) in cluttered scenes (``scenes``), with
exact polygons; the dataset every command falls back on when a user has none."""

from .people import MASK_TYPES
from .scenes import contact_sheet, render_scene, synthesize, training_scenes

__all__ = ["MASK_TYPES", "contact_sheet", "render_scene", "synthesize", "training_scenes"]
