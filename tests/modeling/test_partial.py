"""Partial supervision: box-only instances skip the mask loss; unannotated classes the softmax."""

import pytest
import torch
from torchvision.models.detection import roi_heads

from facemask_rcnn.modeling import build_model
from facemask_rcnn.modeling.partial import classifier_loss, mask_loss, partial_supervision
from tests.conftest import tiny_config


def _mask_inputs():
    """Two images: image 0 has instances 0 (outlined) and 1 (box only), image 1 one outlined."""
    generator = torch.Generator().manual_seed(0)
    proposals = [torch.tensor([[2.0, 2, 20, 20], [30, 30, 50, 50], [4, 4, 18, 18]])]
    proposals.append(torch.tensor([[10.0, 10, 40, 40]]))
    gt_masks = [torch.zeros(2, 64, 64), torch.zeros(1, 64, 64)]
    gt_masks[0][0, 5:15, 5:15] = 1
    gt_masks[1][0, 15:35, 15:35] = 1
    gt_labels = [torch.tensor([1, 1]), torch.tensor([1])]
    matched = [torch.tensor([0, 1, 0]), torch.tensor([0])]
    logits = torch.randn(4, 2, 14, 14, generator=generator, requires_grad=True)
    has_mask = [torch.tensor([True, False]), torch.tensor([True])]
    return logits, proposals, gt_masks, gt_labels, matched, has_mask


def test_mask_loss_leaves_out_proposals_matched_to_box_only_instances():
    logits, proposals, gt_masks, gt_labels, matched, has_mask = _mask_inputs()
    loss = mask_loss(has_mask, roi_heads.maskrcnn_loss)(
        logits, proposals, gt_masks, gt_labels, matched
    )
    keep = [0, 2, 3]  # the second proposal of image 0 is matched to the box-only instance
    expected = roi_heads.maskrcnn_loss(
        logits[keep],
        [proposals[0][[0, 2]], proposals[1]],
        gt_masks,
        gt_labels,
        [matched[0][[0, 2]], matched[1]],
    )
    assert loss.item() == pytest.approx(expected.item())
    loss.backward()
    assert logits.grad[1].abs().sum() == 0 and logits.grad[0].abs().sum() > 0


def test_mask_loss_is_zero_with_a_gradient_when_nothing_is_outlined():
    logits, proposals, gt_masks, gt_labels, matched, _ = _mask_inputs()
    none = [torch.tensor([False, False]), torch.tensor([False])]
    loss = mask_loss(none, roi_heads.maskrcnn_loss)(logits, proposals, gt_masks, gt_labels, matched)
    assert loss.item() == 0.0 and loss.requires_grad


def test_classifier_loss_ignores_classes_an_image_does_not_annotate():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(5, 4, generator=generator, requires_grad=True)
    regression = torch.randn(5, 16, generator=generator)
    labels = [torch.tensor([1, 0, 0]), torch.tensor([3, 0])]
    targets = [torch.randn(3, 4, generator=generator), torch.randn(2, 4, generator=generator)]
    # image 0's dataset labels classes 1 and 2 only (its class-3 objects are unlabelled)
    annotated = [torch.tensor([True, True, True, False]), torch.ones(4, dtype=torch.bool)]
    loss = classifier_loss(annotated, roi_heads.fastrcnn_loss)
    classification, _ = loss(logits, regression, labels, targets)
    classification.backward()
    assert logits.grad[:3, 3].abs().sum() == 0  # no push on image 0's class-3 logit
    assert logits.grad[3:, 3].abs().sum() > 0  # image 1 does label class 3
    # by hand: image 0's rows drop class 3 from the softmax
    rows = [
        torch.nn.functional.cross_entropy(logits[:3, :3], labels[0], reduction="sum"),
        torch.nn.functional.cross_entropy(logits[3:], labels[1], reduction="sum"),
    ]
    assert classification.item() == pytest.approx((sum(rows) / 5).item(), rel=1e-5)
    changed = logits.detach().clone()
    changed[:3, 3] += 50.0  # a confident unlabelled class-3 guess costs nothing
    again, _ = loss(changed, regression, labels, targets)
    assert again.item() == pytest.approx(classification.item(), rel=1e-5)


def test_partial_supervision_restores_torchvision_losses_even_after_an_error():
    originals = roi_heads.fastrcnn_loss, roi_heads.maskrcnn_loss
    target = {"labels": torch.ones(1, dtype=torch.int64), "has_mask": torch.ones(1, dtype=bool)}
    with pytest.raises(RuntimeError), partial_supervision([target]):
        assert roi_heads.maskrcnn_loss is not originals[1]
        raise RuntimeError("boom")
    assert (roi_heads.fastrcnn_loss, roi_heads.maskrcnn_loss) == originals


def test_model_trains_box_only_instances_without_a_mask_loss():
    torch.manual_seed(0)
    config = tiny_config("[{layers: all, epochs: 1, lr: 0.01}]", "weights=none")
    model = build_model(config, weights="none").train()
    image = torch.rand(3, 96, 96)
    mask = torch.zeros(1, 96, 96, dtype=torch.uint8)
    mask[0, 30:60, 20:70] = 1
    target = {
        "boxes": torch.tensor([[20.0, 30, 70, 60]]),
        "labels": torch.ones(1, dtype=torch.int64),
        "masks": mask,
    }
    box_only = {**target, "has_mask": torch.zeros(1, dtype=torch.bool)}
    torch.manual_seed(1)
    losses = model([image], [box_only])
    assert losses["loss_mask"].item() == 0.0
    assert losses["loss_classifier"].item() > 0 and losses["loss_objectness"].item() > 0
    torch.manual_seed(1)
    outlined = model([image], [{**target, "has_mask": torch.ones(1, dtype=torch.bool)}])
    assert outlined["loss_mask"].item() > 0.1
    assert outlined["loss_classifier"].item() == pytest.approx(losses["loss_classifier"].item())
