"""facemask-rcnn: Mask R-CNN for protective face masks (train, evaluate, predict, serve)."""

__version__ = "0.1.0"

from .config import Config, load_config  # noqa: E402
from .data import load_records  # noqa: E402
from .engine import train  # noqa: E402
from .evaluation import evaluate  # noqa: E402
from .inference import Prediction, Predictor  # noqa: E402
from .modeling import build_model  # noqa: E402

__all__ = [
    "Config",
    "Prediction",
    "Predictor",
    "__version__",
    "build_model",
    "evaluate",
    "load_config",
    "load_records",
    "train",
]
