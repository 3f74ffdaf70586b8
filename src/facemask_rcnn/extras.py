"""Optional dependencies: the server (``[serve]``) and ONNX export (``[export]``) extras."""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtra(RuntimeError):
    """An optional dependency is not installed; the message names the extra to install."""


def require(module: str, extra: str) -> ModuleType:
    """Import ``module``, or a one-line MissingExtra naming the pip extra that brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingExtra(
            f"{module} is not installed; install the extra: pip install 'facemask-rcnn[{extra}]'"
        ) from err
