"""build_model(config): torchvision MaskRCNN with our backbone, anchors, sampling, loss weights."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.ops import MultiScaleRoIAlign

from ..config import Config, parse_overrides, saved_config
from .backbones import backbone_mean_std, backbone_strides, build_backbone, parameter_stages
from .roi_heads import OutlinedOnlyRoIHeads, heads_like
from .separable import separable_rpn_head
from .weights import load_weights

# torchvision's loss names → Matterport's LOSS_WEIGHTS keys.
LOSS_KEYS = {
    "loss_objectness": "rpn_class",
    "loss_rpn_box_reg": "rpn_bbox",
    "loss_classifier": "mrcnn_class",
    "loss_box_reg": "mrcnn_bbox",
    "loss_mask": "mrcnn_mask",
}


class FaceMaskRCNN(MaskRCNN):
    """MaskRCNN that weights its training losses per head and knows its class names; its RoI
    heads train the mask branch on outlined instances only (``OutlinedOnlyRoIHeads``).

    ``backbone_stages`` maps each backbone parameter name to its stage (2-5), which the trainer
    uses for ``layers: 4+`` and layer-wise learning rates.
    """

    def __init__(
        self,
        backbone: torch.nn.Module,
        class_names: list[str],
        loss_weights: dict[str, float],
        **kwargs: Any,
    ) -> None:
        super().__init__(backbone, num_classes=None, **kwargs)
        self.roi_heads = heads_like(OutlinedOnlyRoIHeads, self.roi_heads)
        self.class_names = list(class_names)
        self.loss_weights = dict(loss_weights)
        self.backbone_stages = {
            f"backbone.body.{k}": v for k, v in parameter_stages(backbone.body).items()
        }

    def forward(self, images, targets=None):  # noqa: ANN001, ANN201 - torchvision's signature
        output = super().forward(images, targets)
        if self.training:
            return weight_losses(output, self.loss_weights)
        return output


def weight_losses(
    losses: dict[str, torch.Tensor], weights: dict[str, float]
) -> dict[str, torch.Tensor]:
    """Scale each torchvision loss by its head's weight; the one place loss weights apply."""
    return OrderedDict((k, v * weights.get(LOSS_KEYS.get(k, k), 1.0)) for k, v in losses.items())


def model_kwargs(config: Config, levels: int, roi_levels: list[str]) -> dict[str, Any]:
    """Config → MaskRCNN keyword arguments (anchors, proposals, sampling, detections, mask size).

    ``levels`` is the number of FPN levels (one anchor size each); ``roi_levels`` names the
    levels RoIAlign pools from (the body's, not the max-pooled ones).
    """
    if len(config.anchor_sizes) != levels:
        raise ValueError(
            f"anchor_sizes has {len(config.anchor_sizes)} sizes but the backbone has {levels} "
            f"FPN levels: give one size per level"
        )
    mean, std = backbone_mean_std(config.backbone)
    rpn_head = None  # MaskRCNN's default: one full 3x3 convolution
    if config.separable_convs:
        rpn_head = separable_rpn_head(config.fpn_channels, len(config.anchor_ratios))
    return {
        "min_size": config.image_size,
        "max_size": config.image_size,
        "image_mean": list(mean),
        "image_std": list(std),
        "rpn_anchor_generator": AnchorGenerator(
            sizes=tuple((int(s),) for s in config.anchor_sizes),
            aspect_ratios=(tuple(float(r) for r in config.anchor_ratios),) * levels,
        ),
        "rpn_head": rpn_head,
        "rpn_pre_nms_top_n_train": config.rpn_pre_nms_train,
        "rpn_post_nms_top_n_train": config.rpn_post_nms_train,
        "rpn_pre_nms_top_n_test": config.rpn_pre_nms_test,
        "rpn_post_nms_top_n_test": config.rpn_post_nms_test,
        "rpn_nms_thresh": config.rpn_nms_threshold,
        "rpn_batch_size_per_image": config.rpn_anchors_per_image,
        "box_batch_size_per_image": config.rois_per_image,
        "box_positive_fraction": config.roi_positive_ratio,
        "box_score_thresh": score_floor(config.min_confidence),
        "box_nms_thresh": config.detection_nms_threshold,
        "box_detections_per_img": config.max_detections,
        "box_roi_pool": MultiScaleRoIAlign(
            roi_levels, output_size=7, sampling_ratio=config.roi_sampling_ratio
        ),
        "box_head": TwoMLPHead(config.fpn_channels * 7 * 7, config.box_head_size),
        "box_predictor": FastRCNNPredictor(config.box_head_size, len(config.class_names) + 1),
        "mask_head": MaskRCNNHeads(config.fpn_channels, [config.mask_head_channels] * 4, 1),
        "mask_predictor": MaskRCNNPredictor(
            config.mask_head_channels, config.mask_head_channels, len(config.class_names) + 1
        ),
        "mask_roi_pool": MultiScaleRoIAlign(
            roi_levels, output_size=config.mask_size // 2, sampling_ratio=config.roi_sampling_ratio
        ),
    }


def score_floor(threshold: float) -> float:
    """The value to give torchvision's ``box_score_thresh`` so that a float32 score equal to
    ``threshold`` is kept: torchvision keeps ``score > thresh``, this project ``score >= t``."""
    below = np.nextafter(np.float32(threshold), np.float32(-np.inf), dtype=np.float32)
    return float(below)


def build_model(
    config: Config, weights: str | None = None, run_dir: str | None = None, trust: bool = False
) -> FaceMaskRCNN:
    """Build the model and load ``weights`` (default: ``config.weights``; see load_weights)."""

    weights = config.weights if weights is None else weights
    backbone = build_backbone(
        config.backbone,
        config.fpn_channels,
        imagenet=weights == "imagenet",
        frozen_bn=config.weights != "none",  # any pretrained start, also when loading a checkpoint
        finest_stride=config.finest_stride,
        separable=config.separable_convs,
        fpn_norm=config.fpn_norm,
    )
    levels = len(backbone_strides(backbone))
    kwargs = model_kwargs(config, levels, backbone.roi_levels)
    model = FaceMaskRCNN(backbone, config.class_names, config.loss_weights, **kwargs)
    if weights not in ("imagenet", "none"):
        load_weights(model, weights, run_dir=run_dir, trust=trust)
    return model


def load_trained(
    path: str | Path, overrides: list[str] | None = None, trust: bool = False
) -> tuple[FaceMaskRCNN, Config]:
    """A training checkpoint's model (eval mode) and config.

    ``overrides`` (``key=value``) change inference settings of the saved config, such as
    ``rpn_post_nms_test``; one that changes a layer's shape is refused (ValueError).
    ``trust`` lets a checkpoint that needs pickle load.
    """
    from .weights import read_checkpoint

    checkpoint = read_checkpoint(path, trust)
    if "config" not in checkpoint:
        raise ValueError(f"{path}: a bare state dict has no config; use a training checkpoint")
    config = saved_config({**checkpoint["config"], **parse_overrides(overrides or [])})
    model = build_model(config, weights="none")
    try:
        model.load_state_dict(checkpoint["model"])
    except RuntimeError as err:
        if not overrides:
            raise
        raise ValueError(
            f"{path}: {' '.join(overrides)} changes the model's layers; only inference "
            f"settings (thresholds, proposal counts, int8_box_head) can be overridden"
        ) from err
    return model.eval(), config
