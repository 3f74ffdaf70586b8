"""Torch Dataset over ImageRecords in torchvision's detection format (boxes, labels, masks)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.ops import masks_to_boxes
from torchvision.transforms.v2 import functional as F

from .images import read_image
from .records import ImageRecord
from .transforms import build_transforms


class MaskDataset(Dataset):
    """Yields ``(image, target)``: float CHW image in [0, 1]; target has boxes, labels, masks.

    Images are resized so the longest side is ``image_size`` (the model's own size, so its
    internal resize is a no-op) and masks are rasterised at that size; ``cache`` keeps the
    resized arrays in memory so later epochs skip decoding. ``augment`` names a preset of
    ``data.transforms`` (copy-paste draws its second image from this dataset). Shape priors
    (:attr:`Instance.is_prior`) are trained on but never framed tightly or pasted elsewhere:
    enlarged, their ellipse would teach the model that a close-up mask is an ellipse.
    """

    def __init__(
        self,
        records: list[ImageRecord],
        class_names: list[str],
        image_size: int | None = None,
        augment: str = "none",
        cache: bool = False,
        tile_crop: float = 0.0,
    ) -> None:
        self.records = records
        self.class_names = list(class_names)
        self.image_size = image_size
        self.transforms = build_transforms(
            augment, image_size or 0, source=self.paste_source, tile_crop=tile_crop
        )
        self.cache: dict[int, tuple[np.ndarray, ...]] | None = {} if cache else None
        index = {name: i + 1 for i, name in enumerate(self.class_names)}
        unknown = {i.label for r in records for i in r.instances} - set(index)
        if unknown:
            raise ValueError(f"labels {sorted(unknown)} are not in class_names {self.class_names}")
        self.label_index = index

    def __len__(self) -> int:
        return len(self.records)

    def load(self, idx: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Resized HWC uint8 image, (N, H, W) uint8 masks, (N,) int64 labels, (N,) bool outlined
        (False for shape priors); not augmented."""
        if self.cache is not None and idx in self.cache:
            return self.cache[idx]
        rec = self.records[idx]
        image = read_image(rec.path)
        scale = 1.0
        if self.image_size:
            scale = self.image_size / max(rec.width, rec.height)
            size = (max(1, round(rec.width * scale)), max(1, round(rec.height * scale)))
            image = image.resize(size, Image.BILINEAR)
        width, height = image.size
        masks = [inst.to_mask(height, width, scale) for inst in rec.instances]
        labels = [self.label_index[inst.label] for inst in rec.instances]
        outlined = np.array([not inst.is_prior for inst in rec.instances], dtype=bool)
        stacked = np.stack(masks) if masks else np.zeros((0, height, width), np.uint8)
        item = (np.array(image), stacked, np.asarray(labels, dtype=np.int64), outlined)
        if self.cache is not None:
            self.cache[idx] = item
        return item

    def paste_source(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A random unaugmented image with its outlined masks and their labels, for copy-paste;
        chosen with torch's RNG (reproducible under a fixed seed)."""
        image, masks, labels, outlined = self.load(int(torch.randint(len(self.records), (1,))))
        return image, masks[outlined], labels[outlined]

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, dict[str, Any]]:
        array, masks, labels, outlined = self.load(idx)
        image = tv_tensors.Image(torch.from_numpy(array).permute(2, 0, 1))
        target = make_target(
            torch.from_numpy(masks), torch.from_numpy(labels), idx, torch.from_numpy(outlined)
        )
        if self.transforms is not None:
            image, target = self.transforms(image, target)
            target = make_target(target["masks"], target["labels"], idx, target["outlined"])
        return F.to_dtype(image, torch.float32, scale=True).as_subclass(torch.Tensor), target


def make_target(
    masks: torch.Tensor,
    labels: torch.Tensor,
    image_id: int,
    outlined: torch.Tensor | None = None,
) -> dict[str, Any]:
    """Target with boxes recomputed from masks (pixel extents); empty masks are dropped.

    ``outlined`` (default all True) marks the masks that are real outlines, not shape priors.
    """
    if outlined is None:
        outlined = torch.ones(len(masks), dtype=torch.bool)
    keep = (masks.flatten(1) > 0).any(dim=1) if len(masks) else torch.zeros(0, dtype=torch.bool)
    masks, labels, outlined = masks[keep], labels[keep], outlined[keep]
    height, width = masks.shape[-2:]
    boxes = masks_to_boxes(masks) + torch.tensor([0.0, 0.0, 1.0, 1.0]) if len(masks) else None
    if boxes is None:
        boxes = torch.zeros((0, 4))
    return {
        "boxes": tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=(height, width)),
        "labels": labels,
        "masks": tv_tensors.Mask((masks > 0).to(torch.uint8)),
        "outlined": outlined,
        "image_id": image_id,
    }


def collate(batch: list[tuple[torch.Tensor, dict[str, Any]]]) -> tuple[list, list]:
    """Detection batches are lists: images differ in size."""
    images, targets = zip(*batch, strict=True)
    return list(images), list(targets)
