"""Occluders: outline inside the face box, label equal to the pasted pixels, images skipped."""

import numpy as np
import pytest
from PIL import Image

from facemask_rcnn.bootstrap import occlude_faces
from facemask_rcnn.bootstrap.occlude import occluder_polygon, paste_occluder
from facemask_rcnn.data import load_records
from facemask_rcnn.data.boxes import FaceBox
from facemask_rcnn.synth import MASK_TYPES
from tests.conftest import EXTREME_SHAPES, write_image


@pytest.mark.parametrize("seed", range(12))
def test_occluder_polygon_lies_inside_the_face_box_and_covers_the_lower_face(seed):
    rng = np.random.default_rng(seed)
    face = (30.5, 12.0, 70.0, 64.0)
    polygon = occluder_polygon(rng, face, MASK_TYPES[seed % 4], low=seed % 3 == 0)
    assert len(polygon) >= 3
    assert polygon[:, 0].min() >= face[0] - 1e-9 and polygon[:, 0].max() <= face[2] + 1e-9
    assert polygon[:, 1].min() >= face[1] - 1e-9 and polygon[:, 1].max() <= face[3] + 1e-9
    assert polygon[:, 1].mean() > (face[1] + face[3]) / 2  # the lower half of the face
    assert np.ptp(polygon[:, 0]) > 0.6 * (face[2] - face[0])  # cheek to cheek


def checkerboard(inverse: bool) -> Image.Image:
    ys, xs = np.mgrid[0:80, 0:100]
    board = ((xs // 3 + ys // 3) % 2 == (1 if inverse else 0)).astype(np.uint8) * 255
    return Image.fromarray(np.stack([board] * 3, axis=-1))


@pytest.mark.parametrize("seed", range(6))
def test_instance_mask_is_exactly_the_pasted_pixels(seed):
    # The same occluder on a checkerboard and on its inverse (same mean brightness, so the same
    # texture): the pixels where the two results agree are exactly those the occluder covers.
    face = FaceBox((20.3, 10.0, 61.7, 58.0), "without_mask")
    results = []
    for inverse in (False, True):
        image = checkerboard(inverse)
        instance = paste_occluder(image, face, np.random.default_rng(seed))
        results.append((np.asarray(image), instance))
    (a, instance), (b, _) = results
    pasted = (a == b).all(axis=-1)
    assert pasted.any()
    assert np.array_equal(pasted, instance.to_mask(80, 100).astype(bool))
    assert instance.attributes["type"] in MASK_TYPES and instance.label == "face_mask"


def test_tiny_faces_get_no_occluder():
    image = checkerboard(False)
    face = FaceBox((10, 10, 16, 40), "without_mask")
    assert paste_occluder(image, face, np.random.default_rng(0)) is None
    assert np.array_equal(np.asarray(image), np.asarray(checkerboard(False)))


def test_occlude_faces_skips_images_with_masked_faces_and_writes_a_dataset(tmp_path):
    rng = np.random.default_rng(0)
    paths, originals = [], []
    for name in ("bare.jpg", "mixed.jpg"):
        path = tmp_path / "in" / name
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(60, 200, (90, 120, 3), dtype=np.uint8)).save(path)
        paths.append(path)
        originals.append(path.read_bytes())
    faces = {
        paths[0]: [FaceBox((10, 10, 50, 60), "without_mask"), FaceBox((70, 20, 110, 70), "face")],
        paths[1]: [FaceBox((10, 10, 50, 60), "with_mask"), FaceBox((70, 20, 110, 70), "face")],
    }
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("user file")  # not empty: a new folder is used
    result = occlude_faces(faces, tmp_path / "out", seed=1)
    assert result.folder == tmp_path / "out-2"
    assert (tmp_path / "out" / "mine.txt").read_text() == "user file"
    assert (result.images, result.occluders, result.skipped_masked) == (1, 2, 1)
    records, problems = load_records(result.folder)
    assert not problems and [r.path.name for r in records] == ["bare.jpg"]
    for instance, face in zip(records[0].instances, faces[paths[0]], strict=True):
        x0, y0, x1, y1 = instance.box()
        assert face.box[0] - 0.01 <= x0 and x1 <= face.box[2] + 0.01
        assert face.box[1] - 0.01 <= y0 and y1 <= face.box[3] + 0.01
    assert [p.read_bytes() for p in paths] == originals  # the input images are untouched
    written = np.asarray(Image.open(records[0].path), dtype=int)
    before = np.asarray(Image.open(paths[0]), dtype=int)
    changed = np.abs(written - before).max(axis=-1) > 40  # pixels the occluders painted
    assert changed.any() and records[0].masks().any(axis=0)[changed].mean() > 0.9


def test_outlined_masked_faces_let_an_image_in_and_share_keeps_negatives(tmp_path):
    from facemask_rcnn.data.records import ImageRecord, Instance

    path = tmp_path / "mixed.jpg"
    Image.fromarray(np.full((90, 120, 3), 128, np.uint8)).save(path)
    faces = {
        path: [
            FaceBox((10, 10, 50, 60), "with_mask"),
            FaceBox((70, 20, 110, 70), "without_mask"),
        ]
    }
    outline = Instance("face_mask", [np.array([[15.0, 35], [45, 35], [45, 58], [15, 58]])])
    labels = [ImageRecord(path, 120, 90, [outline], "pseudo")]
    both = occlude_faces(faces, tmp_path / "both", seed=0, labels=labels)
    assert (both.images, both.occluders, both.skipped_masked) == (1, 1, 0)
    negatives = occlude_faces(faces, tmp_path / "negatives", seed=0, share=0.0, labels=labels)
    assert (negatives.images, negatives.occluders) == (1, 0)
    records, _ = load_records(negatives.folder)
    assert len(records[0].instances) == 1
    assert records[0].instances[0].box() == pytest.approx((15, 35, 45, 58))


def test_share_outside_0_1_is_a_clear_error_and_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match="share: 1.5 is not between 0 and 1"):
        occlude_faces({}, tmp_path / "out", share=1.5)
    assert not (tmp_path / "out").exists()


def test_extreme_photo_shapes_leave_the_rest_of_the_batch_occluded(tmp_path):
    faces = {}
    for index, (width, height) in enumerate(EXTREME_SHAPES):
        path = write_image(tmp_path / f"{width}x{height}.png", width, height, seed=index)
        faces[path] = [FaceBox((0, 0, width, height), "without_mask")]
    normal = write_image(tmp_path / "normal.png", 120, 90)
    faces[normal] = [FaceBox((20, 10, 80, 80), "without_mask")]
    result = occlude_faces(faces, tmp_path / "out", seed=0)
    # no strip holds a face MIN_FACE px on both sides: only the normal photo gets an occluder
    assert (result.images, result.occluders, result.problems) == (1, 1, [])
    (record,), problems = load_records(result.folder)
    assert problems == [] and record.path.name == "normal.jpg"
