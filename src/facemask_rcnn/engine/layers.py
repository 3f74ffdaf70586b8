"""Which parameters a stage trains, and the optimizer and schedule over them.

``layers`` speaks Matterport's vocabulary (heads, 3+, 4+, 5+, all) or is a regex; backbone
stages are the measured ones (``model.backbone_stages``), so the words mean the same for every
backbone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import torch

from ..config import Config
from ..errors import TrainingError
from ..modeling import FaceMaskRCNN

STAGE_LAYERS = {"heads": 6, "5+": 5, "4+": 4, "3+": 3, "2+": 2, "all": 1}


def trainable_names(model: FaceMaskRCNN, layers: str) -> list[str]:
    """Parameter names a stage trains: Matterport's heads / 3+ / 4+ / 5+ / all, or a regex."""
    names = [n for n, _ in model.named_parameters()]
    if layers in STAGE_LAYERS:
        first = STAGE_LAYERS[layers]
        stages = model.backbone_stages
        return [n for n in names if n not in stages or stages[n] >= first]
    pattern = re.compile(layers)
    return [n for n in names if pattern.search(n)]


def set_trainable(model: FaceMaskRCNN, layers: str) -> int:
    """Freeze everything but the stage's parameters; return how many scalars will train.

    Frozen BatchNorm buffers are untouched; a pattern that selects nothing is an error.
    """
    chosen = set(trainable_names(model, layers))
    if not chosen:
        raise TrainingError(f"layers {layers!r} selects no parameter")
    count = 0
    for name, param in model.named_parameters():
        param.requires_grad_(name in chosen)
        count += param.numel() if name in chosen else 0
    return count


def param_groups(model: FaceMaskRCNN, lr: float, decay: float) -> list[dict[str, Any]]:
    """One group for the heads and one per backbone stage, stage k at ``lr * decay**(6 - k)``."""
    groups: dict[int, list[torch.nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            groups.setdefault(model.backbone_stages.get(name, 6), []).append(param)
    return [
        {"params": params, "lr": lr * decay ** (6 - k), "name": "heads" if k == 6 else f"stage{k}"}
        for k, params in sorted(groups.items(), reverse=True)
    ]


def build_optimizer(config: Config, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, weight_decay=config.weight_decay)
    return torch.optim.SGD(groups, momentum=config.momentum, weight_decay=config.weight_decay)


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    warmup: int,
    total: int,
    time_share: Callable[[], float] | None = None,
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-iteration: linear warm-up, then cosine from the stage's rate down to 5 % of it.

    ``time_share`` (the share of the stage's time budget spent, 0 to 1) lets a stage that a
    budget will cut short still end at the low rate: progress is the larger of the two shares.
    """

    def factor(step: int) -> float:
        ramp = min(1.0, (step + 1) / warmup) if warmup else 1.0
        progress = step / max(1, total)
        if time_share is not None:
            progress = max(progress, time_share())
        progress = min(1.0, progress)
        return ramp * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
