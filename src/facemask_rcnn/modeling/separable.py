"""Depthwise-separable 3x3 convolutions for the FPN outputs and the RPN head.

At the default 384 px those two sets of 3x3 convolutions run on the stride-4 level and cost
about half of the model's FLOPs; a depthwise 3x3 followed by a pointwise 1x1 costs about an
eighth of a full 3x3 at 128 channels (MobileNet's trade, here applied to the fresh heads only).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn
from torchvision.models.detection.rpn import RPNHead
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.misc import Conv2dNormActivation


def separable_conv(
    channels: int,
    norm_layer: Callable[..., nn.Module] | None = None,
    activation_layer: Callable[..., nn.Module] | None = None,
) -> nn.Sequential:
    """Depthwise 3x3 then pointwise 1x1 (+ optional norm and activation), same shape in and out."""
    return nn.Sequential(
        nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
        Conv2dNormActivation(
            channels, channels, 1, norm_layer=norm_layer, activation_layer=activation_layer
        ),
    )


def separate_fpn_outputs(
    fpn: FeaturePyramidNetwork, norm_layer: Callable[..., nn.Module] | None
) -> None:
    """Replace the FPN's 3x3 output convolutions (``layer_blocks``) by separable ones, in place."""
    for i, block in enumerate(fpn.layer_blocks):
        fpn.layer_blocks[i] = separable_conv(block[0].out_channels, norm_layer)


def separable_rpn_head(channels: int, anchors_per_location: int) -> RPNHead:
    """torchvision's RPNHead with its shared 3x3 convolution (+ ReLU) made separable."""
    head = RPNHead(channels, anchors_per_location)
    head.conv = nn.Sequential(separable_conv(channels, activation_layer=nn.ReLU))
    return head
