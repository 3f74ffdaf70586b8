"""RoI heads that train the mask branch on outlined instances only, and ``heads_like``.

A target's ``has_mask`` (bool per instance; default all True) marks the instances with an
outline. Box-only instances (a face box, a VIA rectangle) still train the RPN and the box head;
the proposals matched to them are left out of the mask branch, so an empty mask is never taught
as the mask of a box. The losses are torchvision's own (``fastrcnn_loss``, ``maskrcnn_loss``);
only the choice of the mask branch's proposals differs from ``RoIHeads``.
"""

from __future__ import annotations

from typing import TypeVar

import torch
from torch import nn
from torchvision.models.detection.roi_heads import RoIHeads, fastrcnn_loss, maskrcnn_loss

Heads = TypeVar("Heads", bound=RoIHeads)


def heads_like(cls: type[Heads], heads: RoIHeads, **parts: nn.Module) -> Heads:
    """A ``cls`` with the modules and settings of ``heads`` (the ones ``MaskRCNN`` builds),
    the modules named in ``parts`` (``box_roi_pool=...``) replaced."""
    modules = {
        name: getattr(heads, name)
        for name in (
            "box_roi_pool",
            "box_head",
            "box_predictor",
            "mask_roi_pool",
            "mask_head",
            "mask_predictor",
        )
    }
    return cls(
        fg_iou_thresh=heads.proposal_matcher.high_threshold,
        bg_iou_thresh=heads.proposal_matcher.low_threshold,
        batch_size_per_image=heads.fg_bg_sampler.batch_size_per_image,
        positive_fraction=heads.fg_bg_sampler.positive_fraction,
        bbox_reg_weights=heads.box_coder.weights,
        score_thresh=heads.score_thresh,
        nms_thresh=heads.nms_thresh,
        detections_per_img=heads.detections_per_img,
        **(modules | parts),
    )


class OutlinedOnlyRoIHeads(RoIHeads):
    """``RoIHeads`` whose training mask loss covers the positives matched to outlined instances;
    inference is ``RoIHeads``'."""

    def forward(
        self,
        features: dict[str, torch.Tensor],
        proposals: list[torch.Tensor],
        image_shapes: list[tuple[int, int]],
        targets: list[dict[str, torch.Tensor]] | None = None,
    ) -> tuple[list[dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
        if not self.training:
            return super().forward(features, proposals, image_shapes, targets)
        if targets is None:
            raise ValueError("training needs targets")
        proposals, matched, labels, regression = self.select_training_samples(proposals, targets)
        box_features = self.box_head(self.box_roi_pool(features, proposals, image_shapes))
        class_logits, box_regression = self.box_predictor(box_features)
        loss_classifier, loss_box_reg = fastrcnn_loss(
            class_logits, box_regression, labels, regression
        )
        mask_proposals, mask_matched = [], []
        for boxes, idx, lab, target in zip(proposals, matched, labels, targets, strict=True):
            outlined = target.get("has_mask")
            keep = lab > 0
            if outlined is not None and len(outlined):
                keep &= outlined[idx]
            mask_proposals.append(boxes[keep])
            mask_matched.append(idx[keep])
        mask_features = self.mask_head(self.mask_roi_pool(features, mask_proposals, image_shapes))
        loss_mask = maskrcnn_loss(
            self.mask_predictor(mask_features),
            mask_proposals,
            [t["masks"] for t in targets],
            [t["labels"] for t in targets],
            mask_matched,
        )
        losses = {
            "loss_classifier": loss_classifier,
            "loss_box_reg": loss_box_reg,
            "loss_mask": loss_mask,
        }
        return [], losses
