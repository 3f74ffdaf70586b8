"""Predictor: a checkpoint (or exported graph) → a Prediction per image.

``Predictor.from_checkpoint(path).predict(image)`` is what the CLI, the server, the notebook and
the evaluator all call. The score threshold is applied here and nowhere else.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..config import Config
from ..data.images import rgb_array
from ..devices import resolve_device
from ..modeling import load_trained
from ..modeling.fold import for_inference
from ..modeling.maskrcnn import score_floor
from .engines import OnnxEngine, TorchEngine
from .results import Prediction
from .tiling import cut_at_window_edges, merge_views, tile_windows

# Longer side over shorter side of what the models are given: at 384 px the shorter side of a
# padded strip is at least 12 px, enough for the coarsest feature map to hold one cell.
MAX_ASPECT = 32


class Predictor:
    """Runs a trained model (PyTorch or ONNX engine) on images.

    ``min_score`` overrides the config's min confidence (an ONNX graph keeps detections down to
    0.05, so any higher threshold works there too). For small faces: ``size`` sets the inference
    size (longest side; PyTorch engine only), and ``tile`` also runs overlapping ``tile``-pixel
    windows of larger images, each enlarged to the model's size, merged with the whole-image pass.
    """

    def __init__(
        self,
        engine: Any,
        config: Config,
        min_score: float | None = None,
        size: int | None = None,
        tile: int | None = None,
    ) -> None:
        self.engine = engine
        self.config = config
        self.class_names = list(config.class_names)
        self.min_score = config.min_confidence if min_score is None else min_score
        self.device = getattr(engine, "device", torch.device("cpu"))
        self.tile = tile
        if tile is not None and tile < 32:
            raise ValueError(f"tile: {tile} pixels is too small (at least 32)")
        if isinstance(engine, TorchEngine):  # keep everything down to min_score
            floor = score_floor(min(self.min_score, config.min_confidence))
            engine.model.roi_heads.score_thresh = floor
            if size is not None:
                engine.model.transform.min_size = (size,)
                engine.model.transform.max_size = size
        elif size is not None:
            raise ValueError("size: an exported graph has its input size built in; use --tile")

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        min_score: float | None = None,
        device: str | None = None,
        size: int | None = None,
        tile: int | None = None,
        overrides: list[str] | None = None,
        trust: bool = False,
        runtime: str = "onnxruntime",
    ) -> Predictor:
        """Load a training checkpoint (.pt) or an exported ONNX graph (.onnx).

        ``runtime`` runs an ONNX graph: ``onnxruntime`` or ``openvino`` (see ``OnnxEngine``);
        a checkpoint runs in PyTorch.
        ``overrides`` (``key=value``, PyTorch only) change inference settings of the checkpoint's
        config, such as ``rpn_post_nms_test``; settings that change a layer are refused.
        ``trust`` allows a checkpoint that needs pickle (arbitrary code) to load.
        """
        if Path(path).suffix != ".onnx" and runtime != "onnxruntime":
            raise ValueError(f"{path}: runtime {runtime} runs exported .onnx graphs only")
        if Path(path).suffix == ".onnx":
            if overrides:
                raise ValueError(
                    f"{path}: an exported graph has its settings built in; "
                    f"give them to facemask export --set"
                )
            if device is not None and resolve_device(device).type != "cpu":
                raise ValueError(f"{path}: ONNX graphs run on the CPU (OpenVINO or onnxruntime)")
            engine = OnnxEngine(path, runtime)
            return cls(engine, engine.config, min_score, size, tile)
        model, config = load_trained(path, overrides, trust=trust)
        int8 = config.int8_box_head and resolve_device(device).type == "cpu"
        model = for_inference(model, int8_linear=int8)
        return cls(TorchEngine(model, device), config, min_score, size, tile)

    def predict(
        self, image: Image.Image | np.ndarray | str | Path, min_score: float | None = None
    ) -> Prediction:
        """Instances in one image (PIL, HWC uint8 array, or a file path read by ``read_image``)
        scoring at least ``min_score`` (default: the predictor's; never below it)."""
        threshold = self.min_score if min_score is None else max(min_score, self.min_score)
        array = rgb_array(image)
        started = time.perf_counter()
        height, width = array.shape[:2]
        padded = pad_to_aspect(array)
        found = [self._detect(padded, (0, 0, *padded.shape[1::-1]), threshold)]
        if self.tile is not None and max(height, width) > self.tile:
            windows = tile_windows(*padded.shape[1::-1], self.tile)
            found += [self._detect(padded, w, threshold) for w in windows]
        config = self.config
        boxes, scores, labels, masks = merge_views(
            found, config.detection_nms_threshold, config.max_detections
        )
        if padded is not array:  # back to the photo: the padding holds nothing
            masks = masks[:, :height, :width]
            boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
            boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
        names = [self.class_names[int(i) - 1] for i in labels]
        prediction = Prediction(boxes.numpy(), scores.numpy(), names, masks.numpy())
        prediction.seconds = time.perf_counter() - started
        return prediction

    def _detect(
        self, array: np.ndarray, window: tuple[int, int, int, int], threshold: float
    ) -> tuple[torch.Tensor, ...]:
        """Detections in ``window`` (x0, y0, x1, y1) of ``array``, in full-image coordinates;
        in a window smaller than the image, objects cut by the window's inner edges are dropped."""
        x0, y0, x1, y1 = window
        height, width = array.shape[:2]
        crop = torch.from_numpy(np.array(array[y0:y1, x0:x1])).permute(2, 0, 1)
        out = self.engine(crop.to(torch.float32) / 255)
        keep = out["scores"] >= threshold
        if (x1 - x0, y1 - y0) != (width, height):
            keep &= ~cut_at_window_edges(out["boxes"], window, width, height)
        boxes = out["boxes"][keep]
        masks = torch.zeros((int(keep.sum()), height, width), dtype=torch.bool)
        masks[:, y0:y1, x0:x1] = out["masks"][keep, 0] > 0.5
        shift = torch.tensor([x0, y0, x0, y0], dtype=boxes.dtype)
        return boxes + shift, out["scores"][keep], out["labels"][keep], masks


def pad_to_aspect(array: np.ndarray, max_aspect: int = MAX_ASPECT) -> np.ndarray:
    """``array`` padded with black below or to the right until its sides are at most
    ``max_aspect`` to one (the array itself when they are): the models scale the longer side
    to their size, so a 4000 x 3 strip would otherwise shrink to a side of 0 px."""
    height, width = array.shape[:2]
    short = -(-max(height, width) // max_aspect)
    pad = ((0, max(0, short - height)), (0, max(0, short - width)), (0, 0))
    return np.pad(array, pad) if pad[0][1] or pad[1][1] else array
