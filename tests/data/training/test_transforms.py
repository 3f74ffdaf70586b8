"""Each augmentation preset on a fixed seed: reproducible, boxes follow masks, masks stay exact."""

import numpy as np
import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from facemask_rcnn.data import MaskDataset, load_records
from facemask_rcnn.data.training.dataset import make_target
from facemask_rcnn.data.training.transforms import (
    PRESETS,
    CopyPaste,
    FrameInstance,
    Occlude,
    Recolour,
    TileCrop,
    _start,
    build_transforms,
    looks_like_skin,
)
from facemask_rcnn.synth import synthesize


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
        if len(a_t["masks"]):  # a random crop may miss every mask: a negative sample
            assert a_t["masks"].max() <= 1  # padding and rotation never write other values
            for mask, box in zip(a_t["masks"].numpy(), a_t["boxes"].tolist(), strict=True):
                ys, xs = np.nonzero(mask)  # the box is the mask's pixel extent, edges inclusive
                assert box == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
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


def test_blotches_split_the_mask_into_shaded_colour_bands():
    torch.manual_seed(5)
    paint = torch.full((3, 40, 60), 80.0)
    shade = torch.ones(40, 60)
    shade[:, 30:] = 0.5  # the right half is in shadow
    out = Recolour().blotches(paint, shade)
    colours = {tuple(c) for c in out[:, :, :30].reshape(3, -1).T.tolist()}
    assert 2 <= len(colours) <= 4  # the first band keeps the paint, others get new colours
    kept = (out == paint).all(0)
    assert 0.1 < kept.float().mean() < 0.6  # equal-area bands: the first holds 1/2 to 1/4
    # the same band is half as bright in the shadow as in the light
    left, right = out[:, :, 29], out[:, :, 30]
    same = (left / shade[:, 29] - right / shade[:, 30]).abs().amax(0) < 1e-3
    assert same.any() and torch.allclose(right[:, same], 0.5 * left[:, same])


def test_frame_instance_window_follows_the_margins(monkeypatch):
    frame = FrameInstance(100, otherwise=None)
    margins = {"left": (0.5, 0.5), "right": (-0.1, -0.1), "top": (1.0, 1.0), "bottom": (0.2, 0.2)}
    monkeypatch.setattr(frame, "MARGINS", margins)
    # box 40 wide, 20 high at (50, 60): left 50-20, right 90-4, top 60-20, bottom 80+4
    assert frame.window((50, 60, 90, 80), height=200, width=200) == (40, 30, 44, 56)
    # near the border the window stops at the image
    assert frame.window((5, 10, 45, 30), height=32, width=200) == (0, 0, 32, 41)


def test_frame_instance_crops_around_a_mask_and_cuts_it_at_the_border(monkeypatch):
    torch.manual_seed(6)
    image, target = _sample()
    margins = {"left": (0.1, 0.2), "right": (0.1, 0.2), "top": (0.5, 0.5), "bottom": (-0.2, -0.2)}
    frame = FrameInstance(96, otherwise=lambda *a: pytest.fail("took the other crop"), p=1.0)
    monkeypatch.setattr(frame, "MARGINS", margins)
    out, new = frame(image, target)
    assert max(out.shape[-2:]) == 96
    assert out.shape[-2:] == new["masks"].shape[-2:]
    framed = make_target(new["masks"], new["labels"], 0)
    share = framed["masks"].float().flatten(1).mean(1).max()
    assert share > 0.4  # one mask now fills a large part of the picture
    big = framed["masks"][framed["masks"].flatten(1).sum(1).argmax()]
    assert big[-1].any() and not big[0].any()  # cut by the bottom border, eyes' room above
    assert set(framed["masks"].unique().tolist()) <= {0, 1}


def test_frame_instance_never_frames_a_shape_prior():
    image, target = _sample()
    target["outlined"] = torch.tensor([False, True])
    frame = FrameInstance(96, otherwise=lambda *a: pytest.fail("took the other crop"), p=1.0)
    for seed in range(8):
        torch.manual_seed(seed)
        _, new = frame(image, target)
        framed = make_target(new["masks"], new["labels"], 0)
        # the outlined mask (rows 40-60) is the one enlarged; the prior above is at most partly in
        assert framed["masks"].flatten(1).sum(1).max() > 20 * 30 * 2
        assert new["masks"][0].sum() < new["masks"][1].sum()


def test_frame_instance_with_only_priors_takes_the_other_crop():
    image, target = _sample()
    target["outlined"] = torch.tensor([False, False])
    frame = FrameInstance(96, otherwise=lambda img, tgt: ("other", tgt), p=1.0)
    assert frame(image, target)[0] == "other"


