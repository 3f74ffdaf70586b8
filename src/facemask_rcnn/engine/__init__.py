"""Training: stages, loop, validation, checkpoints, logs, distributed helpers."""

from .trainer import TrainingDiverged, TrainingError, TrainResult, train

__all__ = ["TrainResult", "TrainingDiverged", "TrainingError", "train"]
