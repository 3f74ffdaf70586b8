"""Each augmentation preset on a fixed seed: reproducible, boxes follow masks, masks stay exact."""

import numpy as np
import pytest
import torch
from torchvision import tv_tensors
from torchvision.ops import masks_to_boxes

from facemask_rcnn.data import MaskDataset, load_records
from facemask_rcnn.data.dataset import make_target
from facemask_rcnn.data.synth import synthesize
from facemask_rcnn.data.transforms import PRESETS, CopyPaste, Occlude, Recolour, build_transforms


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    out = tmp_path_factory.mktemp("aug")
    synthesize(out, n=12, seed=4, size=128)
    return load_records(out, "train")[0]


def _sample(image_value=100):
    image = tv_tensors.Image(torch.full((3, 64, 64), image_value, dtype=torch.uint8))
    masks = torch.zeros(2, 64, 64, dtype=torch.uint8)
    masks[0, 10:30, 10:40] = 1
    masks[1, 40:60, 20:50] = 1
    return image, make_target(masks, torch.tensor([1, 1]), 0)


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_is_reproducible_and_boxes_match_masks(records, preset):
    dataset = MaskDataset(records, ["face_mask"], 128, augment=preset)
    torch.manual_seed(0)
    first = [dataset[i] for i in range(len(dataset))]
    torch.manual_seed(0)
    second = [dataset[i] for i in range(len(dataset))]
    changed = 0
    plain = MaskDataset(records, ["face_mask"], 128)
    for i, ((a_img, a_t), (b_img, b_t)) in enumerate(zip(first, second, strict=True)):
        assert torch.equal(a_img, b_img) and torch.equal(a_t["masks"], b_t["masks"])
        assert a_t["masks"].max() <= 1  # padding and rotation never write other values
        if len(a_t["masks"]):
            expected = masks_to_boxes(a_t["masks"]) + torch.tensor([0.0, 0.0, 1.0, 1.0])
            assert torch.equal(a_t["boxes"].as_subclass(torch.Tensor), expected)
        raw, _ = plain[i]
        changed += a_img.shape != raw.shape or not torch.equal(a_img, raw)
    if preset == "none":
        assert changed == 0
    else:
        assert changed >= len(records) // 2


def test_recolour_changes_only_mask_pixels_and_keeps_shading():
    torch.manual_seed(1)
    image, target = _sample()
    image[:, 15:20] = 60  # a fold: darker rows inside the first mask
    out, new = Recolour(p=1.0)(image, target)
    assert torch.equal(new["masks"], target["masks"])
    inside = target["masks"].any(0).bool()
    assert torch.equal(out[:, ~inside], image[:, ~inside])
    assert not torch.equal(out[:, inside], image[:, inside])
    fold, flat = out[:, 15:20, 12:38].float().mean(), out[:, 22:28, 12:38].float().mean()
    assert fold < flat  # the darker fold stays darker after recolouring


def test_occlude_removes_covered_pixels_from_the_mask():
    torch.manual_seed(2)
    image, target = _sample()
    out, new = Occlude(p=1.0)(image, target)
    assert new["masks"].sum() < target["masks"].sum()
    removed = target["masks"].bool() & ~new["masks"].bool()
    assert (out[:, removed.any(0)] != 100).any(0).all()  # covered pixels were painted


def test_copy_paste_adds_one_instance_that_occludes_others():
    torch.manual_seed(3)
    image, target = _sample()
    src_img = np.full((64, 64, 3), 200, np.uint8)
    src_masks = np.zeros((1, 64, 64), np.uint8)
    src_masks[0, 5:45, 5:45] = 1
    out, new = CopyPaste(lambda: (src_img, src_masks, np.array([1])), p=1.0)(image, target)
    assert len(new["masks"]) == 3
    pasted = new["masks"][2].bool()
    assert pasted.sum() > 0 and (out[:, pasted] == 200).all()
    assert not (new["masks"][:2].bool() & pasted).any()


def test_unknown_preset_is_an_error():
    with pytest.raises(ValueError, match="unknown augmentation preset"):
        build_transforms("medium", 128)
