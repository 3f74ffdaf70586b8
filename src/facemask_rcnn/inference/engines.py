"""Engines: a float (3, H, W) image in [0, 1] in, one detections dict out (boxes, labels,
scores, masks (N, 1, H, W)). The PyTorch model and an exported ONNX graph behave the same."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from torchvision.models.detection.roi_heads import paste_masks_in_image
from torchvision.models.detection.transform import GeneralizedRCNNTransform, resize_boxes

from ..config import saved_config
from ..devices import resolve_device
from ..extras import RUNTIMES, require

OUTPUTS = ("boxes", "labels", "scores", "masks")  # the exported graph's outputs, in order
SIZES_COUNTED = 4096  # OpenVinoGraph forgets sizes seen once beyond this many (a server's uploads)


class TorchEngine:
    """The PyTorch model as an engine."""

    def __init__(self, model: torch.nn.Module, device: str | None = None) -> None:
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()

    @torch.no_grad()
    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.model([image.to(self.device)])[0]
        return {k: v.cpu() for k, v in out.items()}


def graph_resizer(size: int) -> GeneralizedRCNNTransform:
    """What resizes an image for an exported graph, as the model would: ``.resize(image)[0]``
    scales a (3, H, W) tensor to longest side ``size`` (bilinear)."""
    return GeneralizedRCNNTransform(size, size, [0.0] * 3, [1.0] * 3).eval()


class OnnxEngine:
    """An exported graph run on the CPU, called like the PyTorch model; ``config`` is the one
    built into the graph.

    ``runtime``: ``onnxruntime`` computes exactly what the graph says; ``openvino`` runs it as
    OpenVINO does by default, in bf16 outside the int8 layers where the CPU has bf16 (AVX-512
    BF16, AMX): on such a CPU 1.1-1.4x faster with the static int8 graph, 1.4-1.7x with the
    float one (benchmarks/speed.py), scores moved by about 0.01, a low-scoring detection more or
    less.
    """

    def __init__(
        self, path: str | Path, runtime: str = "onnxruntime", spinning: bool = True
    ) -> None:
        """``spinning=False`` (onnxruntime): idle threads sleep at once instead of spinning, so
        that work run right after a call (another engine being timed, say) gets the cores."""
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime {runtime!r}: choose {' or '.join(RUNTIMES)}")
        self.device = f"cpu ({runtime})"
        if runtime == "openvino":
            meta = self._load_openvino(path)
        else:
            meta = self._load_onnxruntime(path, spinning)
        if "config" not in meta:
            raise ValueError(f"{path}: not exported by facemask (no config in the metadata)")
        self.config = saved_config(json.loads(meta["config"]))
        # graphs written by earlier versions resize and paste inside themselves
        self.pastes_masks = meta.get("masks") == "per_box"
        self.resizer = None
        if meta.get("input") == "resized":
            self.resizer = graph_resizer(self.config.image_size)

    def _load_onnxruntime(self, path: str | Path, spinning: bool) -> dict[str, str]:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._run = lambda image: self.session.run(list(OUTPUTS), {"image": image})
        return self.session.get_modelmeta().custom_metadata_map

    def _load_openvino(self, path: str | Path) -> dict[str, str]:
        self.openvino = OpenVinoGraph(path)
        self._run = self.openvino
        return self.openvino.meta

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        size = image.shape[-2:]
        image = image.cpu()
        if self.resizer is not None:
            image = self.resizer.resize(image)[0]
        arrays = self._run(image.numpy())
        out = {name: torch.from_numpy(a) for name, a in zip(OUTPUTS, arrays, strict=True)}
        if self.resizer is not None:
            out["boxes"] = resize_boxes(out["boxes"], image.shape[-2:], size)
        if self.pastes_masks:
            out["masks"] = paste_masks_in_image(out["masks"], out["boxes"], size)
        return out


# Fused element-wise kernels ("snippets") off: in a graph compiled for one size they write a
# GroupNorm's output, which RoIAlign reads, in a plain layout that RoIAlign runs 16x slower on
# (3.3 ms instead of 0.2 a level at 384 px). Without them a GroupNorm static int8 graph runs in
# 12.3 ms instead of 18.6, a BatchNorm one in 9.4 instead of 8.9, float graphs as before
# (benchmarks/RESULTS.md, snippets study).
OPENVINO_CONFIG = {"PERFORMANCE_HINT": "LATENCY", "SNIPPETS_MODE": "DISABLE"}


class OpenVinoGraph:
    """An ONNX graph run by OpenVINO on the CPU: ``graph(image)`` gives its outputs in order.

    A graph compiled for any input size runs an image of a size seen for the first time; a size
    that comes back (a video's frames, one camera's photos) gets a graph compiled for it alone,
    for about a second of compiling and 70-90 MB: 1.2-1.7x faster at 384 px (benchmarks/
    RESULTS.md, proposals and snippets studies). At most ``kept`` sizes are compiled; a new
    size takes the place of the least used one once it has been seen more than twice as often,
    so mixed sizes never recompile on every call. Calls from several threads take turns.
    """

    def __init__(self, path: str | Path, kept: int = 2) -> None:
        ov = require("openvino", "export")
        self._core = ov.Core()
        self._model = self._core.read_model(str(path))  # ONNX metadata: rt_info["framework"]
        self.meta = {
            key: self._model.get_rt_info(["framework", key]).astype(str)
            for key in ("config", "class_names", "int8", "masks", "input")
            if self._model.has_rt_info(["framework", key])
        }
        self.kept = kept
        self._any_size = self._compile(self._model)
        self._sizes: dict[tuple[int, ...], Callable] = {}
        self._calls: Counter[tuple[int, ...]] = Counter()
        self._lock = threading.Lock()

    def _compile(self, model: Any) -> Callable[[np.ndarray], list[np.ndarray]]:
        compiled = self._core.compile_model(model, "CPU", OPENVINO_CONFIG)
        request = compiled.create_infer_request()
        outputs = [compiled.output(name) for name in OUTPUTS]

        def run(image: np.ndarray) -> list[np.ndarray]:
            result = request.infer({0: image})  # outputs copied out of the request
            return [result[o] for o in outputs]

        return run

    def compiled_sizes(self) -> list[tuple[int, ...]]:
        """Input shapes with a graph of their own, in the order they got it."""
        return list(self._sizes)

    def __call__(self, image: np.ndarray) -> list[np.ndarray]:
        shape = tuple(image.shape)
        with self._lock:
            if len(self._calls) >= SIZES_COUNTED:  # graphs that resize inside take any size
                self._calls = Counter({s: n for s, n in self._calls.items() if n > 1})
            self._calls[shape] += 1
            if shape not in self._sizes and self._calls[shape] >= 2 and self.kept > 0:
                if len(self._sizes) >= self.kept:
                    least = min(self._sizes, key=self._calls.__getitem__)
                    if self._calls[shape] > 2 * self._calls[least]:
                        del self._sizes[least]
                if len(self._sizes) < self.kept:
                    model = self._model.clone()
                    model.reshape({model.inputs[0]: shape})
                    self._sizes[shape] = self._compile(model)
            return self._sizes.get(shape, self._any_size)(image)
