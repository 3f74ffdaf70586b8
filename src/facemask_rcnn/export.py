"""Export a checkpoint as one graph (pre-processing, backbone, RPN, heads, mask pasting).

ONNX (run with onnxruntime's CPU provider; class names and config in the metadata) or
TorchScript. Both take one float image (3, H, W) in [0, 1] of any size and return boxes,
labels, scores and masks (N, 1, H, W) at the image's size, as the PyTorch model does.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import torch
from torch import nn
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN

from .config import Config
from .extras import require
from .inference.engines import OUTPUTS, resolve_device
from .modeling import load_trained

EXPORT_MIN_SCORE = 0.05


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
    # Keep low-score detections in the graph; Predictor applies the user's min_score.
    model.roi_heads.score_thresh = min(min_score, config.min_confidence)
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
) -> Path:
    """Write ``out`` (default: beside the checkpoint, .onnx or .ts.pt); refuses to overwrite.

    The graph keeps detections down to ``min_score`` (or the config's, if that is lower) and
    the config's inference settings, changed by ``overrides``. With ``int8_box_head`` an ONNX
    graph's fully connected layers hold int8 weights, as the Predictor's do on a CPU.
    ``trust`` lets a checkpoint that needs pickle load; ``device`` is where the graph is traced
    (default: the CPU; the graph itself runs anywhere its runtime does).
    """
    wrapper, config = load_for_export(checkpoint, min_score, overrides, trust)
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
    }
    if fmt == "torchscript":
        scripted = torch.jit.script(wrapper)
        torch.jit.save(
            scripted, str(out), _extra_files={k: v.encode() for k, v in metadata.items()}
        )
        return out
    onnx = require("onnx", "export")
    require("onnxruntime", "export")

    with tempfile.TemporaryDirectory() as scratch:
        float_graph = Path(scratch) / "float.onnx" if config.int8_box_head else out
        with torch.no_grad():
            torch.onnx.export(
                wrapper,
                (example,),
                str(float_graph),
                input_names=["image"],
                output_names=list(OUTPUTS),
                dynamic_axes={
                    "image": {1: "height", 2: "width"},
                    "boxes": {0: "detections"},
                    "labels": {0: "detections"},
                    "scores": {0: "detections"},
                    "masks": {0: "detections", 2: "height", 3: "width"},
                },
                opset_version=17,
                dynamo=False,
            )
        if config.int8_box_head:
            quantize_linear_layers(float_graph, out)
    graph = onnx.load(str(out))
    for key, value in metadata.items():
        graph.metadata_props.add(key=key, value=value)
    onnx.save(graph, str(out))
    return out


def quantize_linear_layers(source: Path, out: Path) -> None:
    """Write ``source`` to ``out`` with its fully connected layers (MatMul/Gemm with constant
    weights) quantised dynamically to int8."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to pre-process the graph first, on every call
    try:
        quantize_dynamic(
            source, out, op_types_to_quantize=["MatMul", "Gemm"], weight_type=QuantType.QInt8
        )
    finally:
        root.setLevel(level)
