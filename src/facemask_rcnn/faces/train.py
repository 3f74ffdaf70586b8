"""Train the face head: crops mined from labelled photos, one short schedule, minutes on a CPU.

Each training photo gives crops of its labelled faces (their status), of the finder's boxes that
match a labelled face (the same status, framed as the finder frames it at inference) and, where
every face is labelled, of the finder's boxes that match none (``not_a_face``). The finder's
matched boxes also fit the ``BoxMap`` that puts its boxes in the labels' convention. Where the
data outlines masks (MaskedFace's light-blue surgical masks), the mask pixels are repainted in
other colours and prints as the crops are drawn, so colour alone does not mean "masked".
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.transforms import v2

from ..config import FACE_STATUSES, Config, Stage
from ..data.images import ImageError, read_image
from ..data.records import ImageRecord
from ..data.training.transforms import Recolour
from ..engine.checkpoint import save_checkpoint
from ..engine.logs import write_metrics
from ..engine.splits import load_splits
from ..fileio import new_folder
from .crops import BoxMap, crop_windows, fit_box_map, match, square_windows
from .finder import finder_from_config
from .head import HEAD_CHECKPOINT_KIND, HEAD_CLASSES, NOT_A_FACE, FaceHead

log = logging.getLogger(__name__)
MATCH_IOU = 0.4  # a found box is this face's (the finder frames faces looser than the labels)
MISS_IOU = 0.1  # a found box overlapping no labelled face more than this is not a face
STORED_MARGIN = 1.25  # crops are stored this much wider, so training can jitter the framing
RECOLOUR_P = 0.6  # share of outlined masks repainted: real masks come in every colour


@dataclass
class FaceCrops:
    """Crops (N, 3, S, S) uint8 with a class index each (``HEAD_CLASSES``) and the mask
    pixels in each (N, S, S) bool, where the data outlines masks."""

    images: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor

    def counts(self) -> dict[str, int]:
        return {name: int((self.labels == i).sum()) for i, name in enumerate(HEAD_CLASSES)}


@dataclass
class FaceHeadResult:
    """What ``train_face_head`` wrote and measured."""

    run_dir: Path
    best_epoch: int
    best_val_loss: float
    val_accuracy: float
    train_crops: dict[str, int]
    seconds: float

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "run_dir": str(self.run_dir)}


def mine_crops(
    records: list[ImageRecord], finder, config: Config, pairs: list | None = None
) -> FaceCrops:
    """The crops of ``records`` (see the module docstring), stored ``STORED_MARGIN`` wider;
    matched (found, labelled) box pairs are appended to ``pairs`` when given."""
    size = round(config.face_crop * STORED_MARGIN)
    context = config.face_context * STORED_MARGIN
    images, labels, masks = [], [], []
    for record in records:
        try:
            array = np.asarray(read_image(record.path))
        except ImageError as err:
            log.warning("%s", err)
            continue
        faces = [(inst.box(), inst.label) for inst in record.instances if inst.label]
        labelled = np.array([box for box, _ in faces], dtype=np.float32).reshape(-1, 4)
        status = [HEAD_CLASSES.index(label) for _, label in faces]
        found = finder(array).boxes
        best, overlap = match(found, labelled, MATCH_IOU)
        windows = [labelled, found[best >= 0]]
        classes = status + [status[i] for i in best[best >= 0]]
        if pairs is not None:
            pairs += list(zip(found[best >= 0], labelled[best[best >= 0]], strict=True))
        if set(record.annotated or FACE_STATUSES) >= set(FACE_STATUSES):
            misses = found[overlap < MISS_IOU]
            windows.append(misses)
            classes += [HEAD_CLASSES.index(NOT_A_FACE)] * len(misses)
        height, width = array.shape[:2]
        outlined = np.zeros((height, width), dtype=bool)
        for inst in record.instances:
            if inst.has_shape:
                outlined |= inst.to_mask(height, width).astype(bool)
        layers = np.concatenate([array, outlined[..., None] * 255], axis=2).astype(np.float32)
        tensor = torch.from_numpy(layers).permute(2, 0, 1)
        crops = crop_windows(tensor, square_windows(np.concatenate(windows), context), size)
        images.append(crops[:, :3].round().clamp(0, 255).to(torch.uint8))
        masks.append(crops[:, 3] > 127)
        labels += classes
    if not images:
        empty = torch.zeros((0, 3, size, size), dtype=torch.uint8)
        return FaceCrops(empty, torch.zeros(0, dtype=torch.int64), empty[:, 0].bool())
    return FaceCrops(torch.cat(images), torch.tensor(labels, dtype=torch.int64), torch.cat(masks))


def augmentation(size: int) -> v2.Compose:
    """Training jitter of a stored crop: framing, flip, light and blur; hue barely moves, since
    a mask's colour against the skin is what tells a bare face from a masked one."""
    share = 1 / STORED_MARGIN**2
    return v2.Compose(
        [
            v2.RandomResizedCrop(size, scale=(share * 0.7, share * 1.3), ratio=(0.85, 1.18)),
            v2.RandomHorizontalFlip(),
            v2.ColorJitter(0.3, 0.3, 0.25, 0.02),
            v2.RandomApply([v2.GaussianBlur(5, (0.1, 1.5))], p=0.3),
        ]
    )


