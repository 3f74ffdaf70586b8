"""Partial supervision for torchvision's RoI heads: box-only instances and partial class labels.

Two target keys, both optional, change what torchvision's own losses see during training:

- ``has_mask`` (bool per instance): box-only instances (a face box without an outline) train
  the RPN and the box head; the mask loss leaves out the proposals matched to them.
- ``annotated`` (bool per class, background first): classes the image's dataset does not
  label are taken out of the box classifier's softmax for that image (federated training, as
  in LVIS): a masks-only dataset's unlabelled faces are not taught as background.

torchvision computes both losses inside ``RoIHeads.forward``; ``partial_supervision`` wraps
its loss functions for one forward pass, so the losses themselves stay torchvision's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torchvision.models.detection import roi_heads

# Logit given to a class an image's annotation does not cover: softmax weight ~0, no gradient.
UNANNOTATED_LOGIT = -1e4


def classifier_loss(annotated: list[torch.Tensor], loss: Any) -> Any:
    """``fastrcnn_loss`` with each image's unannotated classes masked out of its RoIs' logits."""

    def masked(class_logits, box_regression, labels, regression_targets):  # noqa: ANN001, ANN202
        allowed = torch.cat(
            [a.expand(len(lab), -1) for a, lab in zip(annotated, labels, strict=True)]
        )
        class_logits = class_logits.masked_fill(~allowed, UNANNOTATED_LOGIT)
        return loss(class_logits, box_regression, labels, regression_targets)

    return masked


def mask_loss(has_mask: list[torch.Tensor], loss: Any) -> Any:
    """``maskrcnn_loss`` over the positive proposals whose instance has a mask only."""

    def outlined_only(mask_logits, proposals, gt_masks, gt_labels, matched_idxs):  # noqa: ANN001, ANN202
        keep = [flags[idx] for flags, idx in zip(has_mask, matched_idxs, strict=True)]
        rows = torch.cat(keep) if keep else torch.zeros(0, dtype=torch.bool)
        if not rows.any():
            return mask_logits.sum() * 0.0
        return loss(
            mask_logits[rows],
            [p[k] for p, k in zip(proposals, keep, strict=True)],
            gt_masks,
            gt_labels,
            [i[k] for i, k in zip(matched_idxs, keep, strict=True)],
        )

    return outlined_only


@contextmanager
def partial_supervision(targets: list[dict[str, Any]] | None) -> Iterator[None]:
    """Within the block, torchvision's RoI losses honour the targets' ``has_mask`` and
    ``annotated`` (when any target has them); otherwise nothing changes."""
    if not targets or not any("has_mask" in t or "annotated" in t for t in targets):
        yield
        return
    has_mask = [
        t.get("has_mask", torch.ones(len(t["labels"]), dtype=torch.bool, device=t["labels"].device))
        for t in targets
    ]
    annotated = [t.get("annotated") for t in targets]
    saved = roi_heads.fastrcnn_loss, roi_heads.maskrcnn_loss
    try:
        roi_heads.maskrcnn_loss = mask_loss(has_mask, saved[1])
        if all(a is not None for a in annotated):
            roi_heads.fastrcnn_loss = classifier_loss(annotated, saved[0])  # type: ignore[arg-type]
        yield
    finally:
        roi_heads.fastrcnn_loss, roi_heads.maskrcnn_loss = saved
