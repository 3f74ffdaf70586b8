import numpy as np
import pytest
import torch

from facemask_rcnn.data import ImageRecord, Instance, MaskDataset, collate, load_records
from tests.conftest import EXTREME_SHAPES, write_extreme_dataset, write_image


def _record(tmp_path):
    path = write_image(tmp_path / "wide.png", 200, 100)
    square = np.array([[20, 20], [60, 20], [60, 60], [20, 60]], float)
    return ImageRecord(path, 200, 100, [Instance("face_mask", [square])])


def test_resize_to_image_size_scales_masks_and_boxes(tmp_path):
    image, target = MaskDataset([_record(tmp_path)], ["face_mask"], image_size=100)[0]
    assert image.shape == (3, 50, 100) and image.dtype == torch.float32 and image.max() <= 1
    assert target["boxes"].tolist() == [[10.0, 10.0, 30.0, 30.0]]
    assert int(target["masks"].sum()) == 400 and target["labels"].tolist() == [1]


@pytest.mark.parametrize("size", [64, 256, 512])
def test_extreme_photo_shapes_keep_a_pixel_on_the_short_side_and_their_mask(tmp_path, size):
    records, problems = load_records(write_extreme_dataset(tmp_path, ("train",)), "train")
    assert not problems and len(records) == len(EXTREME_SHAPES)
    for record in records:
        image, target = MaskDataset([record], ["face_mask"], image_size=size)[0]
        height, width = image.shape[1:]
        assert min(height, width) >= 1 and max(height, width) == size
        # the outline covers the photo: it stays while it reaches a pixel centre at this size
        kept = min(record.width, record.height) * size / max(record.width, record.height) > 0.5
        assert target["masks"].shape == (int(kept), height, width) and target["masks"].all()
        assert target["boxes"].tolist() == [[0.0, 0.0, float(width), float(height)]] * kept


def test_cache_returns_the_same_sample_without_reading_the_file(tmp_path):
    record = _record(tmp_path)
    dataset = MaskDataset([record], ["face_mask"], image_size=100, cache=True)
    first = dataset[0]
    record.path.unlink()
    second = dataset[0]
    assert torch.equal(first[0], second[0]) and torch.equal(first[1]["masks"], second[1]["masks"])


def test_unknown_label_is_a_clear_error(tmp_path):
    record = _record(tmp_path)
    record.instances[0].label = "hat"
    try:
        MaskDataset([record], ["face_mask"])
    except ValueError as err:
        assert "['hat']" in str(err)
    else:
        raise AssertionError("expected ValueError")


def test_collate_keeps_lists(tmp_path):
    dataset = MaskDataset([_record(tmp_path)] * 2, ["face_mask"], image_size=64)
    images, targets = collate([dataset[0], dataset[1]])
    assert len(images) == 2 and len(targets) == 2


def test_shape_priors_are_marked_and_never_a_paste_source(tmp_path):
    record = _record(tmp_path)
    ellipse = np.array([[100, 40], [140, 20], [180, 40], [140, 60]], float)
    record.instances.append(Instance("face_mask", [ellipse], attributes={"source": "prior"}))
    dataset = MaskDataset([record], ["face_mask"], image_size=100)
    item = dataset.load(0)
    assert item["outlined"].tolist() == [True, False] and len(item["masks"]) == 2
    _, target = dataset[0]
    assert target["outlined"].tolist() == [True, False]
    _, pasteable, pasteable_labels = dataset.paste_source()
    assert len(pasteable) == 1 and pasteable[0].sum() == 400 and pasteable_labels.tolist() == [1]


def test_strong_augmentation_keeps_the_prior_flags_with_their_masks(tmp_path):
    record = _record(tmp_path)
    ellipse = np.array([[100, 40], [140, 20], [180, 40], [140, 60]], float)
    record.instances.append(Instance("face_mask", [ellipse], attributes={"source": "prior"}))
    dataset = MaskDataset([record], ["face_mask"], image_size=100, augment="strong")
    for seed in range(10):
        torch.manual_seed(seed)
        _, target = dataset[0]
        assert len(target["outlined"]) == len(target["masks"]) == len(target["labels"])
        assert len(target["has_mask"]) == len(target["boxes"]) == len(target["labels"])


def _face_record(tmp_path):
    """A 200x100 photo with a masked face (its box, and the mask inside) and a box-only bare
    face."""
    path = write_image(tmp_path / "faces.png", 200, 100)
    mask = np.array([[20, 50], [60, 50], [60, 80], [20, 80]], float)
    masked = Instance("masked", [mask], bbox=(15.0, 10.0, 65.0, 90.0))
    bare = Instance("bare", bbox=(120.0, 20.0, 160.0, 70.0))
    return ImageRecord(path, 200, 100, [masked, bare])


def test_face_boxes_are_kept_and_box_only_faces_carry_no_mask(tmp_path):
    dataset = MaskDataset([_face_record(tmp_path)], ["masked", "incorrect", "bare"], 100)
    _, target = dataset[0]
    assert target["boxes"].tolist() == [[7.5, 5.0, 32.5, 45.0], [60.0, 10.0, 80.0, 35.0]]
    assert target["has_mask"].tolist() == [True, False]
    assert target["tight"].tolist() == [False, False]
    assert int(target["masks"][0].sum()) == 20 * 15 and int(target["masks"][1].sum()) == 0


def test_augmented_face_boxes_move_with_the_image_and_stay_inside_it(tmp_path):
    dataset = MaskDataset([_face_record(tmp_path)], ["masked", "incorrect", "bare"], 100, "strong")
    for seed in range(12):
        torch.manual_seed(seed)
        image, target = dataset[0]
        boxes = target["boxes"]
        assert len(boxes) == len(target["has_mask"]) == len(target["masks"])
        assert (boxes[:, 2:] - boxes[:, :2] >= 1).all()
        assert (boxes[:, 2] <= image.shape[2]).all() and (boxes[:, 3] <= image.shape[1]).all()
        for box, mask in zip(boxes, target["masks"], strict=True):
            ys, xs = torch.nonzero(mask, as_tuple=True)
            if len(ys):  # a face's mask lies inside its face box
                assert xs.min() >= box[0] - 1 and xs.max() < box[2] + 1
                assert ys.min() >= box[1] - 1 and ys.max() < box[3] + 1


def test_make_target_drops_empty_tight_masks_and_boxes_under_a_pixel():
    from facemask_rcnn.data.training.dataset import make_target

    masks = torch.zeros(3, 20, 30, dtype=torch.uint8)
    masks[0, 2:6, 3:9] = 1
    boxes = torch.tensor([[float("nan")] * 4, [float("nan")] * 4, [25.0, 10.0, 25.5, 18.0]])
    target = make_target(masks, torch.tensor([1, 1, 2]), 0, boxes=boxes)
    assert target["boxes"].tolist() == [[3.0, 2.0, 9.0, 6.0]]  # empty mask, thin box: gone
    clipped = make_target(masks[:1], torch.tensor([1]), 0, boxes=torch.tensor([[-5.0, 2, 40, 25]]))
    assert clipped["boxes"].tolist() == [[0.0, 2.0, 30.0, 20.0]]
