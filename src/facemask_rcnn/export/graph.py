"""The model as the exported ONNX graph runs it: graph-friendly parts passed into a
``GeneralizedRCNN``, the trained modules shared, nothing of torchvision's changed.

- proposals by ``BestAnchorsFirstRPN`` (each level's best anchors decoded, not all of them);
- RoIAlign's levels merged by ``merge_roi_levels``: one Concat and one Gather, not one
  ScatterElements per level (run element by element: ~8 ms of a 55 ms static-int8 pass at
  384 px);
- NMS by ``nms_per_class``, not an If whose empty branch OpenVINO 2026.4 returns as one bogus
  box;
- no resize and masks left per box (``EngineResizedTransform``): ``OnnxEngine`` does both, in
  less time than the graph's Resize and its Loop over detections.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import MultiScaleRoIAlign, nms, roi_align
from torchvision.ops import boxes as box_ops
from torchvision.ops.poolers import _convert_to_roi_format, _filter_input, _setup_scales

from ..modeling.roi_heads import heads_like
from .proposals import BestAnchorsFirstRPN


def graph_model(model: GeneralizedRCNN, engine_resizes: bool = True) -> GeneralizedRCNN:
    """``model``'s backbone and heads with the graph-friendly parts (module docstring).

    ``engine_resizes`` False keeps torchvision's resize and mask pasting inside the graph, as
    graphs exported before ``OnnxEngine`` did both (they still load)."""
    heads = heads_like(
        GraphRoIHeads,
        model.roi_heads,
        box_roi_pool=MergedLevelsRoIAlign.like(model.roi_heads.box_roi_pool),
        mask_roi_pool=MergedLevelsRoIAlign.like(model.roi_heads.mask_roi_pool),
    )
    transform = model.transform
    if engine_resizes:
        transform = EngineResizedTransform(
            transform.min_size, transform.max_size, transform.image_mean, transform.image_std
        )
    return GeneralizedRCNN(model.backbone, BestAnchorsFirstRPN.like(model.rpn), heads, transform)


class EngineResizedTransform(GeneralizedRCNNTransform):
    """Normalises and batches only: the image comes resized, and the masks go out per box
    (``OnnxEngine`` resizes before the graph, on the photo's pixels, and pastes after)."""

    def resize(
        self, image: Tensor, target: dict[str, Tensor] | None = None
    ) -> tuple[Tensor, dict[str, Tensor] | None]:
        return image, target

    def postprocess(
        self,
        result: list[dict[str, Tensor]],
        image_shapes: list[tuple[int, int]],
        original_image_sizes: list[tuple[int, int]],
    ) -> list[dict[str, Tensor]]:
        return result


def merge_roi_levels(levels: Tensor, pooled: list[Tensor]) -> Tensor:
    """Put RoIAlign's per-level results (``pooled[k]``: the RoIs with ``levels == k``, in index
    order) back in RoI order: one Concat and one Gather in the graph."""
    order = torch.cat([torch.where(levels == level)[0] for level in range(len(pooled))])
    return torch.cat(pooled)[torch.argsort(order)]


class MergedLevelsRoIAlign(MultiScaleRoIAlign):
    """``MultiScaleRoIAlign`` whose per-level results are merged by ``merge_roi_levels``."""

    @classmethod
    def like(cls, pool: MultiScaleRoIAlign) -> MergedLevelsRoIAlign:
        return cls(
            pool.featmap_names,
            pool.output_size,
            pool.sampling_ratio,
            canonical_scale=pool.canonical_scale,
            canonical_level=pool.canonical_level,
        )

    def forward(
        self, x: dict[str, Tensor], boxes: list[Tensor], image_shapes: list[tuple[int, int]]
    ) -> Tensor:
        features = _filter_input(x, self.featmap_names)
        if self.scales is None or self.map_levels is None:
            self.scales, self.map_levels = _setup_scales(
                features, image_shapes, self.canonical_scale, self.canonical_level
            )
        rois = _convert_to_roi_format(boxes)
        levels = self.map_levels(boxes) if len(features) > 1 else torch.zeros_like(rois[:, 0])
        pooled = [
            roi_align(
                feature,
                rois[levels == level],
                output_size=self.output_size,
                spatial_scale=scale,
                sampling_ratio=self.sampling_ratio,
            )
            for level, (feature, scale) in enumerate(zip(features, self.scales, strict=True))
        ]
        return merge_roi_levels(levels, pooled)


def nms_per_class(boxes: Tensor, scores: Tensor, classes: Tensor, iou_threshold: float) -> Tensor:
    """torchvision's batched NMS (each class's boxes shifted clear of the others') without its
    branch for no boxes: the shift's maximum also takes a 0, so an empty input flows through."""
    top = torch.cat([boxes.flatten(), boxes.new_zeros(1)]).max()
    return nms(boxes + (classes.to(boxes) * (top + 1))[:, None], scores, iou_threshold)


class GraphRoIHeads(RoIHeads):
    """``RoIHeads`` whose detections are those of ``RoIHeads.postprocess_detections``, steps in
    the same order, with ``nms_per_class`` for the NMS."""

    def postprocess_detections(
        self,
        class_logits: Tensor,
        box_regression: Tensor,
        proposals: list[Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        classes = class_logits.shape[-1]
        counts = [len(p) for p in proposals]
        decoded = self.box_coder.decode(box_regression, proposals).split(counts)
        probabilities = class_logits.softmax(-1).split(counts)
        found: tuple[list[Tensor], list[Tensor], list[Tensor]] = ([], [], [])
        for boxes, scores, shape in zip(decoded, probabilities, image_shapes, strict=True):
            boxes = box_ops.clip_boxes_to_image(boxes, shape)[:, 1:].reshape(-1, 4)
            labels = torch.arange(classes, device=scores.device).expand_as(scores)[:, 1:]
            scores, labels = scores[:, 1:].reshape(-1), labels.reshape(-1)
            keep = torch.where(scores > self.score_thresh)[0]
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
            keep = box_ops.remove_small_boxes(boxes, min_size=1e-2)
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
            keep = nms_per_class(boxes, scores, labels, self.nms_thresh)[: self.detections_per_img]
            for kept, part in zip(found, (boxes, scores, labels), strict=True):
                kept.append(part[keep])
        return found
