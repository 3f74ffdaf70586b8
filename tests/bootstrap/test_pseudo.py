"""Pseudo-labels: crop placement (exact, also at image borders) and the two written projects."""

import numpy as np
import pytest
from PIL import Image

from facemask_rcnn.bootstrap import pseudo_label
from facemask_rcnn.bootstrap.pseudo import crop_around, face_mask, paste_crop_mask
from facemask_rcnn.data import load_records
from facemask_rcnn.data.faceboxes import FaceBox


def test_crop_around_is_centred_and_clipped_to_the_image():
    assert crop_around((40, 40, 60, 60), 2.0, 200, 100) == (30, 30, 70, 70)
    assert crop_around((0, 0, 10, 20), 2.5, 200, 100) == (0, 0, 30, 35)  # top-left corner
    assert crop_around((190, 90, 200, 100), 3.0, 200, 100) == (180, 80, 200, 100)


@pytest.mark.parametrize("crop", [(0, 0, 30, 20), (170, 80, 200, 100), (50, 10, 53, 14)])
def test_paste_crop_mask_places_every_pixel_at_its_offset(crop):
    left, top, right, bottom = crop
    local = np.random.default_rng(0).random((bottom - top, right - left)) > 0.5
    full = paste_crop_mask(local, crop, 100, 200)
    assert full.shape == (100, 200) and full.sum() == local.sum()
    assert np.array_equal(full[top:bottom, left:right], local)
    with pytest.raises(ValueError, match="does not match"):
        paste_crop_mask(local, (0, 0, 5, 5), 100, 200)


@pytest.mark.parametrize("corner", [(0, 0), (188, 90)])  # a face at the image's corners
def test_face_mask_returns_the_mask_inside_the_face_in_image_coordinates(bright_predictor, corner):
    image = np.zeros((100, 200, 3), np.uint8)
    x, y = corner
    face = (x, y, x + 12, y + 10)
    image[y + 5 : y + 10, x + 1 : x + 11] = 255  # the "mask": lower half of the face
    image[50:60, 100:110] = 255  # another object, outside the face: not chosen
    found = face_mask(bright_predictor(), image, face, scale=3.0)
    assert found is not None
    mask, score = found
    expected = np.zeros((100, 200), bool)
    expected[y + 5 : y + 10, x + 1 : x + 11] = True
    assert np.array_equal(mask, expected) and score == pytest.approx(0.9)
    assert face_mask(bright_predictor(), np.zeros_like(image), face) is None


def test_pseudo_label_writes_review_and_training_projects(bright_predictor, tmp_path):
    paths = []
    for name, spots in (("one.png", [(10, 20)]), ("two.png", [(10, 20)])):
        image = np.zeros((60, 80, 3), np.uint8)
        for x, y in spots:
            image[y + 6 : y + 12, x + 2 : x + 10] = 255
        paths.append(tmp_path / name)
        Image.fromarray(image).save(paths[-1])
    faces = {
        paths[0]: [
            FaceBox((10, 20, 22, 32), "with_mask"),
            FaceBox((50, 5, 62, 17), "without_mask"),
        ],
        paths[1]: [FaceBox((10, 20, 22, 32), "with_mask"), FaceBox((50, 5, 62, 17), "with_mask")],
    }
    result = pseudo_label(bright_predictor(), faces, tmp_path / "out")
    assert (result["images"], result["masked_faces"], result["masks"]) == (2, 3, 2)
    assert result["complete_images"] == 1  # two.png's second masked face got no mask
    review, _ = load_records(result["folder"] / "review_via.json")
    train, _ = load_records(result["folder"])
    assert [r.path.name for r in review] == ["one.png", "two.png"]
    assert [r.path.name for r in train] == ["one.png"]
    mask = train[0].instances[0].to_mask(60, 80)
    expected = np.zeros((60, 80), np.uint8)
    expected[26:32, 12:20] = 1
    assert (mask == expected).mean() > 0.99  # traced polygon of the pasted mask


def test_a_crop_smaller_than_the_face_is_a_clear_error(bright_predictor, tmp_path):
    with pytest.raises(ValueError, match="scale: 0.5 is below 1"):
        pseudo_label(bright_predictor(), {}, tmp_path / "out", scale=0.5)
    assert not (tmp_path / "out").exists()
