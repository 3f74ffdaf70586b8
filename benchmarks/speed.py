"""Speed benchmark: default model (PyTorch and onnxruntime) vs torchvision's R50-FPN Mask R-CNN.

    .venv/bin/python benchmarks/speed.py [--runs 15] [--detections 5] [--set key=value ...]

In one process, same input image, size and detection settings for all, timed alternately
(``ours`` is the model as ``Predictor`` runs it on a CPU, BatchNorm folded and linear layers in
int8; ``ours_float`` folded only; ``ours_unfolded`` as built; ``ours_onnxruntime`` the ONNX
graph as ``facemask export`` writes it, fully connected layers in int8, and
``ours_onnxruntime_float`` in float, both with onnxruntime's idle threads not spinning; R50-FPN
as torchvision ships it and folded and quantised alike):
median latency, ratios, forward GFLOPs (torch.utils.flop_counter), and the peak memory of
training the default model at batch 2 (a child process's max RSS). Prints one JSON line.
The models are untrained, so every model is made to return exactly ``--detections``
instances (score threshold 0, that many kept): the mask head then does the same work in each.
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing as mp
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models.detection import maskrcnn_resnet50_fpn

from facemask_rcnn import build_model, load_config
from facemask_rcnn.data.synth import render_scene
from facemask_rcnn.export import export
from facemask_rcnn.inference import OnnxEngine
from facemask_rcnn.modeling.fold import for_inference


def gflops(model: torch.nn.Module, image: torch.Tensor) -> float:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model([image])
    return counter.get_total_flops() / 1e9


def train_peak_mb(overrides: list[str]) -> float:
    """Peak RSS (MB) of a process that builds the default model and trains 3 steps at batch 2."""
    config = load_config(overrides=overrides)
    model = build_model(config)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.001, momentum=0.9)
    size = config.image_size
    masks = torch.zeros(1, size, size, dtype=torch.uint8)
    masks[0, size // 4 : size // 2, size // 4 : size // 2] = 1
    box = torch.tensor([[size / 4, size / 4, size / 2, size / 2]])
    target = {"boxes": box, "labels": torch.tensor([1]), "masks": masks}
    for _ in range(3):
        losses = model([torch.rand(3, size, size)] * 2, [target, target])
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--detections", type=int, default=5, help="instances per image")
    args = parser.parse_args()
    torch.manual_seed(0)
    fixed = ["min_confidence=0.0", f"max_detections={args.detections}"]
    config = load_config(overrides=args.set + fixed)
    size = config.image_size
    eager = build_model(config).eval()
    int8 = config.int8_box_head
    ours = for_inference(copy.deepcopy(eager), int8_linear=int8)  # as Predictor runs it on CPU
    ours_float = for_inference(copy.deepcopy(eager))  # folded, linear layers in float
    reference = maskrcnn_resnet50_fpn(
        weights=None,
        weights_backbone=None,
        num_classes=len(config.class_names) + 1,
        min_size=size,
        max_size=size,
        rpn_pre_nms_top_n_test=config.rpn_pre_nms_test,
        rpn_post_nms_top_n_test=config.rpn_post_nms_test,
        box_score_thresh=config.min_confidence,
        box_nms_thresh=config.detection_nms_threshold,
        box_detections_per_img=config.max_detections,
    ).eval()
    reference_folded = for_inference(copy.deepcopy(reference), int8_linear=int8)  # as ours
    scene, _ = render_scene(np.random.default_rng(0), size)
    image = torch.from_numpy(np.array(scene)).permute(2, 0, 1).float() / 255
    folder = Path(tempfile.mkdtemp())
    torch.save({"model": eager.state_dict(), "config": config.to_dict()}, folder / "ours.pt")
    # onnxruntime's idle threads would otherwise spin into the timing of whatever runs next
    graph = export(folder / "ours.pt", "onnx", folder / "ours.onnx", min_score=0.0)
    onnx = OnnxEngine(graph, spinning=False)
    as_float = ["int8_box_head=false"]
    graph = export(folder / "ours.pt", "onnx", folder / "f.onnx", min_score=0, overrides=as_float)
    onnx_float = OnnxEngine(graph, spinning=False)
    runners = {
        "ours": lambda: ours([image]),
        "ours_float": lambda: ours_float([image]),
        "ours_unfolded": lambda: eager([image]),
        "ours_onnxruntime": lambda: onnx(image),
        "ours_onnxruntime_float": lambda: onnx_float(image),
        "torchvision_r50": lambda: reference([image]),
        "torchvision_r50_folded": lambda: reference_folded([image]),
    }
    times: dict[str, list[float]] = {name: [] for name in runners}
    with torch.no_grad():
        for run in runners.values():
            run()  # warm-up
        for _ in range(args.runs):
            for name, run in runners.items():  # alternate, so drift hits all alike
                started = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - started)
    median = {k: statistics.median(v) * 1000 for k, v in times.items()}
    with torch.no_grad():
        counts = {
            "ours": len(ours([image])[0]["scores"]),
            "ours_onnxruntime": len(onnx(image)["scores"]),
            "torchvision_r50": len(reference([image])[0]["scores"]),
        }
    with mp.get_context("spawn").Pool(1) as pool:
        peak = pool.apply(train_peak_mb, (args.set,))
    line = {
        "image_size": size,
        "threads": torch.get_num_threads(),
        "detections": counts,
        "median_ms": {k: round(v, 1) for k, v in median.items()},
        "speedup_vs_r50": round(median["torchvision_r50"] / median["ours"], 2),
        "speedup_vs_r50_folded": round(median["torchvision_r50_folded"] / median["ours"], 2),
        "onnxruntime_vs_pytorch": round(median["ours"] / median["ours_onnxruntime"], 2),
        "int8_vs_float": round(median["ours_float"] / median["ours"], 2),
        "onnxruntime_int8_vs_float": round(
            median["ours_onnxruntime_float"] / median["ours_onnxruntime"], 2
        ),
        "gflops": {
            "ours": round(gflops(ours_float, image), 2),  # int8 ops are not counted
            "torchvision_r50": round(gflops(reference, image), 2),
        },
        "train_peak_rss_mb_batch2": round(peak, 0),
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
