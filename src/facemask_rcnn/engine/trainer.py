"""Staged fine-tuning: the stage and epoch loop, time budget, checkpoints, resume, logs.

The schedule is the original's shape: train the heads on a frozen backbone, then more layers at a
lower rate starting from the best-validation weights so far. Every epoch writes ``last.pt``
(and ``best.pt`` on improvement) atomically, with the RNG state, so ``resume`` is exact.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from timm.utils import ModelEmaV3
from torch.utils.data import DataLoader, DistributedSampler, Sampler
from tqdm import tqdm

from ..config import Config, Stage, saved_config
from ..data import MaskDataset, collate
from ..data.training.sampling import RepeatFactorSampler, repeat_factors
from ..devices import resolve_device
from ..errors import TrainingDiverged
from ..fileio import new_folder
from ..modeling import FaceMaskRCNN, build_model
from ..modeling.int8_training import simulate_int8, stop_simulating_int8
from ..version import __version__
from . import distributed as dist
from .checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .layers import TrainingError, build_optimizer, build_scheduler, param_groups, set_trainable
from .logs import TensorBoard, plot_losses, write_metrics
from .progress import Progress, StageClock
from .splits import load_splits, synthetic_records
from .validation import to_device, train_with_norms_held, val_ap50, validation_loss

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingSummary:
    """What a training ended with: epochs run, the best epoch by ``best_metric`` and its value
    (None before any validation), the last validation AP50 (None when never computed), wall
    time; the files are in ``run_dir``."""

    run_dir: Path
    epochs: int
    best_epoch: int | None
    best_metric: str
    best_value: float | None
    last_val_ap50: float | None
    seconds: float

    @property
    def files(self) -> dict[str, Path]:
        """The run's checkpoints, metrics table and loss plot, by name."""
        names = ("best.pt", "last.pt", "metrics.csv", "loss.png")
        return {name: self.run_dir / name for name in names}

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` form: fields and file paths as strings."""
        files = {name.replace(".", "_"): str(path) for name, path in self.files.items()}
        return {**dataclasses.asdict(self), "run_dir": str(self.run_dir), **files}


@dataclass
class TrainResult:
    run_dir: Path
    metrics: list[dict[str, Any]]
    model: FaceMaskRCNN
    summary: TrainingSummary


def train_one_epoch(
    model: torch.nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR,
    device: torch.device,
    grad_clip: float,
    describe: str,
    last_good: Path,
    clock: StageClock | None = None,
    average: ModelEmaV3 | None = None,
    scaler: torch.amp.GradScaler | None = None,
    norms_held: bool = False,
) -> dict[str, float]:
    """One pass over ``loader`` (or until ``clock`` runs out, agreed by all ranks): mean loss
    parts and total, images seen. ``scaler`` (CUDA) runs the steps in mixed precision;
    ``average`` follows the weights after every step; ``norms_held`` keeps every BatchNorm's
    running statistics (an int8 stage)."""
    if norms_held:
        train_with_norms_held(model)
    else:
        model.train()
    sums: dict[str, float] = {}
    names = loader.dataset.records  # type: ignore[attr-defined]
    count = seen = 0
    bar = tqdm(loader, describe, leave=False, disable=None if dist.is_main() else True)
    for step, (images, targets) in enumerate(bar):
        images, targets = to_device(images, targets, device)
        with torch.autocast(device.type, enabled=scaler is not None):
            losses = model(images, targets)
            loss = sum(losses.values())
        if not torch.isfinite(loss):
            files = ", ".join(names[int(t["image_id"])].path.name for t in targets)
            parts = {k: round(float(v.detach()), 4) for k, v in losses.items()}
            raise TrainingDiverged(
                f"{describe}: non-finite loss at step {step} (batch: {files}; parts: {parts}); "
                f"last good checkpoint: {last_good}"
            )
        optimizer_step(loss, optimizer, grad_clip, scaler)
        if clock is not None:
            clock.sync()  # before the schedule reads the share
        scheduler.step()
        if average is not None:
            average.update(getattr(model, "module", model), step=scheduler.last_epoch)
        for key, value in {**losses, "loss": loss}.items():
            sums[key] = sums.get(key, 0.0) + float(value.detach())
        bar.set_postfix({k.replace("loss_", ""): f"{v / (step + 1):.3f}" for k, v in sums.items()})
        count, seen = step + 1, seen + len(targets)
        if clock is not None and clock.agreed >= 1:
            break
    return {**dist.average({k: v / max(1, count) for k, v in sums.items()}), "images": seen}


def optimizer_step(
    loss: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    grad_clip: float,
    scaler: torch.amp.GradScaler | None,
) -> None:
    """Backward, clip, step: through ``scaler`` when training in mixed precision."""
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
    else:
        loss.backward()
    if grad_clip > 0:
        params = [p for g in optimizer.param_groups for p in g["params"]]
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()


def _loader(dataset: MaskDataset, config: Config, shuffle: bool, epoch: int) -> DataLoader:
    sampler: Sampler[int] | None = None
    generator = torch.Generator().manual_seed(config.seed + epoch + 1000 * dist.rank())
    if shuffle and config.repeat_threshold > 0:
        factors = repeat_factors(dataset.records, config.repeat_threshold)
        sampler = RepeatFactorSampler(factors, config.seed, epoch, dist.rank(), dist.world_size())
    elif dist.is_distributed():
        sampler = DistributedSampler(dataset, shuffle=shuffle, seed=config.seed)
        sampler.set_epoch(epoch)
    return DataLoader(
        dataset,
        batch_size=config.batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        generator=generator,
        num_workers=config.workers,
        collate_fn=collate,
    )


def _stages(config: Config, only: str | None) -> list[Stage]:
    if only is None:
        return config.schedule
    chosen = [s for s in config.schedule if s.layers == only]
    if not chosen:
        raise TrainingError(f"--stage {only}: the schedule has no stage with layers={only!r}")
    return chosen


@dataclass
class Run:
    """What the stages of one ``train`` call share."""

    config: Config
    run_dir: Path
    device: torch.device
    model: FaceMaskRCNN
    train_set: MaskDataset
    val_set: MaskDataset
    stages: list[Stage]
    progress: Progress
    checkpoint: dict[str, Any] | None  # the one resumed from
    scaler: torch.amp.GradScaler | None  # CUDA mixed precision; one for the whole run
    budget: tuple[float, float] | None = None  # (start, seconds) of a time budget
    clock: StageClock | None = None
    average: ModelEmaV3 | None = None
    board: TensorBoard | None = None


def train(
    config: Config,
    data: str | Path | list[str | Path],
    out: str | Path = "runs/facemask",
    weights: str | None = None,
    stage: str | None = None,
    resume: bool = False,
    exist_ok: bool = False,
    keep_empty: bool = False,
    time_budget: float | None = None,
    trust_checkpoint: bool = False,
    device: str | None = None,
) -> TrainResult:
    """Run the schedule (or one ``stage``) on ``data``; write checkpoints and logs to a run folder.

    ``data`` is one dataset or a list (their splits are concatenated). ``weights`` overrides
    ``config.weights`` (imagenet, coco, a path, or ``last``); ``resume`` continues the run in
    ``out`` exactly where its ``last.pt`` stopped. ``time_budget`` (seconds) bounds the whole
    call, data preparation and validation included: each stage may run until its share (in
    proportion to its epochs, counted from the start) minus the last validation's duration,
    then ends after the current iteration and is validated and checkpointed as usual; its
    learning rate anneals by that deadline (``StageClock``). ``trust_checkpoint`` lets a
    ``weights`` file that needs pickle load. ``device``: cpu, cuda, cuda:N or mps (default:
    this process's CUDA device if there is one; under torchrun, ``cuda`` is each rank's own).
    """
    called = time.perf_counter()
    run = start_run(
        config, data, out, weights, stage, resume, exist_ok, keep_empty, trust_checkpoint, device
    )
    run.budget = (called, time_budget) if time_budget else None
    run.board = TensorBoard(run.run_dir) if dist.is_main() else None
    first = run.progress.stage
    for si in range(first, len(run.stages)):
        run_stage(run, si, resumed=si == first and run.checkpoint is not None)
    if run.board is not None:
        run.board.close()
    dist.barrier()
    final = run.average.module if run.average is not None else run.model
    summary = training_summary(run, time.perf_counter() - called)
    return TrainResult(run.run_dir, run.progress.metrics, final, summary)


def start_run(
    config: Config,
    data: str | Path | list[str | Path],
    out: str | Path,
    weights: str | None,
    stage: str | None,
    resume: bool,
    exist_ok: bool,
    keep_empty: bool,
    trust: bool,
    device_name: str | None = None,
) -> Run:
    """The run folder, data, model and progress: fresh, or as ``out/last.pt`` left them."""
    if config.task != "masks":
        raise TrainingError(
            f"task: {config.task}: this trains a masks model; the face head trains by "
            f"facemask train --config configs/faces.yaml (faces.train.train_face_head)"
        )
    dist.init_distributed()
    device = resolve_device(device_name)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())  # torchrun: LOCAL_RANK's
    torch.manual_seed(config.seed + dist.rank())  # each rank its own augmentation stream
    checkpoint = None
    if resume:
        run_dir = Path(out)
        checkpoint = load_checkpoint(run_dir / "last.pt")
        config = saved_config(checkpoint["config"])
    else:
        run_dir = dist.broadcast(new_folder(out, exist_ok) if dist.is_main() else None)
    train_records, val_records, class_names = load_splits(data, config, keep_empty)
    config = dataclasses.replace(config, class_names=class_names)
    train_records += synthetic_records(config, class_names, run_dir)
    model = build_model(config, "none" if resume else weights, trust=trust).to(device)
    train_set = MaskDataset(
        train_records, class_names, config.image_size, config.augment, True, config.tile_crop
    )
    val_set = MaskDataset(val_records, class_names, config.image_size, cache=True)
    scaler = mixed_precision_scaler(device)
    stages = _stages(config, stage)
    run = Run(
        config, run_dir, device, model, train_set, val_set, stages, Progress(), checkpoint, scaler
    )
    if checkpoint is not None:
        resume_progress(run, checkpoint)
    if dist.is_main():
        config.save(run_dir / "config.yaml")
        log.info(
            "run folder: %s (%d train / %d val images, classes %s)",
            run_dir,
            len(train_records),
            len(val_records),
            class_names,
        )
    return run


def mixed_precision_scaler(device: torch.device) -> torch.amp.GradScaler | None:
    """The run's one GradScaler (saved in every checkpoint): CUDA trains in mixed precision."""
    return torch.amp.GradScaler("cuda") if device.type == "cuda" else None


def resume_progress(run: Run, checkpoint: dict[str, Any]) -> None:
    """Weights, scaler and progress of ``checkpoint``; a finished or ended stage moves on."""
    run.model.load_state_dict(checkpoint.get("training_model", checkpoint["model"]))
    if run.scaler is not None and checkpoint.get("scaler"):
        run.scaler.load_state_dict(checkpoint["scaler"])
    progress = Progress(**checkpoint["progress"])
    if progress.stage_done or progress.stage_epoch >= run.stages[progress.stage].epochs:
        progress.stage, progress.stage_epoch = progress.stage + 1, 0
        progress.stage_done, progress.since_best = False, 0
    run.progress = progress


def run_stage(run: Run, si: int, resumed: bool) -> None:
    """One stage: from the best weights so far (the original's restart), with its own
    optimiser, schedule and weight average; ends after its epochs, patience or time share."""
    st, config, progress = run.stages[si], run.config, run.progress
    if si > 0 and not (resumed and progress.stage_epoch > 0):
        dist.barrier()  # rank 0 has written best.pt
        if (run.run_dir / "best.pt").is_file():
            run.model.load_state_dict(load_checkpoint(run.run_dir / "best.pt")["model"])
    count = set_trainable(run.model, st.layers)
    groups = param_groups(run.model, st.lr, config.layer_lr_decay)
    optimizer = build_optimizer(config, groups)
    per_epoch = round(sum(repeat_factors(run.train_set.records, config.repeat_threshold)))
    iters = st.epochs * math.ceil(per_epoch / (config.batch_size * dist.world_size()))
    run.clock = stage_clock(run, si)
    scheduler = build_scheduler(optimizer, st.warmup_iters, iters, run.clock and run.clock.share)
    if st.int8:
        log.info("stage %d: int8 rounding simulated in %d layers", si + 1, simulate_int8(run.model))
    run.average = weight_average(run.model, config.ema_decay)
    if resumed:
        restore_stage(run, optimizer, scheduler)
    else:
        progress.stage, progress.stage_epoch, progress.stage_done = si, 0, False
    log.info(
        "stage %d/%d: layers=%s, %d epochs, lr %g, %d trainable parameters; groups %s",
        *(si + 1, len(run.stages), st.layers, st.epochs, st.lr, count),
        [(g["name"], g["initial_lr"]) for g in groups],
    )
    wrapped = run.model
    if dist.is_distributed():
        wrapped = torch.nn.parallel.DistributedDataParallel(run.model, find_unused_parameters=True)
    for e in range(progress.stage_epoch, st.epochs):
        row = run_epoch(run, wrapped, optimizer, scheduler, si, count)
        improved = progress.record(row, config.best_metric)
        progress.stage_epoch = e + 1
        progress.stage_done = stage_ends_early(run, si)
        save_epoch(run, optimizer, scheduler, row, improved)
        if progress.stage_done:
            break
    if st.int8:
        stop_simulating_int8(run.model)
        if run.average is not None:
            stop_simulating_int8(run.average.module)


def stage_clock(run: Run, si: int) -> StageClock | None:
    """Stage ``si``'s share of the time budget, in proportion to its epochs."""
    if run.budget is None:
        return None
    called, seconds = run.budget
    done = sum(s.epochs for s in run.stages[: si + 1]) / sum(s.epochs for s in run.stages)
    return StageClock(called + seconds * done, run.clock.validation_seconds if run.clock else 0.0)


def restore_stage(
    run: Run, optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LambdaLR
) -> None:
    """The resumed stage's optimiser, schedule and average (mid-stage) and the RNG streams."""
    checkpoint = run.checkpoint
    assert checkpoint is not None
    if run.progress.stage_epoch > 0:
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        if run.average is not None:
            run.average.module.load_state_dict(checkpoint["model"])
    set_rng_state(checkpoint["rng"])


def run_epoch(
    run: Run,
    wrapped: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR,
    si: int,
    trainable: int,
) -> dict[str, Any]:
    """Train one epoch and validate it; the epoch's metrics row."""
    st, config = run.stages[si], run.config
    epoch = len(run.progress.metrics) + 1
    started = time.perf_counter()
    describe = f"epoch {epoch} [{st.layers} {run.progress.stage_epoch + 1}/{st.epochs}]"
    losses = train_one_epoch(
        wrapped,
        _loader(run.train_set, config, True, epoch),
        optimizer,
        scheduler,
        run.device,
        config.grad_clip,
        describe,
        run.run_dir / "last.pt",
        run.clock,
        run.average,
        run.scaler,
        norms_held=st.int8,
    )
    row: dict[str, Any] = {"epoch": epoch, "stage": si + 1, "layers": st.layers}
    row.update(lr=optimizer.param_groups[0]["lr"], **losses)
    validation_started = time.perf_counter()
    row.update(validate(run, epoch))
    if run.clock:
        run.clock.validation_seconds = time.perf_counter() - validation_started
    row.update(seconds=round(time.perf_counter() - started, 2), trainable_params=trainable)
    return row


def validate(run: Run, epoch: int) -> dict[str, float]:
    """Validation losses, and the quick AP50 on the epochs ``val_ap_every`` asks for."""
    loader = _loader(run.val_set, run.config, False, epoch)
    evaluated = run.average.module if run.average is not None else run.model
    row = validation_loss(evaluated, loader, run.device, run.config.seed)
    every = run.config.val_ap_every
    if every and epoch % every == 0:
        row["val_ap50"] = val_ap50(evaluated, loader, run.device)
    return row


def stage_ends_early(run: Run, si: int) -> bool:
    """Patience or the stage's time share is spent: decided by all ranks together."""
    patience = run.config.patience
    if patience and run.progress.since_best >= patience:
        log.info("early stop: %d epoch(s) without improvement", run.progress.since_best)
        return True
    if run.clock is not None and run.clock.sync() >= 1:
        log.info("stage %d: its share of the time budget is spent", si + 1)
        return True
    return False


def save_epoch(
    run: Run,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR,
    row: dict[str, Any],
    improved: bool,
) -> None:
    """Rank 0 writes last.pt (best.pt on improvement) atomically, metrics.csv and the plots."""
    if not dist.is_main():
        return
    evaluated = run.average.module if run.average is not None else run.model
    state = {
        "model": evaluated.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": run.scaler.state_dict() if run.scaler is not None else None,
        "epoch": row["epoch"],
        "config": run.config.to_dict(),
        "class_names": run.config.class_names,
        "progress": dataclasses.asdict(run.progress),
        "version": __version__,
        "rng": rng_state(),
    }
    if run.average is not None:
        state["training_model"] = run.model.state_dict()
    if improved:  # best.pt first: a kill between the two never leaves last.pt ahead of it
        save_checkpoint(run.run_dir / "best.pt", state)
    save_checkpoint(run.run_dir / "last.pt", state)
    write_metrics(run.run_dir / "metrics.csv", run.progress.metrics)
    plot_losses(run.run_dir / "loss.png", run.progress.metrics)
    run.board.add(row)  # type: ignore[union-attr]
    log.info("epoch %d: %s", row["epoch"], _summary(row))


def training_summary(run: Run, seconds: float) -> TrainingSummary:
    """The run's :class:`TrainingSummary`, read from its progress."""
    progress = run.progress
    last_ap = next((r["val_ap50"] for r in reversed(progress.metrics) if "val_ap50" in r), None)
    return TrainingSummary(
        run_dir=run.run_dir,
        epochs=len(progress.metrics),
        best_epoch=progress.best_epoch,
        best_metric=run.config.best_metric,
        best_value=progress.best,
        last_val_ap50=last_ap,
        seconds=round(seconds, 1),
    )


def weight_average(model: FaceMaskRCNN, decay: float) -> ModelEmaV3 | None:
    """A moving average of the weights for one stage, or None when ``decay`` is 0.

    timm's warm-up ramps the decay as 1 - (1 + step) ** -2/3 up to ``decay``: early steps count
    fully, and over a short stage the average covers roughly its last tenth.
    """
    return ModelEmaV3(model, decay=decay, use_warmup=True) if decay else None


def _summary(row: dict[str, Any]) -> str:
    keys = ("loss", "val_loss", "val_ap50", "seconds")
    return ", ".join(f"{k} {row[k]:.4g}" for k in keys if k in row)
