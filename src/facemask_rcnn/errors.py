"""The errors a command reports in one line, importable without torch (the CLI starts fast)."""

from __future__ import annotations


class TrainingError(ValueError):
    """A run that cannot start: no instances, no such stage, nothing to resume."""


class TrainingDiverged(RuntimeError):
    """A non-finite loss; the message names the step, the batch's files and the last checkpoint."""


class WeightsUnavailable(RuntimeError):
    """Pretrained weights that cannot be had offline; the message says what to pass instead."""


class MissingExtra(RuntimeError):
    """An optional dependency is not installed; the message names the extra to install."""
