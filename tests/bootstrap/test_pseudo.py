"""Pseudo-labels: crop placement (exact, also at image borders) and the two written projects."""

import numpy as np
import pytest
from PIL import Image

from facemask_rcnn.bootstrap import pseudo_label
from facemask_rcnn.bootstrap.pseudo import crop_around, face_mask, paste_crop_mask, prior_mask
from facemask_rcnn.data import load_records
from facemask_rcnn.data.boxes import FaceBox
from tests.conftest import EXTREME_SHAPES


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
    assert (result.images, result.masked_faces, result.masks) == (2, 3, 2)
    assert result.complete_images == 1  # two.png's second masked face got no mask
    review, _ = load_records(result.folder / "review_via.json")
    train, _ = load_records(result.folder)
    assert [r.path.name for r in review] == ["one.png", "two.png"]
    assert [r.path.name for r in train] == ["one.png"]
    mask = train[0].instances[0].to_mask(60, 80)
    expected = np.zeros((60, 80), np.uint8)
    expected[26:32, 12:20] = 1
    assert (mask == expected).mean() > 0.99  # traced polygon of the pasted mask


def test_prior_mask_is_an_ellipse_over_the_lower_face():
    mask = prior_mask((10, 20, 30, 40), 60, 80)  # 20 px face: rows 27-39, columns 12-27
    rows, cols = np.nonzero(mask)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (27, 39, 12, 27)
    assert mask[33, 12:28].all() and not mask[33, 11] and not mask[33, 28]  # the widest row
    assert mask.sum() == pytest.approx(np.pi * 8 * 6.5, rel=0.1)  # semi-axes 8 and 6.5 px
    assert np.array_equal(mask[:, :20], mask[:, 20:40][:, ::-1])  # symmetric about the centre


def test_prior_mask_at_borders_and_for_tiny_or_outside_faces():
    edge = prior_mask((-10, 50, 10, 70), 60, 80)  # cut by the left and bottom edges
    whole = prior_mask((10, 50, 30, 70), 80, 100)  # the same face 20 px right, in a larger image
    assert edge.any() and np.array_equal(edge, whole[:60, 20:])
    tiny = prior_mask((5.2, 5.2, 6.0, 6.0), 60, 80)
    assert np.argwhere(tiny).tolist() == [[5, 5]]  # at least the centre pixel
    assert not prior_mask((90, 70, 100, 80), 60, 80).any()


def test_small_faces_the_model_misses_get_the_prior_and_complete_the_image(
    bright_predictor, tmp_path
):
    image = np.zeros((60, 80, 3), np.uint8)
    image[26:32, 12:20] = 255  # a mask the model finds on the first face
    Image.fromarray(image).save(tmp_path / "crowd.png")
    found, small, large = (10, 20, 22, 32), (50, 5, 62, 17), (40, 30, 70, 60)
    faces = {
        tmp_path / "crowd.png": [
            FaceBox(found, "with_mask"),
            FaceBox(small, "mask_weared_incorrect"),
        ]
    }
    result = pseudo_label(bright_predictor(), faces, tmp_path / "one", prior_below=16)
    assert (result.masks, result.priors, result.complete_images) == (2, 1, 1)
    (record,) = load_records(result.folder)[0]
    model, prior = record.instances
    assert model.attributes["source"] == "pseudo" and prior.attributes["source"] == "prior"
    assert prior.attributes["face"] == "mask_weared_incorrect"
    expected = prior_mask(small, 60, 80)
    assert (prior.to_mask(60, 80).astype(bool) == expected).mean() > 0.99
    faces[tmp_path / "crowd.png"].append(FaceBox(large, "with_mask"))  # 30 px: no prior
    result = pseudo_label(bright_predictor(), faces, tmp_path / "two", prior_below=16)
    assert (result.masks, result.priors, result.complete_images) == (2, 1, 0)
    off = pseudo_label(bright_predictor(), faces, tmp_path / "three")
    assert (off.masks, off.priors) == (1, 0)


def test_a_crop_smaller_than_the_face_is_a_clear_error(bright_predictor, tmp_path):
    with pytest.raises(ValueError, match="scale: 0.5 is below 1"):
        pseudo_label(bright_predictor(), {}, tmp_path / "out", scale=0.5)
    assert not (tmp_path / "out").exists()


def test_extreme_photo_shapes_get_their_masks_and_read_back(bright_predictor, tmp_path):
    faces = {}
    for width, height in EXTREME_SHAPES:  # white photos: the stand-in model masks all of them
        path = tmp_path / f"{width}x{height}.png"
        Image.fromarray(np.full((height, width, 3), 255, np.uint8)).save(path)
        faces[path] = [FaceBox((0, 0, width, height), "with_mask")]
    result = pseudo_label(bright_predictor(), faces, tmp_path / "out")
    assert (result.images, result.masks, result.complete_images) == (5, 5, 5)
    assert result.problems == []
    records, problems = load_records(result.folder)
    assert problems == [] and len(records) == 5
    for record in records:
        assert record.instances[0].to_mask(record.height, record.width).all()
