"""Our engines against Ultralytics YOLO11n-seg, end to end on one 384-px scene, side by side.

    pip install --target /tmp/ul --no-deps ultralytics   # a comparison only, never a dependency
    PYTHONPATH=/tmp/ul .venv/bin/python benchmarks/yolo_speed.py [--runs 15] [--block 5] [--set k=v]

YOLO models are built from their YAML (random weights, nothing downloaded) and timed through
``model.predict`` at ``imgsz`` 384; ours through ``Predictor.predict`` (PyTorch, the float ONNX
graph, and the static int8 graph calibrated on 32 synthetic scenes, run by onnxruntime and by
OpenVINO; the float graph by OpenVINO too, in bf16 where the CPU has it). Every model returns
five masks (threshold 0), two threads, timed in turns of ``--block`` calls
(``speed.median_ms``), medians in ms; prints one JSON line with each ratio to the first YOLO
model. ``--set`` changes our model's config, as in ``speed.py``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from speed import calibration_scenes, median_ms

from facemask_rcnn import Predictor, build_model, load_config
from facemask_rcnn.export import export
from facemask_rcnn.synth import render_scene

DETECTIONS = 5  # every model returns this many masks (score threshold 0), as in speed.py


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--block", type=int, default=5, help="calls in a row per turn (1: alternate)"
    )
    parser.add_argument("--models", nargs="+", default=["yolo11n-seg", "yolov8n-seg"])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    torch.manual_seed(0)
    overrides = ["min_confidence=0.0", f"max_detections={DETECTIONS}", *args.set]
    config = load_config(overrides=overrides)
    folder = Path(tempfile.mkdtemp())
    torch.save(
        {"model": build_model(config).state_dict(), "config": config.to_dict()}, folder / "m.pt"
    )
    scenes = calibration_scenes(folder / "calibration", config.image_size)
    ours = {
        "ours_pytorch": Predictor.from_checkpoint(folder / "m.pt", min_score=0.0),
        "ours_onnx_float": Predictor.from_checkpoint(
            export(folder / "m.pt", "onnx", folder / "f.onnx", int8="none"), min_score=0.0
        ),
        "ours_onnx_static": Predictor.from_checkpoint(
            export(folder / "m.pt", "onnx", folder / "s.onnx", int8="static", calibration=scenes),
            min_score=0.0,
        ),
        "ours_openvino_static": Predictor.from_checkpoint(
            folder / "s.onnx", min_score=0.0, runtime="openvino"
        ),
        "ours_openvino_float": Predictor.from_checkpoint(
            folder / "f.onnx", min_score=0.0, runtime="openvino"
        ),
    }
    image = np.array(render_scene(np.random.default_rng(0), config.image_size)[0])
    runners = {name: (lambda p=p: p.predict(image)) for name, p in ours.items()}
    from ultralytics import YOLO  # after our engines: it sets torch to one thread on import

    torch.set_num_threads(2)
    for name in args.models:
        yolo = YOLO(f"{name}.yaml", task="segment")
        runners[name] = lambda y=yolo: y.predict(
            image, imgsz=config.image_size, conf=0.0, max_det=DETECTIONS, verbose=False
        )
    for run in runners.values():
        # warm-up: YOLO's first predict sets torch to cores - 1 threads; OpenVINO compiles
        # for a size it sees a second time
        for _ in range(2):
            run()
    torch.set_num_threads(2)
    median = {k: round(v, 1) for k, v in median_ms(runners, args.runs, args.block).items()}
    reference = median[args.models[0]]
    line = {
        "overrides": args.set,
        "image_size": config.image_size,
        "threads": torch.get_num_threads(),
        "median_ms": median,
        f"ratio_to_{args.models[0]}": {k: round(v / reference, 2) for k, v in median.items()},
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
