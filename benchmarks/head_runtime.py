"""The shipped face pipeline with its head in PyTorch and exported to ONNX, side by side.

    .venv/bin/python benchmarks/head_runtime.py [--photos 40] [--repeats 3]

Exports the shipped head to a temporary file, then times both pipelines (masks model off, so
only the head differs) on the first ``--photos`` held-back crowd photos, alternating photo by
photo; prints the median seconds per photo of each, their ratio, the largest logit difference
and how many found faces got a different status.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from accuracy import held_back_scenes

from facemask_rcnn.data.images import read_image
from facemask_rcnn.export import export
from facemask_rcnn.shipped import DEFAULT_HEAD, load_predictor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(2)
    photos = [np.asarray(read_image(p)) for p in list(held_back_scenes())[: args.photos]]
    with tempfile.TemporaryDirectory() as scratch:
        graph = export(DEFAULT_HEAD, "onnx", Path(scratch) / "head.onnx")
        pipelines = {
            "pytorch": load_predictor(DEFAULT_HEAD, mask_weights="none", min_score=0.0),
            "onnx": load_predictor(graph, mask_weights="none", min_score=0.0),
        }
        seconds = {name: [] for name in pipelines}
        labels = {name: [] for name in pipelines}
        for photo in photos * args.repeats:
            for name, pipeline in pipelines.items():
                started = time.perf_counter()
                labels[name].append(pipeline.predict(photo).labels)
                seconds[name].append(time.perf_counter() - started)
        crops = torch.rand(16, 3, *(2 * [pipelines["pytorch"].config.face_crop]))
        with torch.no_grad():
            logits = [pipeline.head(crops) for pipeline in pipelines.values()]
    median = {name: statistics.median(values) for name, values in seconds.items()}
    pairs = zip(labels["pytorch"], labels["onnx"], strict=True)
    changed = sum(a != b for one, other in pairs for a, b in zip(one, other, strict=True))
    print(
        json.dumps(
            {
                "photos": len(photos),
                "repeats": args.repeats,
                "median_s": {k: round(v, 4) for k, v in median.items()},
                "onnx_over_pytorch": round(median["onnx"] / median["pytorch"], 3),
                "max_logit_difference": float((logits[0] - logits[1]).abs().max()),
                "faces": sum(map(len, labels["pytorch"])),
                "status_changed": changed,
            }
        )
    )


if __name__ == "__main__":
    main()
