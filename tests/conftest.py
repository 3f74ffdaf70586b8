"""Shared fixtures: tiny images made on the fly, and the shared datasets (skip, or fail in CI)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"

torch.set_num_threads(2)


def shared_dataset(name: str) -> Path:
    """Path of ``../shared/datasets/NAME``; skips when absent, fails when CI=true."""
    path = SHARED / name
    if not path.is_dir():
        message = f"{path} is absent (the shared datasets live beside the project)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def write_image(path: Path, width: int = 64, height: int = 48, seed: int = 0) -> Path:
    """A small random RGB JPEG/PNG at ``path``."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def tiny_synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight synthetic scenes at 128 px (6 train, 2 val), made once per test that asks."""
    from facemask_rcnn.data.synth import synthesize

    out = tmp_path_factory.mktemp("synth")
    synthesize(out, n=10, seed=3, size=128)
    return out
