"""Speed benchmark: default model (PyTorch, onnxruntime, OpenVINO) vs torchvision's R50-FPN.

    .venv/bin/python benchmarks/speed.py [--runs 15] [--block 5] [--detections 5] [--set k=v]

In one process, same input image, size and detection settings for all, timed in turns
(``median_ms``). ``ours`` is the model as ``Predictor`` runs it on a CPU, BatchNorm folded and
linear layers in int8; ``ours_float`` folded only; ``ours_unfolded`` as built;
``ours_onnxruntime`` the ONNX graph as ``facemask export`` writes it, fully connected layers in
int8, ``ours_onnxruntime_float`` in float, ``ours_onnxruntime_static`` with every convolution
and fully connected layer in int8 (``facemask export --int8 static``, calibrated on 32 synthetic
scenes), all with onnxruntime's idle threads not spinning; ``ours_openvino_static`` and
``ours_openvino_float`` the same graphs run by OpenVINO (``--runtime openvino``: bf16 outside
the int8 layers where the CPU has it); ``ours_bf16`` the PyTorch model under
``torch.autocast("cpu", torch.bfloat16)``; R50-FPN as torchvision ships it, and folded and
quantised alike. Reports median latency, ratios, the time per stage (backbone, FPN, RPN, box
head, mask head, mask pasting; ms) of the PyTorch model and (onnxruntime's profiler) of the
static int8 graph, forward GFLOPs (torch.utils.flop_counter), the peak memory of inference
(PyTorch; the static graph in OpenVINO) and of training the default model at batch 2 (child
processes' peak resident memory). Prints one JSON line.
The models are untrained, so every model is made to return exactly ``--detections``
instances (score threshold 0, that many kept): the mask head then does the same work in each.
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing as mp
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models.detection import maskrcnn_resnet50_fpn

from facemask_rcnn import build_model, load_config
from facemask_rcnn.export import export
from facemask_rcnn.inference import OnnxEngine
from facemask_rcnn.modeling.fold import for_inference
from facemask_rcnn.synth import render_scene


def gflops(model: torch.nn.Module, image: torch.Tensor) -> float:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model([image])
    return counter.get_total_flops() / 1e9


def peak_rss_mb() -> float:
    """This process's own peak resident memory (VmHWM; ``ru_maxrss`` would carry the parent's
    peak across the fork and exec that start a child)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


STAGES = {
    "backbone": ("backbone.body",),
    "fpn": ("backbone.fpn",),
    "rpn": ("rpn",),
    "box_head": ("roi_heads.box_roi_pool", "roi_heads.box_head", "roi_heads.box_predictor"),
    "mask_head": ("roi_heads.mask_roi_pool", "roi_heads.mask_head", "roi_heads.mask_predictor"),
}


def stage_times(model: torch.nn.Module, image: torch.Tensor, runs: int) -> dict[str, float]:
    """Median ms per stage of ``model``'s forward (hooks around its modules; ``paste`` is the
    postprocess that pastes masks into the image; ``rest`` whatever no stage covers)."""
    spent: dict[str, float] = {}
    starts: dict[str, float] = {}

    def hooks(name: str) -> tuple:
        def before(*_: object) -> None:
            starts[name] = time.perf_counter()

        def after(*_: object) -> None:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - starts[name]

        return before, after

    handles = []
    for stage, paths in STAGES.items():
        for path in paths:
            before, after = hooks(stage)
            module = model.get_submodule(path)
            handles += [
                module.register_forward_pre_hook(before),
                module.register_forward_hook(after),
            ]
    postprocess = model.transform.postprocess
    before, after = hooks("paste")

    def timed_postprocess(*args: object, **kwargs: object) -> object:
        before()
        result = postprocess(*args, **kwargs)
        after()
        return result

    model.transform.postprocess = timed_postprocess
    samples: dict[str, list[float]] = {}
    with torch.no_grad():
        for _ in range(runs):
            spent.clear()
            started = time.perf_counter()
            model([image])
            total = time.perf_counter() - started
            spent["rest"] = total - sum(spent.values())
            for name, seconds in spent.items():
                samples.setdefault(name, []).append(seconds * 1000)
    for handle in handles:
        handle.remove()
    del model.transform.postprocess
    return {name: round(statistics.median(v), 1) for name, v in samples.items()}


# The static graph's node-name scopes, by stage; NMS and the mask-pasting Loop have none.
GRAPH_STAGES = {
    "backbone": ("/model/backbone/body/",),
    "fpn": ("/model/backbone/fpn/",),
    "rpn": ("/model/rpn/", "NonMaxSuppression"),
    "box_head": ("/model/roi_heads/box_",),
    "mask_head": ("/model/roi_heads/mask_",),
    "paste": ("Loop",),
}