def class_weights(labels: torch.Tensor) -> torch.Tensor:
    """Loss weights ∝ 1/sqrt(frequency), mean 1 over the samples: rare statuses (incorrect,
    bare) count more without drowning the common ones."""
    counts = torch.bincount(labels, minlength=len(HEAD_CLASSES)).float().clamp(min=1)
    weights = counts.rsqrt()
    return weights / (weights[labels].mean())


def train_face_head(
    config: Config,
    data: str | Path | list[str | Path],
    out: str | Path = "runs/faces",
    exist_ok: bool = False,
    finder=None,  # noqa: ANN001 - a photo -> FaceBoxes callable; default: the config's
) -> FaceHeadResult:
    """Mine crops from ``data`` (any dataset with face boxes or mask outlines), train the
    head by ``config.schedule`` (``heads``: the classifier alone; otherwise every layer) and
    save ``best.pt`` (lowest validation loss) with the fitted ``BoxMap`` in the run folder."""
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    run_dir = new_folder(out, exist_ok)
    config.save(run_dir / "config.yaml")
    train_records, val_records, _ = load_splits(data, config)
    finder = finder or finder_from_config(config)
    pairs: list = []
    train_crops = mine_crops(train_records, finder, config, pairs)
    val_crops = mine_crops(val_records, finder, config)
    box_map = fit_box_map(*map(np.array, zip(*pairs, strict=True))) if pairs else BoxMap()
    log.info(
        "crops: train %s, val %s; box map %s", train_crops.counts(), val_crops.counts(), box_map
    )
    if len(train_crops.labels) == 0:
        raise ValueError(f"{data}: no labelled faces to crop")
    model = FaceHead(config.backbone, imagenet=config.weights == "imagenet")
    weights = class_weights(train_crops.labels)
    rows, best = [], (math.inf, 0, 0.0)
    epoch = 0
    for stage in config.schedule:
        for _ in range(stage.epochs):
            epoch += 1
            loss = _train_epoch(model, train_crops, weights, stage, config, epoch)
            val_loss, accuracy = _validate(model, val_crops, config.face_crop)
            rows.append({"epoch": epoch, "loss": loss, "val_loss": val_loss, "val_acc": accuracy})
            log.info(
                "epoch %d: loss %.4f, val_loss %.4f, val_acc %.4f", epoch, loss, val_loss, accuracy
            )
            if val_loss < best[0] or not val_crops.labels.numel():
                best = (val_loss, epoch, accuracy)
                save_checkpoint(run_dir / "best.pt", head_checkpoint(model, config, box_map))
    write_metrics(run_dir / "metrics.csv", rows)
    return FaceHeadResult(
        run_dir, best[1], best[0], best[2], train_crops.counts(), time.perf_counter() - started
    )


def head_checkpoint(model: FaceHead, config: Config, box_map: BoxMap) -> dict:
    """What ``best.pt`` holds: plain tensors and values, loadable without pickle; weights in
    half precision (half the file; cast back to float32 on loading)."""
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    return {
        "kind": HEAD_CHECKPOINT_KIND,
        "model": state,
        "config": config.to_dict(),
        "box_map": dataclasses.asdict(box_map),
        "classes": list(HEAD_CLASSES),
    }


def _train_epoch(
    model: FaceHead,
    crops: FaceCrops,
    weights: torch.Tensor,
    stage: Stage,
    config: Config,
    epoch: int,
) -> float:
    """One shuffled pass with AdamW and a cosine rate within the epoch; mean loss."""
    heads_only = stage.layers == "heads"
    for p in model.body.parameters():
        p.requires_grad_(not heads_only)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=stage.lr, weight_decay=config.weight_decay)
    order = torch.randperm(len(crops.labels), generator=torch.Generator().manual_seed(epoch))
    batches = order.split(config.face_batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, len(batches), stage.lr / 20)
    jitter = augmentation(config.face_crop)
    recolour = Recolour(RECOLOUR_P, skin=False)
    model.train()
    if heads_only:
        model.body.eval()
    total = 0.0
    for batch in batches:
        images = [recolour(crops.images[i], {"masks": crops.masks[i][None]})[0] for i in batch]
        images = torch.stack([jitter(image) for image in images]).float() / 255
        logits = model(images)
        loss = F.cross_entropy(logits, crops.labels[batch], weight=weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total += loss.item() * len(batch)
    return total / max(1, len(crops.labels))


@torch.no_grad()
def _validate(model: FaceHead, crops: FaceCrops, size: int) -> tuple[float, float]:
    """Mean unweighted loss and accuracy on the crops framed as at inference (centre crop)."""
    if not crops.labels.numel():
        return math.nan, math.nan
    model.eval()
    centre = v2.CenterCrop(size)
    logits = torch.cat([model(centre(chunk).float() / 255) for chunk in crops.images.split(256)])
    loss = F.cross_entropy(logits, crops.labels)
    return float(loss), float((logits.argmax(1) == crops.labels).float().mean())
