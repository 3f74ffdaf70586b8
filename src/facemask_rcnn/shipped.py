"""The shipped default weights, and the one loader that turns any weights file into a predictor.

``load_predictor()`` with no weights gives the shipped face pipeline (YuNet, the default face
head, the default masks model for outlines): ``facemask predict photo.jpg`` works on a fresh
install. A face head's checkpoint gives a ``FacePipeline``; any other checkpoint or graph a
``Predictor``.
"""

from __future__ import annotations

from pathlib import Path

from .faces.head import OnnxFaceHead
from .faces.pipeline import FacePipeline, is_face_head
from .inference.predictor import Predictor
from .modeling.weights import load_torch_file

SHIPPED = Path(__file__).resolve().parent / "default_weights"
DEFAULT_HEAD = SHIPPED / "face_head.pt"
DEFAULT_MASKS = SHIPPED / "masks.onnx"


def load_predictor(
    weights: str | Path | None = None,
    mask_weights: str | Path | None = None,
    min_score: float | None = None,
    runtime: str = "onnxruntime",
    trust: bool = False,
    **inference: object,
) -> Predictor | FacePipeline:
    """A predictor for ``weights`` (None: the shipped defaults). A face head takes its masks
    from ``mask_weights`` (default: the shipped masks model; ``"none"``: statuses alone);
    ``inference`` (device, size, tile, overrides) goes to a ``Predictor``, refused for a face
    head. A face head loads from its checkpoint or from its exported ``.onnx``."""
    head = Path(weights) if weights is not None else DEFAULT_HEAD
    graph = OnnxFaceHead(head) if head.suffix == ".onnx" and head.is_file() else None
    state = graph.state if graph is not None else load_torch_file(head, trust)
    if is_face_head(state):
        given = sorted(k for k, v in inference.items() if v not in (None, [], "cpu"))
        if given:
            raise ValueError(f"{head}: a face head takes no {', '.join(given)} (Mask R-CNN only)")
        masks = DEFAULT_MASKS if mask_weights is None else mask_weights
        masks = None if str(masks) == "none" else masks
        return FacePipeline.from_state(state, head, masks, min_score, runtime, trust, graph)
    if mask_weights is not None:
        raise ValueError(f"{head}: --mask-weights goes with a face head; this is a masks model")
    return Predictor.from_checkpoint(head, min_score, runtime=runtime, trust=trust, **inference)
