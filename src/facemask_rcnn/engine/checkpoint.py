"""Run folders and checkpoints: atomic writes, exact resume state, never another run's folder."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..fileio import atomic_write
from ..modeling.weights import load_torch_file


def rng_state() -> dict[str, Any]:
    """Every RNG the training loop draws from, so a resumed run takes the same next batches."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), *rest))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """torch.save through a temp file + rename: a kill mid-write leaves the old file intact."""
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a full training checkpoint (model, optimizer, scheduler, progress, RNG); loaded
    without pickle's code execution, as every checkpoint is."""
    return load_torch_file(path)
