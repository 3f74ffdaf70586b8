"""A face head's checkpoint as an ONNX graph: crops (N, 3, S, S) in [0, 1] in, logits out.

The metadata carries the rest of the checkpoint (config, box map, classes), so
``load_predictor`` builds the same face pipeline from the graph as from the ``.pt``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch

from ..config import saved_config
from ..extras import require
from ..faces.head import head_from_state
from ..fileio import atomic_write

EXAMPLE_CROPS = 2  # the traced batch; the graph takes any number of faces


def export_face_head(state: dict, out: Path) -> Path:
    """Write the head of ``state`` (a loaded face head checkpoint) to ``out``, float32."""
    onnx = require("onnx", "export")
    head = head_from_state(state).eval()
    size = saved_config(state["config"]).face_crop
    example = torch.rand(EXAMPLE_CROPS, 3, size, size)
    with tempfile.TemporaryDirectory() as scratch:
        traced = Path(scratch) / "head.onnx"
        with torch.no_grad():
            torch.onnx.export(
                head,
                (example,),
                str(traced),
                input_names=["crops"],
                output_names=["logits"],
                dynamic_axes={"crops": {0: "faces"}, "logits": {0: "faces"}},
                opset_version=17,
                dynamo=False,
            )
        graph = onnx.load(str(traced))
    graph.metadata_props.add(key="kind", value=state["kind"])
    for key in ("config", "box_map", "classes"):
        graph.metadata_props.add(key=key, value=json.dumps(state[key]))
    atomic_write(out, lambda tmp: onnx.save(graph, str(tmp)))
    return out
