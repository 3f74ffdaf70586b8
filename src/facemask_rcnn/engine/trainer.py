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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from timm.utils import ModelEmaV3
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from .. import __version__
from ..config import Config, Stage, saved_config
from ..data import MaskDataset, collate, load_records
from ..data.load import MissingSplit
from ..data.records import ImageRecord, class_names_of
from ..data.synth import training_scenes
from ..fileio import new_folder
from ..modeling import FaceMaskRCNN, build_model
from . import distributed as dist
from .checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .layers import TrainingError, build_optimizer, build_scheduler, param_groups, set_trainable
from .logs import TensorBoard, plot_losses, write_metrics
from .validation import to_device, val_ap50, validation_loss

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """A non-finite loss; the message names the step, the batch's files and the last checkpoint."""


@dataclass
class TrainResult:
    run_dir: Path
    metrics: list[dict[str, Any]]
    model: FaceMaskRCNN


@dataclass
class StageClock:
    """A stage's share of a time budget: training stops one validation's length before ``end``."""

    end: float
    validation_seconds: float = 0.0
    start: float = field(default_factory=time.perf_counter)

    def deadline(self) -> float:
        return self.end - self.validation_seconds

    def share(self) -> float:
        """Share of the stage's training time spent: lets the learning rate anneal by the
        deadline, so a cut stage does not stop at a high rate on one noisy point of its path."""
        return (time.perf_counter() - self.start) / max(1e-6, self.deadline() - self.start)


def train_one_epoch(
    model: torch.nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR,
    device: torch.device,
    grad_clip: float,
    describe: str,
    last_good: Path,
    deadline: float | None = None,
    average: ModelEmaV3 | None = None,
) -> dict[str, float]:
    """One pass over ``loader`` (or until ``deadline``): mean loss parts and total, images seen.

    ``average``, when given, follows the weights after every step (the stage's step count from
    the scheduler sets its warm-up, so a resumed stage continues the same average).
    """
    model.train()
    sums: dict[str, float] = {}
    scaler = torch.amp.GradScaler("cuda") if device.type == "cuda" else None
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
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(
                [p for g in optimizer.param_groups for p in g["params"]], grad_clip
            )
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        scheduler.step()
        if average is not None:
            average.update(getattr(model, "module", model), step=scheduler.last_epoch)
        for key, value in {**losses, "loss": loss}.items():
            sums[key] = sums.get(key, 0.0) + float(value.detach())
        bar.set_postfix({k.replace("loss_", ""): f"{v / (step + 1):.3f}" for k, v in sums.items()})
        count = step + 1
        seen += len(targets)
        if deadline is not None and time.perf_counter() > deadline:
            break
    count = max(1, count)
    return {**dist.average({k: v / count for k, v in sums.items()}), "images": seen}


def load_splits(
    data: str | Path | list[str | Path], config: Config, keep_empty: bool = False
) -> tuple[list[ImageRecord], list[ImageRecord], list[str]]:
    """Train and val records of one or more datasets, and the class names.

    Each dataset's ``val`` split is used; one without it gives every 10th training image.
    """
    train_records: list[ImageRecord] = []
    val_records: list[ImageRecord] = []
    for source in data if isinstance(data, list) else [data]:
        attribute = config.class_attribute
        try:
            records, problems = load_records(source, "train", attribute, keep_empty=keep_empty)
        except MissingSplit:  # a dataset without split folders: all of it is for training
            records, problems = load_records(source, None, attribute, keep_empty=keep_empty)
        try:
            val, val_problems = load_records(source, "val", attribute, keep_empty=True)
        except MissingSplit:
            log.warning("%s: no val split; holding out every 10th training image", source)
            val, val_problems = records[::10], []
            records = [r for i, r in enumerate(records) if i % 10]
        for problem in problems + val_problems:
            log.warning("%s", problem)
        train_records += records
        val_records += val
    if not any(r.instances for r in train_records):
        raise TrainingError(f"{data}: the train split has no instances: nothing to learn")
    names = config.class_names
    if config.class_attribute and names == ["face_mask"]:
        names = class_names_of(train_records)
    unknown = set(class_names_of(train_records + val_records)) - set(names)
    if unknown:
        raise TrainingError(f"{data}: classes {sorted(unknown)} are not in class_names {names}")
    return train_records, val_records, names


def _loader(dataset: MaskDataset, config: Config, shuffle: bool, epoch: int) -> DataLoader:
    sampler = None
    generator = torch.Generator().manual_seed(config.seed + epoch)
    if dist.is_distributed():
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


