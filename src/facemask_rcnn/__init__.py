"""facemask-rcnn: Mask R-CNN for protective face masks (train, evaluate, predict, serve).

The names below load on first use, so ``import facemask_rcnn`` (and ``facemask --help``) does
not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from .version import __version__

_PUBLIC = {
    "Config": ".config",
    "load_config": ".config",
    "load_records": ".data",
    "train": ".engine",
    "evaluate": ".evaluation",
    "Prediction": ".inference",
    "Predictor": ".inference",
    "build_model": ".modeling",
    "FacePipeline": ".faces",
    "load_predictor": ".shipped",
}

__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name], __name__), name)
