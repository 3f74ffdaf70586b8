"""OutlinedOnlyRoIHeads: box-only instances train the box head but not the mask branch."""

import pytest
import torch
from torchvision.models.detection.roi_heads import RoIHeads, maskrcnn_loss

from facemask_rcnn.modeling import build_model
from facemask_rcnn.modeling.roi_heads import OutlinedOnlyRoIHeads
from tests.conftest import tiny_config


def _model():
    torch.manual_seed(0)
    config = tiny_config("[{layers: all, epochs: 1, lr: 0.01}]", "weights=none")
    return build_model(config, weights="none").train()


def _image_and_target():
    image = torch.rand(3, 96, 96, generator=torch.Generator().manual_seed(2))
    masks = torch.zeros(2, 96, 96, dtype=torch.uint8)
    masks[0, 30:60, 20:70] = 1
    masks[1, 5:25, 60:90] = 1
    target = {
        "boxes": torch.tensor([[20.0, 30, 70, 60], [60, 5, 90, 25]]),
        "labels": torch.ones(2, dtype=torch.int64),
        "masks": masks,
    }
    return image, target


def test_model_heads_are_outlined_only_and_inference_is_torchvisions():
    model = _model().eval()
    assert type(model.roi_heads) is OutlinedOnlyRoIHeads
    plain = RoIHeads.__new__(RoIHeads)
    plain.__dict__ = model.roi_heads.__dict__  # the same modules, torchvision's forward
    image = torch.rand(3, 96, 96)
    with torch.no_grad():
        images, _ = model.transform([image])
        features = model.backbone(images.tensors)
        proposals, _ = model.rpn(images, features)
        ours, _ = model.roi_heads(features, proposals, images.image_sizes)
        theirs, _ = plain(features, proposals, images.image_sizes)
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a["boxes"], b["boxes"]) and torch.equal(a["masks"], b["masks"])


def test_with_every_instance_outlined_the_losses_are_torchvisions():
    model = _model()
    plain = RoIHeads.__new__(RoIHeads)
    plain.__dict__ = model.roi_heads.__dict__
    image, target = _image_and_target()
    images, targets = model.transform([image], [target])
    features = model.backbone(images.tensors)
    proposals, _ = model.rpn(images, features, targets)
    proposals = [p.detach() for p in proposals]
    torch.manual_seed(5)
    _, ours = model.roi_heads(features, proposals, images.image_sizes, targets)
    torch.manual_seed(5)
    _, theirs = plain(features, proposals, images.image_sizes, targets)
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert ours[key].item() == pytest.approx(theirs[key].item(), rel=1e-6), key


def test_box_only_instances_leave_the_mask_loss_and_keep_the_box_losses():
    model = _model()
    image, target = _image_and_target()
    torch.manual_seed(1)
    outlined = model([image], [{**target, "has_mask": torch.tensor([True, True])}])
    torch.manual_seed(1)
    box_only = model([image], [{**target, "has_mask": torch.tensor([False, False])}])
    torch.manual_seed(1)
    half = model([image], [{**target, "has_mask": torch.tensor([True, False])}])
    assert box_only["loss_mask"].item() == 0.0 and outlined["loss_mask"].item() > 0.1
    assert box_only["loss_mask"].requires_grad  # a graph to back-propagate, worth nothing
    for key in ("loss_classifier", "loss_box_reg", "loss_objectness"):
        assert box_only[key].item() == pytest.approx(outlined[key].item())
    assert half["loss_mask"].item() != pytest.approx(outlined["loss_mask"].item())


def test_mask_loss_by_hand_covers_the_outlined_instances_positives_only():
    model = _model()
    image, target = _image_and_target()
    target = {**target, "has_mask": torch.tensor([True, False])}
    images, targets = model.transform([image], [target])
    features = model.backbone(images.tensors)
    proposals, _ = model.rpn(images, features, targets)
    heads = model.roi_heads
    torch.manual_seed(3)
    _, losses = heads(features, [p.detach() for p in proposals], images.image_sizes, targets)
    torch.manual_seed(3)  # the same sample of proposals, by hand
    sampled, matched, labels, _ = heads.select_training_samples(
        [p.detach() for p in proposals], targets
    )
    keep = (labels[0] > 0) & (matched[0] == 0)  # instance 1 has no outline
    pooled = heads.mask_roi_pool(features, [sampled[0][keep]], images.image_sizes)
    logits = heads.mask_predictor(heads.mask_head(pooled))
    expected = maskrcnn_loss(
        logits,
        [sampled[0][keep]],
        [targets[0]["masks"]],
        [targets[0]["labels"]],
        [matched[0][keep]],
    )
    assert keep.any() and ((labels[0] > 0) & (matched[0] == 1)).any()
    assert losses["loss_mask"].item() == pytest.approx(expected.item(), rel=1e-5)
