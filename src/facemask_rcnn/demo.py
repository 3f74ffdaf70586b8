"""``facemask demo``: synthesise the embedded default, train briefly, evaluate, predict, summarise.

Everything runs offline on a CPU in minutes; it is the same functions a user calls, with a
short schedule, so a first-time user sees the whole flow and the numbers it produces.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .config import load_config
from .engine import train
from .evaluation import evaluate
from .inference import Predictor, predict_to_folder
from .synth import contact_sheet, synthesize

DEMO_OVERRIDES = [
    "image_size=256",
    "anchor_sizes=[16, 32, 64, 128, 256]",
    "schedule=[{layers: heads, epochs: 3, lr: 0.02, warmup_iters: 20},"
    " {layers: all, epochs: 2, lr: 0.01}]",
    "rpn_pre_nms_train=600",
    "rpn_post_nms_train=300",
    "rpn_pre_nms_test=300",
    "rpn_post_nms_test=100",
    "rois_per_image=64",
    "augment=light",
    "synthetic_scenes=0",  # the demo's data is synthetic already
    "val_ap_every=5",
]


@dataclass(frozen=True)
class DemoResult:
    """The demo's numbers on its validation split and where it wrote each part."""

    matterport_map50: float
    coco_mask_ap: float
    coco_mask_ap50: float
    latency_ms: float
    run: Path
    eval: Path
    overlays: Path
    minutes: float


def run_demo(
    out: str | Path = "demo", images: int = 120, overrides: list[str] | None = None
) -> DemoResult:
    """The whole flow on synthetic data in ``out``."""
    started = time.perf_counter()
    out = Path(out)
    data = out / "data"
    if not (data / "train").is_dir():
        splits = synthesize(data, n=images, seed=0, size=256)
        contact_sheet(splits["train"][:24], data / "contact_sheet.png")
    config = load_config(overrides=DEMO_OVERRIDES + list(overrides or []))
    result = train(config, data, out / "run")
    predictor = Predictor.from_checkpoint(result.run_dir / "best.pt")
    metrics = evaluate(predictor, data, "val", out / "eval")
    predicted = predict_to_folder(predictor, [str(data / "val")], out / "predictions")
    minutes = (time.perf_counter() - started) / 60
    return DemoResult(
        matterport_map50=metrics.matterport_map50,
        coco_mask_ap=metrics.segm["AP"],
        coco_mask_ap50=metrics.segm["AP50"],
        latency_ms=metrics.latency_ms,
        run=result.run_dir,
        eval=Path(metrics.folder),
        overlays=predicted.folder / "overlays",
        minutes=minutes,
    )
