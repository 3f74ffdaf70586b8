"""Device names (cpu, cuda, cuda:N, mps) as the command line takes them."""

from __future__ import annotations

import torch


def resolve_device(device: str | None) -> torch.device:
    """``device``, or CUDA when there is one, else the CPU; ValueError for an unusable one."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"--device {device}: not a device name (cpu, cuda, cuda:N, mps)") from err
    usable = {
        "cpu": True,
        "cuda": torch.cuda.is_available()
        and (resolved.index is None or resolved.index < torch.cuda.device_count()),
        "mps": torch.backends.mps.is_available(),
    }
    if not usable.get(resolved.type, False):
        raise ValueError(f"--device {device}: not available on this machine")
    return resolved