def test_strong_preset_frames_a_third_of_images_and_random_crops_the_rest():
    steps = build_transforms("strong", 128).transforms
    frames = [t for t in steps if isinstance(t, FrameInstance)]
    assert len(frames) == 1 and frames[0].size == 128
    assert isinstance(frames[0].otherwise, v2.RandomResizedCrop)
    frame = FrameInstance(128, otherwise=lambda img, tgt: ("cropped", tgt), p=frames[0].p)
    image, target = _sample()
    torch.manual_seed(0)
    framed = sum(frame(image, target)[0] != "cropped" for _ in range(600))
    assert 0.28 < framed / 600 < 0.42  # about a third framed, the rest random crops


def test_frame_instance_otherwise_takes_the_other_crop():
    image, target = _sample()
    frame = FrameInstance(96, otherwise=lambda img, tgt: ("other", tgt), p=0.0)
    assert frame(image, target)[0] == "other"


def _crowd(size=200):
    """A crowd-like sample: one 12-px mask, one 60-px mask."""
    image = tv_tensors.Image(torch.zeros((3, size, size), dtype=torch.uint8))
    masks = torch.zeros(2, size, size, dtype=torch.uint8)
    masks[0, 150:160, 20:32] = 1
    masks[1, 20:70, 100:160] = 1
    image[:, masks[0].bool()] = 255
    return image, make_target(masks, torch.tensor([1, 1]), 0)


def test_tile_crop_enlarges_a_window_around_a_small_mask():
    image, target = _crowd()
    tile = TileCrop(96, otherwise=lambda *a: pytest.fail("took the other crop"), p=1.0)
    for seed in range(10):
        torch.manual_seed(seed)
        out, new = tile(image, target)
        assert out.shape[-2:] == new["masks"].shape[-2:] == (96, 96)
        small = new["masks"][0].bool()
        # the whole 12x10 mask is inside a 64-160 px window, so it grows 0.6-1.5x per side
        side = 96 / (small.any(0).sum() / 12)
        assert 64 * 0.9 <= side <= 160 * 1.1
        assert not small[0].any() and not small[-1].any()  # not cut by the window
        # image and mask moved together (edge pixels blend under the image's interpolation)
        assert out[:, small].float().mean() > 200 and out[:, ~small].float().mean() < 10


def test_tile_crop_window_covers_the_mask_and_stays_inside_the_image():
    for seed in range(20):
        torch.manual_seed(seed)
        start = _start(10, 22, side=64, length=200)
        assert 0 <= start <= 10 and start + 64 >= 22
    assert _start(190, 200, side=64, length=200) == 136  # flush with the far edge
    assert _start(10, 100, side=64, length=200) == 10  # span longer than the window: its start


def test_tile_crop_leaves_large_masks_to_the_other_crop():
    image, target = _sample()  # masks 30 and 30 px wide: not small below 24
    tile = TileCrop(96, otherwise=lambda img, tgt: ("other", tgt), p=1.0, small=24)
    assert tile(image, target)[0] == "other"
    image, target = _crowd()
    assert TileCrop(96, otherwise=lambda img, tgt: ("other", tgt), p=0.0)(image, target)[0] == (
        "other"
    )


def test_strong_preset_adds_the_tile_crop_only_when_asked():
    assert not any(isinstance(t, TileCrop) for t in build_transforms("strong", 128).transforms)
    steps = build_transforms("strong", 128, tile_crop=0.4).transforms
    tiles = [t for t in steps if isinstance(t, TileCrop)]
    assert len(tiles) == 1 and tiles[0].p == 0.4 and isinstance(tiles[0].otherwise, FrameInstance)


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
    assert new["outlined"].tolist() == [True, True, True]


def test_unknown_preset_is_an_error():
    with pytest.raises(ValueError, match="unknown augmentation preset"):
        build_transforms("medium", 128)


@pytest.mark.parametrize(
    ("rgb", "skin"),
    [
        ((224, 172, 105), True),
        ((141, 85, 36), True),
        ((255, 219, 172), True),
        ((150, 190, 220), False),  # light-blue surgical
        ((30, 30, 35), False),
        ((235, 235, 230), False),
        ((60, 160, 80), False),
    ],
)
def test_skin_rule_separates_skin_tones_from_mask_colours(rgb, skin):
    assert looks_like_skin(torch.tensor(rgb, dtype=torch.float32)) is skin


@pytest.mark.parametrize("skin", [True, False])
def test_recolour_for_faces_models_never_paints_a_mask_in_skin_colour(skin):
    torch.manual_seed(5)
    painted = set()
    for _ in range(60):  # flat image: the paint is the drawn colour itself, unshaded
        out, target = Recolour(p=1.0, skin=skin)(*_sample())
        inside = out[:, target["masks"].any(0).bool()].T
        painted |= {tuple(c) for c in inside.tolist()}
    skin_coloured = sum(looks_like_skin(torch.tensor(c, dtype=torch.float32)) for c in painted)
    assert (skin_coloured > 0) is skin
