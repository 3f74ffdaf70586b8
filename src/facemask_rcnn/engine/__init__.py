"""Training: stages, loop, validation, checkpoints, logs, distributed helpers."""

from .trainer import TrainingDiverged, TrainingError, TrainingSummary, TrainResult, train

__all__ = ["TrainResult", "TrainingDiverged", "TrainingError", "TrainingSummary", "train"]
