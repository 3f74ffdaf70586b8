"""Export a checkpoint as one graph (normalisation, backbone, RPN, heads).

ONNX (run by onnxruntime or OpenVINO on the CPU; class names and config in the metadata) or
TorchScript. TorchScript takes one float image (3, H, W) in [0, 1] of any size and returns
boxes, labels, scores and masks (N, 1, H, W) as the PyTorch model does. The ONNX graph takes
the image resized as the model would (longest side ``image_size``) and returns each box's mask
(N, 1, 28, 28); ``OnnxEngine`` resizes before and pastes after, in PyTorch (in the graph,
pasting is a Loop over the detections: 1.3 ms each, against 0.3 ms).
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from unittest import mock

import numpy as np
import torch
from torch import nn
from torchvision.models.detection import transform as detection_transform
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN
from torchvision.models.detection.rpn import RegionProposalNetwork
from torchvision.ops import boxes as box_ops
from torchvision.ops import nms, poolers

from .config import Config
from .data.images import IMAGE_SUFFIXES, ImageError, read_image
from .devices import resolve_device
from .extras import require
from .graph_proposals import proposals_best_anchors_first
from .inference.engines import OUTPUTS, graph_resizer
from .modeling import load_trained
from .modeling.fold import fold_batchnorm
from .modeling.int8_training import QUANTISED_MODULES
from .modeling.maskrcnn import score_floor

if TYPE_CHECKING:
    import onnx

EXPORT_MIN_SCORE = 0.05
CALIBRATION_IMAGES = 100
log = logging.getLogger(__name__)


class SingleImage(nn.Module):
    """One image in, four tensors out: the interface the exported graphs share.

    Loading the TorchScript file needs ``import torchvision`` first (it calls torchvision ops).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        # A plain GeneralizedRCNN with the same parts: inference is the same, and it scripts.
        self.model = GeneralizedRCNN(model.backbone, model.rpn, model.roi_heads, model.transform)

    def forward(
        self, image: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        outputs = self.model([image])
        detections = outputs[1][0] if isinstance(outputs, tuple) else outputs[0]
        return detections["boxes"], detections["labels"], detections["scores"], detections["masks"]


def load_for_export(
    checkpoint: str | Path,
    min_score: float = EXPORT_MIN_SCORE,
    overrides: list[str] | None = None,
    trust: bool = False,
) -> tuple[SingleImage, Config]:
    model, config = load_trained(checkpoint, overrides, trust)
    fold_batchnorm(model)  # one Conv per layer: what int8 quantises, and less work in float
    # Keep low-score detections in the graph; Predictor applies the user's min_score.
    model.roi_heads.score_thresh = score_floor(min(min_score, config.min_confidence))
    return SingleImage(model).eval(), config


def export(
    checkpoint: str | Path,
    fmt: str,
    out: str | Path | None = None,
    size: int | None = None,
    min_score: float = EXPORT_MIN_SCORE,
    overrides: list[str] | None = None,
    trust: bool = False,
    device: str | None = None,
    int8: str | None = None,
    calibration: str | Path | None = None,
    calibration_images: int = CALIBRATION_IMAGES,
) -> Path:
    """Write ``out`` (default: beside the checkpoint, .onnx or .ts.pt); refuses to overwrite.

    The graph keeps detections down to ``min_score`` (or the config's, if that is lower) and
    the config's inference settings, changed by ``overrides``. ONNX ``int8``: ``dynamic`` (the
    default with ``int8_box_head``: fully connected layers in int8, as the Predictor's on a
    CPU), ``static`` (every convolution and fully connected layer in int8, activations
    calibrated on up to ``calibration_images`` images found under ``calibration``) or ``none``.
    ``trust`` lets a checkpoint that needs pickle load; ``device`` is where the graph is traced
    (default: the CPU; the graph itself runs anywhere its runtime does).
    """
    wrapper, config = load_for_export(checkpoint, min_score, overrides, trust)
    int8 = int8 or ("dynamic" if config.int8_box_head else "none")
    if int8 not in ("none", "dynamic", "static"):
        raise ValueError(f"--int8 {int8}: choose none, dynamic or static")
    if (int8 == "static") != (calibration is not None):
        raise ValueError("--int8 static needs --calibration DATA (and only it does)")
    target = resolve_device(device or "cpu")
    wrapper = wrapper.to(target)
    size = size or config.image_size
    suffix = {"onnx": ".onnx", "torchscript": ".ts.pt"}.get(fmt)
    if suffix is None:
        raise ValueError(f"unknown export format {fmt!r}; choose onnx or torchscript")
    out = Path(out) if out else Path(checkpoint).with_suffix(suffix)
    if out.exists():
        raise FileExistsError(f"{out}: already exists; choose another name (nothing overwritten)")
    example = torch.rand(3, size, size, device=target)
    metadata = {
        "class_names": json.dumps(config.class_names),
        "config": json.dumps(config.to_dict()),
        "int8": int8 if fmt == "onnx" else "none",
        "masks": "per_box" if fmt == "onnx" else "pasted",
        "input": "resized" if fmt == "onnx" else "any",
    }
    if fmt == "torchscript":
        scripted = torch.jit.script(wrapper)
        torch.jit.save(
            scripted, str(out), _extra_files={k: v.encode() for k, v in metadata.items()}
        )
        return out
    images = calibration_set(calibration, calibration_images) if calibration else []
    onnx = require("onnx", "export")
    require("onnxruntime", "export")
    with tempfile.TemporaryDirectory() as scratch:
        float_graph = Path(scratch) / "float.onnx" if int8 != "none" else out
        write_onnx(wrapper, example, float_graph)
        if int8 == "dynamic":
            quantize_linear_layers(float_graph, out)
        elif int8 == "static":
            quantize_whole_graph(float_graph, out, images, config.image_size)
    graph = onnx.load(str(out))
    for key, value in metadata.items():
        graph.metadata_props.add(key=key, value=value)
    onnx.save(graph, str(out))
    return out


def write_onnx(wrapper: SingleImage, example: torch.Tensor, path: Path) -> None:
    """The float graph: one image resized by the engine in, the four outputs out (masks per
    box)."""
    with torch.no_grad(), _graph_friendly_detection_steps():
        torch.onnx.export(
            wrapper,
            (example,),
            str(path),
            input_names=["image"],
            output_names=list(OUTPUTS),
            dynamic_axes={
                "image": {1: "height", 2: "width"},
                "boxes": {0: "detections"},
                "labels": {0: "detections"},
                "scores": {0: "detections"},
                "masks": {0: "detections"},
            },
            opset_version=17,
            dynamo=False,
        )


def merge_roi_levels(levels: torch.Tensor, pooled: list[torch.Tensor]) -> torch.Tensor:
    """Put RoIAlign's per-level results (``pooled[k]``: the RoIs with ``levels == k``, in index
    order) back in RoI order: one Concat and one Gather in the graph."""
    order = torch.cat([torch.where(levels == level)[0] for level in range(len(pooled))])
    return torch.cat(pooled)[torch.argsort(order)]


def already_resized(
    _transform: nn.Module, image: torch.Tensor, target: dict | None = None
) -> tuple[torch.Tensor, dict | None]:
    """Stands in for the model's resize while tracing: ``OnnxEngine`` resizes before the graph
    (on the photo's pixels, before normalising them: less work for large photos)."""
    return image, target


def masks_per_box(masks: torch.Tensor, *_: object, **__: object) -> torch.Tensor:
    """Stands in for torchvision's mask pasting while tracing: the graph returns each box's
    mask as the mask head made it."""
    return masks


def nms_per_class(
    boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """torchvision's batched NMS (each class's boxes shifted clear of the others') without its
    branch for no boxes: the shift's maximum also takes a 0, so an empty input flows through."""
    top = torch.cat([boxes.flatten(), boxes.new_zeros(1)]).max()
    return nms(boxes + (classes.to(boxes) * (top + 1))[:, None], scores, iou_threshold)


@contextlib.contextmanager
def _graph_friendly_detection_steps() -> Iterator[None]:
    """While tracing: proposals by ``proposals_best_anchors_first`` (each level's best anchors
    decoded, not all of them; one NMS per level); the RoI levels merged by ``merge_roi_levels``,
    not one ScatterElements per level (run element by element: ~8 ms of a 55 ms static-int8
    pass at 384 px); NMS by ``nms_per_class``, not an If whose empty branch OpenVINO 2026.4
    returns as one bogus box; no resize (``already_resized``) and masks left per box
    (``masks_per_box``): the engine does both, in less time than the graph's Resize and its
    Loop over detections."""
    with (
        mock.patch.object(RegionProposalNetwork, "forward", proposals_best_anchors_first),
        mock.patch.object(poolers, "_onnx_merge_levels", merge_roi_levels),
        mock.patch.object(box_ops, "_batched_nms_coordinate_trick", nms_per_class),
        mock.patch.object(detection_transform, "paste_masks_in_image", masks_per_box),
        mock.patch.object(detection_transform.GeneralizedRCNNTransform, "resize", already_resized),
    ):
        yield


def calibration_set(folder: str | Path, count: int) -> list[Path]:
    """Up to ``count`` image files under ``folder`` (any dataset layout), evenly spaced in name
    order so that every split and sub-folder is drawn from; ValueError when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"--calibration {folder}: not a folder")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(f"--calibration {folder}: no images (jpg, png, webp…) under it")
    step = max(1, len(paths) / count)
    return [paths[int(i * step)] for i in range(min(count, len(paths)))]


# The network's layers, by the module scopes torch.onnx gives node names: everything in them is
# quantised (convolutions, fully connected layers, residual adds, upsampling), so activations
# stay int8 from layer to layer; anchors, box decoding, NMS, RoIAlign and pasting stay float,
# and so do GroupNorm and the FPN's sums of its outputs (quantising them only adds conversions).
FPN_SCOPE = "/model/backbone/fpn/"
NETWORK_SCOPES = tuple("/model/" + prefix.replace(".", "/") for prefix in QUANTISED_MODULES)


def _scope(node: onnx.NodeProto) -> str:
    """The module scope torch.onnx put in a node's name: ``/model/backbone/fpn/`` for
    ``/model/backbone/fpn/Add_2``."""
    return node.name.rsplit("/", 1)[0] + "/"


def quantize_whole_graph(source: Path, out: Path, images: list[Path], size: int) -> None:
    """Static int8 (QDQ) of the network's layers (NETWORK_SCOPES; GroupNorm and the FPN's sums
    aside): weights per channel, activations calibrated on ``images`` (read and resized as the
    Predictor and ``OnnxEngine`` do, longest side ``size``); unreadable images are skipped."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    resizer = graph_resizer(size)

    class Images(CalibrationDataReader):
        def __init__(self) -> None:
            self.paths = iter(images)

        def get_next(self) -> dict[str, np.ndarray] | None:
            for path in self.paths:
                try:
                    image = read_image(path)
                except ImageError as err:
                    log.warning("calibration: %s", err)
                    continue
                pixels = torch.from_numpy(np.asarray(image, np.float32) / 255).permute(2, 0, 1)
                return {"image": resizer.resize(pixels)[0].numpy()}
            return None

    model = own_initializers(onnx.load(str(source)))
    nodes = model.graph.node
    # torch.onnx writes GroupNorm as Reshape, InstanceNormalization, Reshape, Mul, Add in its
    # scope; the FPN's own scope holds its top-down sums and upsampling, fed by GroupNorm
    in_float = {_scope(n) for n in nodes if n.op_type == "InstanceNormalization"} | {FPN_SCOPE}
    with _quiet_root_logger():
        quantize_static(
            model,
            out,
            Images(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_quantize=[
                node.name
                for node in nodes
                if node.name.startswith(NETWORK_SCOPES) and _scope(node) not in in_float
            ],
        )


def own_initializers(model: onnx.ModelProto) -> onnx.ModelProto:
    """Give each layer its own copy of parameters torch.onnx stored once and fed to the others
    through Identity nodes (equal tensors, such as a fresh head's zero biases): the quantiser
    fuses a layer into int8 only when its bias is an initialiser of its own."""
    import onnx

    graph = model.graph
    stored = {tensor.name: tensor for tensor in graph.initializer}
    for node in list(graph.node):
        if node.op_type == "Identity" and node.input[0] in stored:
            copy = onnx.TensorProto()
            copy.CopyFrom(stored[node.input[0]])
            copy.name = node.output[0]
            graph.initializer.append(copy)
            graph.node.remove(node)
    return model


def quantize_linear_layers(source: Path, out: Path) -> None:
    """Write ``source`` to ``out`` with its fully connected layers (MatMul/Gemm with constant
    weights) quantised dynamically to int8."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_root_logger():
        quantize_dynamic(
            source, out, op_types_to_quantize=["MatMul", "Gemm"], weight_type=QuantType.QInt8
        )


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime's quantiser logs advice (pre-process the graph first) on every call."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
