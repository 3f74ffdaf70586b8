"""Faces in a photo: finder -> crops -> head (status) -> masks model on masked faces.

``FacePipeline.predict`` answers as ``Predictor.predict`` does (a ``Prediction`` whose
instances are faces, ``task: faces``), so predict, evaluate and the server take either.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..config import FACE_STATUSES, Config, saved_config
from ..data.faces import MASKED_STATUSES, inside_fraction
from ..data.images import rgb_array
from ..inference.predictor import Predictor
from ..inference.results import Prediction
from .crops import BoxMap, crop_windows, square_windows
from .finder import finder_from_config
from .head import HEAD_CHECKPOINT_KIND, HEAD_CLASSES, FaceHead, OnnxFaceHead, head_from_state

MASK_CONTEXT = 1.3  # the masks model sees the face box widened this much (a mask's straps)
INSIDE = 0.5  # share of a mask's box in the face box for it to be that face's mask


class FacePipeline:
    """A finder, a ``FaceHead`` and (for outlines) a masks model's ``Predictor``.

    Each found face takes the status the head gives most probability, scored by that
    probability (the rest goes to the other statuses and to ``not_a_face``); faces scoring
    below ``min_score`` are dropped.
    """

    def __init__(
        self,
        finder,  # noqa: ANN001 - a callable photo -> FaceBoxes (faces.finder)
        head: FaceHead | OnnxFaceHead,
        config: Config,
        box_map: BoxMap | None = None,
        masks: Predictor | None = None,
        min_score: float | None = None,
    ) -> None:
        self.finder, self.config = finder, config
        self.head = head.eval() if isinstance(head, torch.nn.Module) else head
        self.box_map = box_map or BoxMap()
        self.masks = masks
        self.class_names = list(FACE_STATUSES)
        self.min_score = config.min_confidence if min_score is None else min_score
        self.device = torch.device("cpu")

    @classmethod
    def from_state(
        cls,
        state: dict,
        path: str | Path,
        mask_weights: str | Path | None = None,
        min_score: float | None = None,
        runtime: str = "onnxruntime",
        trust: bool = False,
        head: OnnxFaceHead | None = None,
    ) -> FacePipeline:
        """The pipeline of a face head's checkpoint (``best.pt`` of ``facemask train --config
        configs/faces.yaml``) loaded from ``path``, or of its exported graph (``head``, whose
        ``state`` this is); its masks from ``mask_weights``, a masks model (.pt or .onnx; none:
        faces without masks). ``shipped.load_predictor`` calls this."""
        if not is_face_head(state):
            raise ValueError(f"{path}: not a face head checkpoint")
        config = saved_config(state["config"])
        masks = None
        if mask_weights is not None:
            own = runtime if Path(mask_weights).suffix == ".onnx" else "onnxruntime"
            masks = Predictor.from_checkpoint(mask_weights, trust=trust, runtime=own)
            if masks.config.task != "masks":
                raise ValueError(f"{mask_weights}: mask weights must be a masks model")
        finder = finder_from_config(config)
        head = head or head_from_state(state)
        return cls(finder, head, config, BoxMap(**state["box_map"]), masks, min_score)

    @torch.no_grad()
    def predict(
        self, image: Image.Image | np.ndarray | str | Path, min_score: float | None = None
    ) -> Prediction:
        """Every face in the photo with its status, score and (masked, incorrect) mask."""
        threshold = self.min_score if min_score is None else max(min_score, self.min_score)
        array = rgb_array(image)
        started = time.perf_counter()
        height, width = array.shape[:2]
        found = self.finder(array).boxes
        tensor = torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 255
        windows = square_windows(found, self.config.face_context)
        crops = crop_windows(tensor, windows, self.config.face_crop)
        probs = self.head(crops).softmax(1).numpy() if len(crops) else np.zeros((0, 4))
        statuses = probs[:, : len(FACE_STATUSES)]  # what is left is the not-a-face share
        best = statuses.argmax(1)
        scores = statuses[np.arange(len(best)), best]
        keep = scores >= threshold
        boxes = np.clip(self.box_map(found[keep]), 0, [width, height, width, height])
        labels = [HEAD_CLASSES[i] for i in best[keep]]
        masks = np.zeros((len(labels), height, width), dtype=bool)
        if self.masks is not None:
            for i, (box, label) in enumerate(zip(boxes, labels, strict=True)):
                if label in MASKED_STATUSES:
                    masks[i] = self.face_mask(array, box)
        prediction = Prediction(boxes, scores[keep], labels, masks, task="faces")
        prediction.seconds = time.perf_counter() - started
        return prediction

    def face_mask(self, array: np.ndarray, face: np.ndarray) -> np.ndarray:
        """The masks model's best mask lying in ``face``, run on the face's crop alone (a small
        face is enlarged to the model's size); empty when it finds none."""
        height, width = array.shape[:2]
        x0, y0, x1, y1 = square_windows(face, MASK_CONTEXT)[0]
        x0, y0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
        x1, y1 = min(width, int(np.ceil(x1))), min(height, int(np.ceil(y1)))
        full = np.zeros((height, width), dtype=bool)
        if x1 <= x0 or y1 <= y0:
            return full
        found = self.masks.predict(array[y0:y1, x0:x1])
        local = tuple(face - np.array([x0, y0, x0, y0]))
        inside = [inside_fraction(b, local) >= INSIDE for b in found.boxes]
        if any(inside):
            full[y0:y1, x0:x1] = found.masks[int(np.argmax(np.where(inside, found.scores, -1)))]
        return full


def is_face_head(state: object) -> bool:
    """Whether a loaded checkpoint is a face head's (``faces.train``)."""
    return isinstance(state, dict) and state.get("kind") == HEAD_CHECKPOINT_KIND
