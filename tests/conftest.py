"""Shared fixtures: tiny images made on the fly, and the shared datasets (skip, or fail in CI)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from facemask_rcnn.config import Config, load_config
from facemask_rcnn.faces.finder import FaceBoxes
from facemask_rcnn.faces.head import HEAD_CLASSES, FaceHead
from facemask_rcnn.faces.pipeline import FacePipeline
from facemask_rcnn.inference import Predictor

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"

torch.set_num_threads(2)

TINY = [
    "image_size=96",
    "fpn_channels=32",
    "anchor_sizes=[8, 16, 32, 64, 96]",
    "rpn_pre_nms_train=200",
    "rpn_post_nms_train=100",
    "rpn_pre_nms_test=100",
    "rpn_post_nms_test=50",
    "rois_per_image=32",
    "min_confidence=0.05",
    "augment=none",
    "synthetic_scenes=0",
    "finest_stride=4",  # 96 px images: their 5-30 px objects need the stride-4 level
]


def tiny_config(
    schedule: str = "[{layers: heads, epochs: 2, lr: 0.01}, {layers: all, epochs: 1, lr: 0.005}]",
    *extra: str,
) -> Config:
    """A 96 px, 32-channel model and short schedule: trains in seconds on a CPU."""
    return load_config(overrides=[*TINY, f"schedule={schedule}", *extra])


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


# Photo shapes that once killed a batch: (width, height). Each must be predicted or skipped
# with one line, never raise.
EXTREME_SHAPES = [(1, 1), (1, 300), (300, 1), (4000, 3), (3, 4000)]


def write_extreme_dataset(folder: Path, splits: tuple[str, ...] = ("train", "val")) -> Path:
    """A VIA dataset whose every image has an EXTREME_SHAPES size and one polygon covering it."""
    for split in splits:
        via = {}
        for index, (width, height) in enumerate(EXTREME_SHAPES):
            name = f"{width}x{height}.png"
            write_image(folder / split / name, width, height, seed=index)
            xs, ys = [0, width, width, 0], [0, 0, height, height]
            shape = {"name": "polygon", "all_points_x": xs, "all_points_y": ys}
            via[name] = {"filename": name, "regions": [{"shape_attributes": shape}]}
        (folder / split / "via_region_data.json").write_text(json.dumps(via))
    return folder


# Fixtures that train a model: a test asking for one is slow (``make test-fast`` leaves it out).
TRAINING_FIXTURES = {"trained"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def tiny_synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight synthetic scenes at 128 px (6 train, 2 val), made once per test that asks."""
    from facemask_rcnn.synth import synthesize

    out = tmp_path_factory.mktemp("synth")
    synthesize(out, n=10, seed=3, size=128)
    return out


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny model trained for a few epochs on synthetic scenes: (checkpoint, data folder)."""
    from facemask_rcnn.engine import train
    from facemask_rcnn.synth import synthesize

    out = tmp_path_factory.mktemp("trained")
    synthesize(out / "data", n=12, seed=9, size=96)
    config = tiny_config(
        "[{layers: heads, epochs: 12, lr: 0.04, warmup_iters: 5}]", "rpn_anchors_per_image=64"
    )
    result = train(config, out / "data", out / "run")
    return result.run_dir / "best.pt", out / "data"


class BrightEngine:
    """A stand-in engine: each 4-connected region of white pixels is one detection (score 0.9).

    Lets tests check coordinates exactly (tiling, crop placement) without a trained model.
    """

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        from scipy import ndimage

        bright = (image.min(dim=0).values > 0.9).numpy()
        regions, count = ndimage.label(bright)
        masks = torch.from_numpy(regions[None] == np.arange(1, count + 1)[:, None, None])
        masks = masks.reshape(count, 1, *bright.shape).float()
        boxes = []
        for mask in masks[:, 0].bool():
            ys, xs = torch.nonzero(mask, as_tuple=True)
            boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        return {
            "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "scores": torch.full((count,), 0.9),
            "labels": torch.ones(count, dtype=torch.int64),
            "masks": masks,
        }


@pytest.fixture
def bright_predictor():
    """A Predictor over BrightEngine (face_mask class, default NMS and detection limits)."""

    def make(**kwargs):  # noqa: ANN003, ANN202
        return Predictor(BrightEngine(), Config(), min_score=0.5, **kwargs)

    return make


def assert_same_detections(
    expected: Predictor,
    found: Predictor,
    images: list[Path],
    score_tol: float,
    min_iou: float = 0.9,
    box_tol: float = 1.0,
) -> int:
    """Every detection either predictor makes clear of the threshold (by ``score_tol``) has its
    twin in the other: same label, score within ``score_tol``, box within ``box_tol`` px, mask
    IoU at least ``min_iou``. Detections within ``score_tol`` of the threshold may fall on one
    side of it. Returns the detections compared."""
    from facemask_rcnn.evaluation.matterport_ap import mask_ious

    count = 0
    floor = max(expected.min_score, found.min_score) + score_tol
    for path in images:
        a, b = expected.predict(path), found.predict(path)
        for x, y in ((a, b), (b, a)):
            for i in np.flatnonzero(x.scores >= floor):
                assert len(y.labels), f"{path}: detection {i} has no twin"
                ious = mask_ious(x.masks[i : i + 1], y.masks)[0]
                j = int(ious.argmax())
                assert ious[j] >= min_iou, f"{path}: detection {i} best mask IoU {ious[j]:.3f}"
                assert x.labels[i] == y.labels[j], path
                assert abs(x.scores[i] - y.scores[j]) <= score_tol, path
                assert np.abs(x.boxes[i] - y.boxes[j]).max() <= box_tol, path
        count += int((a.scores >= floor).sum())
    return count


class FixedHead(FaceHead):
    """A stand-in face head: bright crops are masked faces, dim ones bare, black ones not faces."""

    def __init__(self) -> None:
        torch.nn.Module.__init__(self)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        level = crops.mean(dim=(1, 2, 3))
        logits = torch.zeros((len(crops), len(HEAD_CLASSES)))  # chosen: e^3 / (e^3 + 3) = 0.87
        logits[level > 0.5, 0] = 3.0  # masked
        logits[(level > 0.05) & (level <= 0.5), 2] = 3.0  # bare
        logits[level <= 0.05, 3] = 3.0  # not a face
        return logits


class ListFinder:
    """A stand-in face finder: the same boxes in every photo."""

    def __init__(self, boxes: list[list[float]]) -> None:
        self.boxes = np.array(boxes, np.float32).reshape(-1, 4)

    def __call__(self, image: np.ndarray) -> FaceBoxes:
        return FaceBoxes(self.boxes, np.full(len(self.boxes), 0.9, np.float32))


FACES = [[5.0, 5, 35, 45], [50, 5, 75, 40]]  # the masked face, the bare face of faces_photo()


def faces_photo() -> np.ndarray:
    """80 x 60 px: a bright "masked" face (its mask: the bright 30 x 40 px) and a dim bare one."""
    photo = np.zeros((60, 80, 3), np.uint8)
    photo[5:45, 5:35] = 255
    photo[5:40, 50:75] = 60
    return photo


def faces_predictor(masks: object | None = None) -> FacePipeline:
    """A FacePipeline over ListFinder(FACES) and FixedHead; masks by a BrightEngine Predictor."""
    config = load_config("configs/faces.yaml", ["face_context=1.0"])
    masks = masks or Predictor(BrightEngine(), Config(), min_score=0.5)
    return FacePipeline(ListFinder(FACES), FixedHead(), config, masks=masks)