def synthetic_records(config: Config, class_names: list[str], run_dir: Path) -> list[ImageRecord]:
    """``config.synthetic_scenes`` procedural scenes for the train split, rendered into the run.

    Only for single-class runs: the synthesiser's mask kinds are not the user's classes.
    """
    if not config.synthetic_scenes:
        return []
    if len(class_names) != 1:
        log.warning(
            "synthetic_scenes=%d ignored: synthetic masks cannot carry the classes %s",
            config.synthetic_scenes,
            class_names,
        )
        return []
    args = (run_dir / "synthetic", config.synthetic_scenes, config.seed, config.image_size)
    records = training_scenes(*args, class_names[0]) if dist.is_main() else None
    dist.barrier()  # rank 0 has rendered them; the others read them back
    return records if records is not None else training_scenes(*args, class_names[0])


def _stages(config: Config, only: str | None) -> list[Stage]:
    if only is None:
        return config.schedule
    chosen = [s for s in config.schedule if s.layers == only]
    if not chosen:
        raise TrainingError(f"--stage {only}: the schedule has no stage with layers={only!r}")
    return chosen


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
) -> TrainResult:
    """Run the schedule (or one ``stage``) on ``data``; write checkpoints and logs to a run folder.

    ``data`` is one dataset or a list (their splits are concatenated). ``weights`` overrides
    ``config.weights`` (imagenet, coco, a path, or ``last``); ``resume`` continues the run in
    ``out`` exactly where its ``last.pt`` stopped. ``time_budget`` (seconds) bounds the whole
    call, data preparation and validation included: each stage may run until its share (in
    proportion to its epochs, counted from the start) minus the last validation's duration,
    then ends after the current iteration and is validated and checkpointed as usual; its
    learning rate anneals by that deadline (``StageClock``). ``trust_checkpoint`` lets a
    ``weights`` file that needs pickle load.
    """
    called = time.perf_counter()
    distributed = dist.init_distributed()
    device = torch.device(
        f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu"
    )
    torch.manual_seed(config.seed)
    if resume:
        run_dir = Path(out)
        checkpoint = load_checkpoint(run_dir / "last.pt")
        config = saved_config(checkpoint["config"])
    else:
        run_dir = dist.broadcast(new_folder(out, exist_ok) if dist.is_main() else None)
        checkpoint = None
    train_records, val_records, class_names = load_splits(data, config, keep_empty)
    config = dataclasses.replace(config, class_names=class_names)
    train_records = train_records + synthetic_records(config, class_names, run_dir)
    stages = _stages(config, stage)
    model = build_model(config, "none" if resume else weights, trust=trust_checkpoint)
    model.to(device)
    train_set = MaskDataset(
        train_records,
        class_names,
        config.image_size,
        config.augment,
        cache=True,
        tile_crop=config.tile_crop,
    )
    val_set = MaskDataset(val_records, class_names, config.image_size, cache=True)
    metrics: list[dict[str, Any]] = []
    start_stage, start_epoch, best, since_best = 0, 0, None, 0
    if checkpoint is not None:  # the raw weights; "model" holds the average when there is one
        model.load_state_dict(checkpoint.get("training_model", checkpoint["model"]))
        metrics, best = checkpoint["metrics"], checkpoint["best"]
        start_stage, start_epoch = checkpoint["stage"], checkpoint["stage_epoch"]
        since_best = checkpoint["since_best"]
        if start_epoch >= stages[start_stage].epochs:
            start_stage, start_epoch, since_best = start_stage + 1, 0, 0
    if dist.is_main():
        config.save(run_dir / "config.yaml")
        log.info(
            "run folder: %s (%d train / %d val images, classes %s)",
            run_dir,
            len(train_records),
            len(val_records),
            class_names,
        )
    board = TensorBoard(run_dir) if dist.is_main() else None
    higher_better = config.best_metric == "val_ap50"
    total_epochs = sum(x.epochs for x in stages)
    clock: StageClock | None = None
    average: ModelEmaV3 | None = None
    for si in range(start_stage, len(stages)):
        st = stages[si]
        if si > start_stage or (si > 0 and start_epoch == 0):
            dist.barrier()  # rank 0 has written best.pt
            if (run_dir / "best.pt").is_file():  # the original: restart from the best weights
                model.load_state_dict(load_checkpoint(run_dir / "best.pt")["model"])
        count = set_trainable(model, st.layers)
        groups = param_groups(model, st.lr, config.layer_lr_decay)
        optimizer = build_optimizer(config, groups)
        iters = st.epochs * math.ceil(len(train_set) / (config.batch_size * dist.world_size()))
        first_epoch = start_epoch if si == start_stage else 0
        if time_budget:
            done = sum(x.epochs for x in stages[: si + 1])
            end = called + time_budget * done / total_epochs
            clock = StageClock(end, clock.validation_seconds if clock else 0.0)
        share = clock.share if clock else None
        scheduler = build_scheduler(optimizer, st.warmup_iters, iters, share)
        average = weight_average(model, config.ema_decay)
        if checkpoint is not None and si == checkpoint["stage"] and first_epoch > 0:
            optimizer.load_state_dict(checkpoint["optimizer"])
            scheduler.load_state_dict(checkpoint["scheduler"])
            if average is not None:
                average.module.load_state_dict(checkpoint["model"])
        if checkpoint is not None and si == start_stage:
            set_rng_state(checkpoint["rng"])
        log.info(
            "stage %d/%d: layers=%s, %d epochs, lr %g, %d trainable parameters; groups %s",
            si + 1,
            len(stages),
            st.layers,
            st.epochs,
            st.lr,
            count,
            [(g["name"], g["initial_lr"]) for g in groups],
        )
        wrapped = model
        if distributed:
            wrapped = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
        for e in range(first_epoch, st.epochs):
            epoch = len(metrics) + 1
            started = time.perf_counter()
            describe = f"epoch {epoch} [{st.layers} {e + 1}/{st.epochs}]"
            losses = train_one_epoch(
                wrapped,
                _loader(train_set, config, True, epoch),
                optimizer,
                scheduler,
                device,
                config.grad_clip,
                describe,
                run_dir / "last.pt",
                clock.deadline() if clock else None,
                average,
            )
            row: dict[str, Any] = {
                "epoch": epoch,
                "stage": si + 1,
                "layers": st.layers,
                "lr": optimizer.param_groups[0]["lr"],
                **losses,
            }
            validation_started = time.perf_counter()
            val_loader = _loader(val_set, config, False, epoch)
            evaluated = average.module if average is not None else model
            row.update(validation_loss(evaluated, val_loader, device, config.seed))
            if config.val_ap_every and epoch % config.val_ap_every == 0:
                row["val_ap50"] = val_ap50(evaluated, val_loader, device)
            if clock:
                clock.validation_seconds = time.perf_counter() - validation_started
            row["seconds"] = round(time.perf_counter() - started, 2)
            row["trainable_params"] = count
            metrics.append(row)
            value = row.get(config.best_metric, row["val_loss"])
            improved = best is None or (value > best if higher_better else value < best)
            if improved:
                best, since_best = value, 0
            else:
                since_best += 1
            if dist.is_main():
                state = {
                    "model": evaluated.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "epoch": epoch,
                    "stage": si,
                    "stage_epoch": e + 1,
                    "config": config.to_dict(),
                    "class_names": class_names,
                    "metrics": metrics,
                    "best": best,
                    "since_best": since_best,
                    "version": __version__,
                    "rng": rng_state(),
                }
                if average is not None:
                    state["training_model"] = model.state_dict()
                save_checkpoint(run_dir / "last.pt", state)
                if improved:
                    save_checkpoint(run_dir / "best.pt", state)
                write_metrics(run_dir / "metrics.csv", metrics)
                plot_losses(run_dir / "loss.png", metrics)
                board.add(row)  # type: ignore[union-attr]
                log.info("%s: %s", describe, _summary(row))
            if config.patience and since_best >= config.patience:
                log.info("early stop: %d epoch(s) without improvement", since_best)
                break
            if clock and time.perf_counter() > clock.deadline():
                log.info("stage %d: its share of the time budget is spent", si + 1)
                break
        start_epoch = 0
    if board is not None:
        board.close()
    dist.barrier()
    final = average.module if average is not None else model
    return TrainResult(run_dir, metrics, final)


def weight_average(model: FaceMaskRCNN, decay: float) -> ModelEmaV3 | None:
    """A moving average of the weights for one stage, or None when ``decay`` is 0.

    timm's warm-up ramps the decay as 1 - (1 + step) ** -2/3 up to ``decay``: early steps count
    fully, and over a short stage the average covers roughly its last tenth.
    """
    return ModelEmaV3(model, decay=decay, use_warmup=True) if decay else None


def _summary(row: dict[str, Any]) -> str:
    keys = ("loss", "val_loss", "val_ap50", "seconds")
    return ", ".join(f"{k} {row[k]:.4g}" for k in keys if k in row)