def graph_stage_times(graph: Path, image: torch.Tensor, runs: int) -> dict[str, float]:
    """ms per stage of an ONNX graph per run (onnxruntime's profiler: kernel time summed over
    ``runs`` runs, divided by them; NMS counted with the RPN, where most of its boxes are)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_profiling = True
    options.log_severity_level = 3
    options.profile_file_prefix = str(graph.with_suffix(""))
    session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
    for _ in range(runs):
        session.run(None, {"image": image.numpy()})
    spent = dict.fromkeys([*GRAPH_STAGES, "rest"], 0.0)
    for event in json.loads(Path(session.end_profiling()).read_text()):
        name = event.get("name", "")
        if event.get("cat") != "Node" or not name.endswith("_kernel_time"):
            continue
        stage = next((k for k, v in GRAPH_STAGES.items() if name.startswith(v)), "rest")
        spent[stage] += event["dur"] / 1000 / runs
    return {k: round(v, 1) for k, v in spent.items()}


def inference_peak_mb(overrides: list[str], graph: Path | None = None) -> float:
    """Peak RSS (MB) of a process that predicts three 384-px scenes with the default model as
    Predictor runs it on a CPU, or with ``graph`` run by OpenVINO."""
    config = load_config(overrides=overrides)
    scene, _ = render_scene(np.random.default_rng(0), config.image_size)
    image = torch.from_numpy(np.array(scene)).permute(2, 0, 1).float() / 255
    if graph is not None:
        engine = OnnxEngine(graph, "openvino")
        for _ in range(3):
            engine(image)
        return peak_rss_mb()
    model = for_inference(build_model(config, weights="none"), int8_linear=config.int8_box_head)
    with torch.no_grad():
        for _ in range(3):
            model([image])
    return peak_rss_mb()


def median_ms(runners: dict[str, Callable[[], object]], runs: int, block: int) -> dict[str, float]:
    """Median ms of ``runs`` calls of each runner, taken in turns of ``block`` calls each, so
    that drift hits all alike; ``block`` > 1 also keeps the threads of the runtime just timed
    (OpenMP, onnxruntime, OpenVINO's) from being timed waking, or spinning, into the next."""
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(-(-runs // block)):
        for name, run in runners.items():
            for _ in range(block):
                started = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - started)
    return {k: statistics.median(v[:runs]) * 1000 for k, v in times.items()}


def calibration_scenes(folder: Path, size: int, count: int = 32) -> Path:
    """``count`` synthetic scenes saved as JPEGs: what ``--int8 static`` calibrates on here."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for i in range(count):
        render_scene(rng, size)[0].save(folder / f"scene_{i:03d}.jpg", quality=95)
    return folder


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
    return peak_rss_mb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--block", type=int, default=5, help="calls in a row per turn (1: alternate)"
    )
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
    scenes = calibration_scenes(folder / "calibration", size)
    graph = export(
        folder / "ours.pt",
        "onnx",
        folder / "s.onnx",
        min_score=0,
        int8="static",
        calibration=scenes,
    )
    onnx_static = OnnxEngine(graph, spinning=False)
    static_graph = graph
    openvino_static = OnnxEngine(graph, "openvino")
    openvino_float = OnnxEngine(folder / "f.onnx", "openvino")
    runners = {
        "ours": lambda: ours([image]),
        "ours_float": lambda: ours_float([image]),
        "ours_unfolded": lambda: eager([image]),
        "ours_onnxruntime": lambda: onnx(image),
        "ours_onnxruntime_float": lambda: onnx_float(image),
        "ours_onnxruntime_static": lambda: onnx_static(image),
        "ours_openvino_static": lambda: openvino_static(image),
        "ours_openvino_float": lambda: openvino_float(image),
        "ours_bf16": lambda: bf16([image]),
        "torchvision_r50": lambda: reference([image]),
        "torchvision_r50_folded": lambda: reference_folded([image]),
    }

    def bf16(images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        with torch.autocast("cpu", torch.bfloat16):
            return ours_float(images)

    with torch.no_grad():
        for run in runners.values():
            for _ in range(2):  # warm-up: OpenVINO compiles for a size it sees a second time
                run()
        median = median_ms(runners, args.runs, args.block)
    with torch.no_grad():
        counts = {
            "ours": len(ours([image])[0]["scores"]),
            "ours_onnxruntime": len(onnx(image)["scores"]),
            "ours_onnxruntime_static": len(onnx_static(image)["scores"]),
            "ours_openvino_static": len(openvino_static(image)["scores"]),
            "ours_bf16": len(bf16([image])[0]["scores"]),
            "torchvision_r50": len(reference([image])[0]["scores"]),
        }
    stages = stage_times(ours, image, args.runs)
    static_stages = graph_stage_times(static_graph, image, args.runs)
    with mp.get_context("spawn").Pool(1) as pool:
        peak = pool.apply(train_peak_mb, (args.set,))
    with mp.get_context("spawn").Pool(1) as pool:
        inference_peak = pool.apply(inference_peak_mb, (args.set,))
    with mp.get_context("spawn").Pool(1) as pool:
        openvino_peak = pool.apply(inference_peak_mb, (args.set + fixed, static_graph))
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
        "static_vs_r50": round(median["torchvision_r50"] / median["ours_onnxruntime_static"], 2),
        "static_vs_float": round(
            median["ours_onnxruntime_float"] / median["ours_onnxruntime_static"], 2
        ),
        "bf16_vs_float": round(median["ours_float"] / median["ours_bf16"], 2),
        "openvino_static_vs_r50": round(
            median["torchvision_r50"] / median["ours_openvino_static"], 2
        ),
        "openvino_vs_onnxruntime_static": round(
            median["ours_onnxruntime_static"] / median["ours_openvino_static"], 2
        ),
        "openvino_float_vs_onnxruntime_float": round(
            median["ours_onnxruntime_float"] / median["ours_openvino_float"], 2
        ),
        "stages_ms": stages,
        "static_graph_stages_ms": static_stages,
        "gflops": {
            "ours": round(gflops(ours_float, image), 2),  # int8 ops are not counted
            "torchvision_r50": round(gflops(reference, image), 2),
        },
        "train_peak_rss_mb_batch2": round(peak, 0),
        "inference_peak_rss_mb": round(inference_peak, 0),
        "openvino_static_peak_rss_mb": round(openvino_peak, 0),
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
