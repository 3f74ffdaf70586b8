"""torchrun / DDP helpers: one process per device, rank 0 writes, metrics averaged over ranks."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init_distributed() -> bool:
    """Join the process group torchrun describes in the environment; False when run alone."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return True


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    return rank() == 0


def _device() -> torch.device:
    """Where collectives' tensors live: NCCL reduces CUDA tensors only."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def average(values: dict[str, float]) -> dict[str, float]:
    """Mean of each value over ranks (identity when alone)."""
    if not is_distributed() or not values:
        return values
    keys = sorted(values)
    tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=_device())
    dist.all_reduce(tensor)
    return {k: float(v) / world_size() for k, v in zip(keys, tensor.tolist(), strict=True)}


def maximum(value: float) -> float:
    """The largest ``value`` over ranks (itself when alone): ranks that decide from their own
    clocks agree this way, so none stops a step early and leaves another waiting."""
    if not is_distributed():
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=_device())
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return float(tensor.item())


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def broadcast(obj: object) -> object:
    """Rank 0's ``obj`` on every rank (e.g. the run folder it chose)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
