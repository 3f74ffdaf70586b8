"""Optional dependencies: the server (``[serve]``) and ONNX export (``[export]``) extras."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingExtra

RUNTIMES = ("onnxruntime", "openvino")  # what runs an exported graph on the CPU


def require(module: str, extra: str) -> ModuleType:
    """Import ``module``, or a one-line MissingExtra naming the pip extra that brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingExtra(
            f"{module} is not installed; install the extra: pip install 'facemask-rcnn[{extra}]'"
        ) from err
