"""Validation during training: losses on the val split and a quick mask AP50."""

from __future__ import annotations

import torch
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import DataLoader

from ..evaluation.matterport_ap import matterport_ap, mean_matterport_ap
from . import distributed as dist


def to_device(images: list, targets: list, device: torch.device) -> tuple[list, list]:
    images = [im.to(device, non_blocking=True) for im in images]
    targets = [
        {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in t.items()}
        for t in targets
    ]
    return images, targets


def train_with_norms_held(model: torch.nn.Module) -> None:
    """Training mode (the losses are computed) with every BatchNorm kept in eval mode: running
    statistics used, not updated."""
    model.train()
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.eval()


@torch.no_grad()
def validation_loss(
    model: torch.nn.Module, loader: DataLoader, device: torch.device, seed: int
) -> dict[str, float]:
    """Losses on the val split without changing the model: BatchNorm stays in eval mode, and the
    RPN/RoI sampling draws from a forked RNG so training's random stream is untouched."""
    train_with_norms_held(model)
    sums: dict[str, float] = {}
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for images, targets in loader:
            images, targets = to_device(images, targets, device)
            losses = model(images, targets)
            for key, value in {**losses, "loss": sum(losses.values())}.items():
                sums[key] = sums.get(key, 0.0) + float(value)
    count = max(1, len(loader))
    return dist.average({f"val_{k}": v / count for k, v in sums.items()})


@torch.no_grad()
def val_ap50(model: torch.nn.Module, loader: DataLoader, device: torch.device) -> float:
    """Quick Matterport mAP@0.5 of the masks on the val split at the model's min confidence."""
    model.eval()
    per_image: list[float | None] = []
    for images, targets in loader:
        outputs = model([im.to(device) for im in images])
        for out, target in zip(outputs, targets, strict=True):
            per_image.append(
                matterport_ap(
                    target["masks"].numpy().astype(bool),
                    target["labels"].numpy(),
                    (out["masks"][:, 0] > 0.5).cpu().numpy(),
                    out["labels"].cpu().numpy(),
                    out["scores"].cpu().numpy(),
                )
            )
    return dist.average({"ap": mean_matterport_ap(per_image)})["ap"]
