"""Int8 ONNX graphs: dynamic (fully connected layers) or static (the network's layers, with
activations calibrated on training images), by onnxruntime's quantiser."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..data.images import IMAGE_SUFFIXES, ImageError, read_image
from ..inference.engines import graph_resizer
from ..modeling.int8_training import QUANTISED_MODULES

if TYPE_CHECKING:
    import onnx

log = logging.getLogger(__name__)


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
