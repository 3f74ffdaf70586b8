"""Weight sources for build_model: imagenet, coco, a checkpoint or state-dict file, or ``last``.

When shapes differ (another class count, FPN width or anchor count) the mismatched tensors are
skipped and reported, and everything else loads: Matterport's ``exclude=[mrcnn_class_logits…]``.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .backbones import WeightsUnavailable

log = logging.getLogger(__name__)
RUNS_DIR = Path("runs")


class UntrustedCheckpoint(ValueError):
    """A checkpoint that only loads through pickle, which can run arbitrary code."""


def _numpy_globals() -> list[Any]:
    """numpy's array reconstruction: RNG states in checkpoints of older versions hold arrays."""
    core = getattr(np, "_core", None) or np.core
    return [core.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]


def load_torch_file(path: str | Path, trust: bool = False) -> Any:
    """``torch.load`` with ``weights_only`` (tensors, containers, numbers, strings, numpy arrays);
    a file that needs more is refused unless ``trust`` (a one-line UntrustedCheckpoint)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weights file")
    try:
        if trust:
            return torch.load(path, map_location="cpu", weights_only=False)
        with torch.serialization.safe_globals(_numpy_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise UntrustedCheckpoint(
            f"{path}: loading it needs pickle, which can run arbitrary code; if you trust where "
            f"it came from, pass --trust-checkpoint"
        ) from err
    except (RuntimeError, EOFError, OSError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"{path}: not a readable checkpoint ({reason})") from err


def read_checkpoint(path: str | Path, trust: bool = False) -> dict[str, Any]:
    """Load a file written by the trainer, or a bare state dict (wrapped as ``{"model": ...}``)."""
    data = load_torch_file(path, trust)
    if isinstance(data, dict) and isinstance(data.get("model"), dict):
        return data
    if isinstance(data, dict) and all(isinstance(v, torch.Tensor) for v in data.values()):
        return {"model": data}
    raise ValueError(f"{path}: neither a facemask checkpoint nor a state dict")


def newest_checkpoint(run_dir: str | Path | None = None) -> Path:
    """``last.pt`` of ``run_dir``, or the newest ``runs/*/last.pt`` (Matterport's ``find_last``)."""
    candidates = [Path(run_dir) / "last.pt"] if run_dir else sorted(RUNS_DIR.glob("*/last.pt"))
    candidates = [p for p in candidates if p.is_file()]
    if not candidates:
        where = run_dir or f"{RUNS_DIR}/*"
        raise FileNotFoundError(f"--weights last: no last.pt in {where}")
    return max(candidates, key=lambda p: p.stat().st_mtime)


def load_matching(model: nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Load every tensor whose name and shape match; return the names skipped (reported)."""
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    skipped = sorted(k for k in own if k not in usable)
    model.load_state_dict(usable, strict=False)
    if skipped:
        log.warning("weights: %d tensor(s) not loaded (new or reshaped): %s", len(skipped), skipped)
    return skipped


def coco_state_dict() -> dict[str, torch.Tensor]:
    """torchvision's COCO Mask R-CNN R50-FPN weights; offline → a one-line WeightsUnavailable."""
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights

    weights = MaskRCNN_ResNet50_FPN_Weights.COCO_V1
    try:
        return weights.get_state_dict(progress=False)
    except Exception as err:  # URLError, socket errors, certificate errors…
        raise WeightsUnavailable(
            f"cannot download COCO weights ({type(err).__name__}: {err}); offline, pass the file "
            f"instead: --weights PATH/{Path(weights.url).name}"
        ) from err


def load_weights(
    model: nn.Module, spec: str, run_dir: str | Path | None = None, trust: bool = False
) -> list[str]:
    """Load ``coco``, ``last`` or a file path into ``model``; return the skipped tensor names.
    ``trust`` lets a file that needs pickle load (see :func:`load_torch_file`)."""
    if spec == "coco":
        return load_matching(model, coco_state_dict())
    path = newest_checkpoint(run_dir) if spec == "last" else Path(spec)
    checkpoint = read_checkpoint(path, trust)
    names = checkpoint.get("class_names")
    if names and names != getattr(model, "class_names", names):
        log.warning("weights: %s has classes %s, model has %s", path, names, model.class_names)
    return load_matching(model, checkpoint["model"])
