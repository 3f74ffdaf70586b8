"""Inference: engines (PyTorch, ONNX), the Predictor, tiling, overlays, and batch writers."""

from .draw import overlay
from .engines import OnnxEngine, TorchEngine
from .predictor import Predictor
from .results import Prediction, result_entry
from .writers import PredictionRun, expand_inputs, predict_to_folder, video_frames

__all__ = [
    "OnnxEngine",
    "Prediction",
    "PredictionRun",
    "Predictor",
    "TorchEngine",
    "expand_inputs",
    "overlay",
    "predict_to_folder",
    "result_entry",
    "video_frames",
]
