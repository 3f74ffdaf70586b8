"""Export a checkpoint as one graph (normalisation, backbone, RPN, heads).

ONNX (run by onnxruntime or OpenVINO on the CPU; class names and config in the metadata) or
TorchScript. TorchScript takes one float image (3, H, W) in [0, 1] of any size and returns
boxes, labels, scores and masks (N, 1, H, W) as the PyTorch model does. The ONNX graph
(``export.graph``) takes the image resized as the model would (longest side ``image_size``) and
returns each box's mask (N, 1, 28, 28); ``OnnxEngine`` resizes before and pastes after, in
PyTorch (in the graph, pasting is a Loop over the detections: 1.3 ms each, against 0.3 ms).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch
from torch import nn
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN
from torchvision.models.detection.roi_heads import RoIHeads

from ..config import Config
from ..devices import resolve_device
from ..extras import require
from ..faces.pipeline import is_face_head
from ..fileio import atomic_write
from ..inference.engines import OUTPUTS
from ..modeling import load_trained
from ..modeling.fold import fold_batchnorm
from ..modeling.maskrcnn import FaceMaskRCNN, score_floor
from ..modeling.roi_heads import heads_like
from ..modeling.weights import load_torch_file
from .face_head import export_face_head
from .graph import graph_model
from .quantise import calibration_set, quantize_linear_layers, quantize_whole_graph

EXPORT_MIN_SCORE = 0.05
CALIBRATION_IMAGES = 100


class SingleImage(nn.Module):
    """One image in, four tensors out: the interface the exported graphs share.

    Loading the TorchScript file needs ``import torchvision`` first (it calls torchvision ops).
    """

    def __init__(self, model: GeneralizedRCNN) -> None:
        super().__init__()
        self.model = model

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
) -> tuple[FaceMaskRCNN, Config]:
    """The checkpoint's model (eval mode, BatchNorm folded) keeping detections down to
    ``min_score`` (or the config's, if lower): ``Predictor`` applies the user's threshold."""
    model, config = load_trained(checkpoint, overrides, trust)
    fold_batchnorm(model)  # one Conv per layer: what int8 quantises, and less work in float
    model.roi_heads.score_thresh = score_floor(min(min_score, config.min_confidence))
    return model.eval(), config


def scriptable(model: FaceMaskRCNN) -> GeneralizedRCNN:
    """The model's parts in a plain GeneralizedRCNN with torchvision's RoI heads: inference is
    the same, and it scripts."""
    heads = heads_like(RoIHeads, model.roi_heads)
    return GeneralizedRCNN(model.backbone, model.rpn, heads, model.transform).eval()


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
    (default: the CPU; the graph itself runs anywhere its runtime does). A face head's
    checkpoint becomes its float ONNX graph (``export.face_head``), with no other option.
    """
    state = load_torch_file(checkpoint, trust)
    if is_face_head(state):
        given = {"--format torchscript": fmt != "onnx", "--image-size": size, "--set": overrides}
        given |= {"--int8": int8 not in (None, "none"), "--calibration": calibration}
        refused = [name for name, value in given.items() if value]
        if refused:
            raise ValueError(f"{checkpoint}: a face head exports as it is; no {', '.join(refused)}")
        out = Path(out) if out else Path(checkpoint).with_suffix(".onnx")
        if out.exists():
            raise FileExistsError(f"{out}: already exists; choose another name")
        return export_face_head(state, out)
    model, config = load_for_export(checkpoint, min_score, overrides, trust)
    int8 = int8 or ("dynamic" if config.int8_box_head else "none")
    if int8 not in ("none", "dynamic", "static"):
        raise ValueError(f"--int8 {int8}: choose none, dynamic or static")
    if (int8 == "static") != (calibration is not None):
        raise ValueError("--int8 static needs --calibration DATA (and only it does)")
    target = resolve_device(device or "cpu")
    model = model.to(target)
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
        scripted = torch.jit.script(SingleImage(scriptable(model)))
        extra = {k: v.encode() for k, v in metadata.items()}
        atomic_write(out, lambda tmp: torch.jit.save(scripted, str(tmp), _extra_files=extra))
        return out
    images = calibration_set(calibration, calibration_images) if calibration else []
    onnx = require("onnx", "export")
    require("onnxruntime", "export")
    with tempfile.TemporaryDirectory() as scratch:
        float_graph = Path(scratch) / "float.onnx" if int8 != "none" else out
        write_onnx(SingleImage(graph_model(model)).eval(), example, float_graph)
        if int8 == "dynamic":
            quantize_linear_layers(float_graph, out)
        elif int8 == "static":
            quantize_whole_graph(float_graph, out, images, config.image_size)
    graph = onnx.load(str(out))
    for key, value in metadata.items():
        graph.metadata_props.add(key=key, value=value)
    atomic_write(out, lambda tmp: onnx.save(graph, str(tmp)))
    return out


def write_onnx(wrapper: SingleImage, example: torch.Tensor, path: Path) -> None:
    """The float graph of ``wrapper`` (``SingleImage(graph_model(...))``): one image in, the
    four outputs out."""
    with torch.no_grad():
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
