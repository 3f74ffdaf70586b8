"""Export: a checkpoint as one ONNX or TorchScript graph (``exporter``), the graph-friendly
model parts (``graph``, ``proposals``) and int8 quantisation (``quantise``)."""

from .exporter import export, load_for_export

__all__ = ["export", "load_for_export"]
