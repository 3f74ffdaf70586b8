"""The exported graph's RPN step proposes what torchvision's does; its NMS runs in the graph."""

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.transforms.functional import to_tensor

from facemask_rcnn.data.images import read_image
from facemask_rcnn.export.proposals import BestAnchorsFirstRPN, NmsPerGroup
from facemask_rcnn.modeling import load_trained

# boxes 0 and 1 overlap (IoU 0.68), box 2 is box 0's twin, box 3 stands apart
BOXES = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [50, 50, 60, 60.0]])
SCORES = torch.tensor(
    [
        [0.9, 0.8, -1.0, 0.6],  # group 0: boxes 0, 1, 3
        [-1.0, -1.0, 0.7, 0.95],  # group 1: boxes 2, 3
    ]
)


def test_nms_per_group_suppresses_within_a_group_and_keeps_at_most_limit():
    assert NmsPerGroup.apply(BOXES, SCORES, 10, 0.5).tolist() == [[0, 0], [0, 3], [1, 3], [1, 2]]
    assert NmsPerGroup.apply(BOXES, SCORES, 10, 0.7).tolist() == [
        [0, 0],
        [0, 1],  # IoU 0.68 < 0.7: kept
        [0, 3],
        [1, 3],
        [1, 2],
    ]
    assert NmsPerGroup.apply(BOXES, SCORES, 1, 0.5).tolist() == [[0, 0], [1, 3]]
    assert NmsPerGroup.apply(BOXES, torch.full_like(SCORES, -1.0), 5, 0.5).shape == (0, 2)


class Nms(nn.Module):
    def forward(self, boxes: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return NmsPerGroup.apply(boxes, scores, 1, 0.5)


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_nms_per_group_is_one_onnx_operator_that_runs_the_same(tmp_path, runtime):
    import onnx

    path = tmp_path / "nms.onnx"
    torch.onnx.export(
        Nms(), (BOXES, SCORES), str(path), input_names=["boxes", "scores"], dynamo=False
    )
    assert [n.op_type for n in onnx.load(str(path)).graph.node].count("NonMaxSuppression") == 1
    inputs = {"boxes": BOXES.numpy(), "scores": SCORES.numpy()}
    if runtime == "onnxruntime":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        kept = session.run(None, inputs)[0]
    else:
        import openvino

        compiled = openvino.Core().compile_model(str(path), "CPU")
        kept = compiled(inputs)[0]
    assert np.asarray(kept).tolist() == [[0, 0], [1, 3]]


@pytest.mark.parametrize("settings", [{}, {"score_thresh": 0.2, "_post_nms_top_n": {"testing": 7}}])
def test_proposals_are_torchvisions(trained, settings):
    checkpoint, data = trained
    model, _ = load_trained(checkpoint)
    for key, value in settings.items():
        setattr(model.rpn, key, value)
    scenes = sorted(data.glob("*/*.jpg"))[:2]
    images = [to_tensor(read_image(path)) for path in scenes]
    images[1] = images[1][:, :, :60]  # two sizes in one batch
    with torch.no_grad():
        batch, _ = model.transform(images)
        features = model.backbone(batch.tensors)
        expected, _ = model.rpn.eval()(batch, features)
        found, losses = BestAnchorsFirstRPN.like(model.rpn).eval()(batch, features)
    assert losses == {} and len(found) == len(expected) == 2
    for ours, theirs in zip(found, expected, strict=True):
        assert 0 < len(ours) == len(theirs) <= model.rpn.post_nms_top_n()
        # the same boxes; boxes of equal objectness may come in another order
        assert sorted(map(tuple, ours.tolist())) == sorted(map(tuple, theirs.tolist()))
