"""Inference-only rewrites: BatchNorm folded into the convolution before it, int8 linear layers.

A BatchNorm in eval mode is a per-channel affine map, so ``bn(conv(x))`` equals one convolution
with scaled weights and a bias. On a 2-core CPU this, with channels-last tensors, ran the
EfficientNet-Lite0 body in 37 ms instead of 110 at 384 px, the whole default model in 180 ms
instead of 215 (``benchmarks/speed.py``). The box head's first fully connected layer was the
largest single cost left at 200 proposals (200 x 6272 x 1024, 19 ms of a 139-ms photo); dynamic
int8 quantisation took 8 % off the whole prediction, scores within 0.002. Do not train the
result.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn


def _is_batchnorm(module: nn.Module) -> bool:
    """nn.BatchNorm2d, torchvision's FrozenBatchNorm2d and timm's (Frozen)BatchNormAct2d."""
    names = ("running_mean", "running_var", "weight", "bias", "eps")
    if isinstance(module, nn.Conv2d) or not all(hasattr(module, name) for name in names):
        return False
    return module.running_var is not None  # track_running_stats=False normalises per batch


def _fold_pair(conv: nn.Conv2d, norm: nn.Module) -> None:
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    shift = norm.bias - norm.running_mean * scale
    if conv.bias is not None:
        shift = shift + conv.bias * scale
    conv.weight = nn.Parameter(conv.weight.detach() * scale.reshape(-1, 1, 1, 1))
    conv.bias = nn.Parameter(shift.detach())


@torch.no_grad()
def fold_batchnorm(model: nn.Module) -> int:
    """Fold every BatchNorm registered right after a Conv2d into it, in place; returns the count.

    Registration order is forward order in torchvision's and timm's blocks (the tests compare
    outputs per backbone). timm's BatchNormAct keeps its dropout and activation.
    """
    folded = 0
    for parent in list(model.modules()):
        children = list(parent.named_children())
        for (_, conv), (name, norm) in zip(children, children[1:], strict=False):
            if not (isinstance(conv, nn.Conv2d) and _is_batchnorm(norm)):
                continue
            if norm.running_mean.numel() != conv.out_channels:
                continue
            _fold_pair(conv, norm)
            rest = [getattr(norm, a) for a in ("drop", "act") if getattr(norm, a, None) is not None]
            setattr(parent, name, nn.Sequential(*rest) if rest else nn.Identity())
            folded += 1
    return folded


def for_inference(model: nn.Module, int8_linear: bool = False) -> nn.Module:
    """Eval mode, BatchNorm folded, channels-last weights and, with ``int8_linear``, every
    ``nn.Linear`` quantised dynamically to int8 (CPU only): how Predictor runs a checkpoint."""
    fold_batchnorm(model.eval())
    model = model.to(memory_format=torch.channels_last)
    if int8_linear:
        with warnings.catch_warnings():  # deprecated for torchao, but in every torch we admit
            warnings.filterwarnings("ignore", r"torch\.(ao\.quantization|quantize_per_tensor)")
            torch.ao.quantization.quantize_dynamic(
                model, {nn.Linear}, dtype=torch.qint8, inplace=True
            )
    return model
