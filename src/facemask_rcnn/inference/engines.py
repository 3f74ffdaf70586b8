"""Engines: a float (3, H, W) image in [0, 1] in, one detections dict out (boxes, labels,
scores, masks (N, 1, H, W)). The PyTorch model and an exported ONNX graph behave the same."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..config import saved_config
from ..devices import resolve_device
from ..extras import require

OUTPUTS = ("boxes", "labels", "scores", "masks")  # the exported graph's outputs, in order


class TorchEngine:
    """The PyTorch model as an engine."""

    def __init__(self, model: torch.nn.Module, device: str | None = None) -> None:
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()

    @torch.no_grad()
    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.model([image.to(self.device)])[0]
        return {k: v.cpu() for k, v in out.items()}


class OnnxEngine:
    """onnxruntime (CPU) session over an exported graph, called like the PyTorch model."""

    device = "cpu (onnxruntime)"

    def __init__(self, path: str | Path, spinning: bool = True) -> None:
        """``spinning=False``: idle threads sleep at once instead of spinning, so that work
        run right after a call (another engine being timed, say) gets the cores."""
        ort = require("onnxruntime", "export")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        if "config" not in meta:
            raise ValueError(f"{path}: not exported by facemask (no config in the metadata)")
        self.config = saved_config(json.loads(meta["config"]))

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        arrays = self.session.run(list(OUTPUTS), {"image": image.cpu().numpy()})
        return {name: torch.from_numpy(a) for name, a in zip(OUTPUTS, arrays, strict=True)}
