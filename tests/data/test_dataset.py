import numpy as np
import torch

from facemask_rcnn.data import ImageRecord, Instance, MaskDataset, collate
from tests.conftest import write_image


def _record(tmp_path):
    path = write_image(tmp_path / "wide.png", 200, 100)
    square = np.array([[20, 20], [60, 20], [60, 60], [20, 60]], float)
    return ImageRecord(path, 200, 100, [Instance("face_mask", [square])])


def test_resize_to_image_size_scales_masks_and_boxes(tmp_path):
    image, target = MaskDataset([_record(tmp_path)], ["face_mask"], image_size=100)[0]
    assert image.shape == (3, 50, 100) and image.dtype == torch.float32 and image.max() <= 1
    assert target["boxes"].tolist() == [[10.0, 10.0, 30.0, 30.0]]
    assert int(target["masks"].sum()) == 400 and target["labels"].tolist() == [1]


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
    _, masks, labels, outlined = dataset.load(0)
    assert outlined.tolist() == [True, False] and len(masks) == 2
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
