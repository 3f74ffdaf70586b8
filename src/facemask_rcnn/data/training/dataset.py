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

from ..images import read_image
from ..records import ImageRecord
from .transforms import build_transforms


class MaskDataset(Dataset):
    """Yields ``(image, target)``: float CHW image in [0, 1]; target has boxes, labels, masks
    and ``has_mask``, which ``modeling.roi_heads.OutlinedOnlyRoIHeads`` reads.

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

    def load(self, idx: int) -> dict[str, np.ndarray]:
        """One record resized, not augmented: ``image`` (HWC uint8), ``masks`` (N, H, W uint8;
        empty for box-only instances), ``labels`` (N,), ``boxes`` (N, 4; NaN where the box is the
        mask's extent), ``outlined`` (False for shape priors and box-only instances),
        and ``has_mask`` (the mask loss applies)."""
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
        instances = rec.instances
        masks = [inst.to_mask(height, width, scale) for inst in instances]
        boxes = [
            np.asarray(inst.bbox, np.float32) * scale if inst.bbox else np.full(4, np.nan)
            for inst in instances
        ]
        item = {
            "image": np.array(image),
            "masks": np.stack(masks) if masks else np.zeros((0, height, width), np.uint8),
            "labels": np.asarray([self.label_index[i.label] for i in instances], dtype=np.int64),
            "boxes": np.stack(boxes).astype(np.float32) if boxes else np.zeros((0, 4), np.float32),
            "outlined": np.array([i.has_shape and not i.is_prior for i in instances], dtype=bool),
            "has_mask": np.array([i.has_shape for i in instances], dtype=bool),
        }
        if self.cache is not None:
            self.cache[idx] = item
        return item

    def paste_source(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A random unaugmented image with its outlined masks that are whole instances (boxed by
        their own extent: a face's mask is never pasted without its face) and their labels, for
        copy-paste; chosen with torch's RNG (reproducible under a fixed seed)."""
        item = self.load(int(torch.randint(len(self.records), (1,))))
        chosen = item["outlined"] & np.isnan(item["boxes"]).any(axis=1)
        return item["image"], item["masks"][chosen], item["labels"][chosen]

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, dict[str, Any]]:
        item = self.load(idx)
        image = tv_tensors.Image(torch.from_numpy(item["image"]).permute(2, 0, 1))
        target = make_target(
            torch.from_numpy(item["masks"]),
            torch.from_numpy(item["labels"]),
            idx,
            outlined=torch.from_numpy(item["outlined"]),
            boxes=torch.from_numpy(item["boxes"]),
            has_mask=torch.from_numpy(item["has_mask"]),
        )
        if self.transforms is not None:
            image, target = self.transforms(image, target)
            target = make_target(
                target["masks"],
                target["labels"],
                idx,
                outlined=target["outlined"],
                boxes=torch.where(target["tight"][:, None], torch.nan, target["boxes"]),
                has_mask=target["has_mask"],
            )
        return F.to_dtype(image, torch.float32, scale=True).as_subclass(torch.Tensor), target


def make_target(
    masks: torch.Tensor,
    labels: torch.Tensor,
    image_id: int,
    outlined: torch.Tensor | None = None,
    boxes: torch.Tensor | None = None,
    has_mask: torch.Tensor | None = None,
) -> dict[str, Any]:
    """Target in torchvision's form plus ``outlined``, ``has_mask`` and ``tight`` per instance.

    A box given as NaN (or all, when ``boxes`` is None) is the mask's pixel extent (``tight``);
    such an instance is dropped when its mask is empty. Given boxes are clipped to the image and
    dropped when under a pixel wide or high. ``outlined`` (default all True) marks real outlines,
    not shape priors; ``has_mask`` (default all True) marks instances the mask loss applies to.
    """
    count = len(labels)
    height, width = masks.shape[-2:]
    outlined = torch.ones(count, dtype=torch.bool) if outlined is None else outlined
    has_mask = torch.ones(count, dtype=torch.bool) if has_mask is None else has_mask
    boxes = torch.full((count, 4), torch.nan) if boxes is None else boxes.float()
    tight = torch.isnan(boxes).any(dim=1)
    filled = (masks.flatten(1) > 0).any(dim=1) if count else torch.zeros(0, dtype=torch.bool)
    if tight.any():
        extent = masks_to_boxes(masks[tight & filled]) + torch.tensor([0.0, 0.0, 1.0, 1.0])
        boxes = boxes.clone()
        boxes[tight & filled] = extent
    limits = torch.tensor([width, height, width, height], dtype=torch.float32)
    boxes = torch.minimum(boxes.clamp(min=0), limits)
    sized = (boxes[:, 2] - boxes[:, 0] >= 1) & (boxes[:, 3] - boxes[:, 1] >= 1)
    keep = torch.where(tight, filled, sized)
    return {
        "boxes": tv_tensors.BoundingBoxes(
            boxes[keep].reshape(-1, 4), format="XYXY", canvas_size=(height, width)
        ),
        "labels": labels[keep],
        "masks": tv_tensors.Mask((masks[keep] > 0).to(torch.uint8)),
        "outlined": outlined[keep],
        "has_mask": has_mask[keep],
        "tight": tight[keep],
        "image_id": image_id,
    }


def collate(batch: list[tuple[torch.Tensor, dict[str, Any]]]) -> tuple[list, list]:
    """Detection batches are lists: images differ in size."""
    images, targets = zip(*batch, strict=True)
    return list(images), list(targets)
