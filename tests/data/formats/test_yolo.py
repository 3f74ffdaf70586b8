"""YOLO segmentation labels (Roboflow and Ultralytics layouts) read, checked and converted."""

import numpy as np

from facemask_rcnn.cli import main
from facemask_rcnn.data import load_records
from facemask_rcnn.data.load import available_splits
from tests.conftest import write_image

TRIANGLE = "0 0.125 0.25 0.625 0.25 0.375 0.75"  # on a 64 x 48 image: (8,12) (40,12) (24,36)


def _split(images, labels, names=("a", "b")):
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    for i, name in enumerate(names):
        write_image(images / f"{name}.jpg", 64, 48, seed=i)
    (labels / f"{names[0]}.txt").write_text(f"{TRIANGLE}\n1 0.7 0.7 0.9 0.7 0.9 0.9 0.7 0.9\n")
    (labels / f"{names[1]}.txt").write_text("2 0.5 0.5 0.2 0.2\n0 0.5 0.5 0 0.1\n")  # boxes


def test_roboflow_layout_reads_polygons_in_pixels_with_names_from_data_yaml(tmp_path):
    (tmp_path / "data.yaml").write_text("names: [surgical, cloth, face]\nnc: 3\n")
    _split(tmp_path / "train" / "images", tmp_path / "train" / "labels")
    _split(tmp_path / "valid" / "images", tmp_path / "valid" / "labels", ("c", "d"))
    assert available_splits(tmp_path) == ["train", "val"]
    records, problems = load_records(tmp_path, "train")
    assert [r.file_name for r in records] == ["a.jpg", "b.jpg"]
    assert [i.label for i in records[0].instances] == ["surgical", "cloth"]
    np.testing.assert_allclose(records[0].instances[0].polygons[0], [[8, 12], [40, 12], [24, 36]])
    (box,) = records[1].instances  # a box line: a box-only instance (face boxes)
    assert box.label == "face" and not box.has_shape
    np.testing.assert_allclose(box.bbox, [25.6, 19.2, 38.4, 28.8])
    assert [str(p).split(": ", 2)[2] for p in problems] == ["line 2: empty box"]
    val, _ = load_records(tmp_path, "val")
    assert [r.file_name for r in val] == ["c.jpg", "d.jpg"]


def test_ultralytics_layout_and_conversion_to_coco(tmp_path, capsys):
    (tmp_path / "data.yaml").write_text("names: {0: surgical, 1: cloth, 2: face}\n")
    _split(tmp_path / "images" / "train", tmp_path / "labels" / "train")
    _split(tmp_path / "images" / "val", tmp_path / "labels" / "val", ("c", "d"))
    assert available_splits(tmp_path) == ["train", "val"]
    records, _ = load_records(tmp_path, "train")
    assert records[0].masks()[0].sum() == records[0].instances[0].to_mask(48, 64).sum() > 300
    assert main(["data", "check", "--data", str(tmp_path)]) == 1  # the empty boxes are errors
    out = capsys.readouterr().out
    assert "[train]" in out and "[val]" in out and "surgical       1" in out
    target = tmp_path / "images" / "train" / "coco.json"
    assert main(["data", "convert", "--data", str(tmp_path), "--split", "train", "--to", "coco",
                 "--out", str(target)]) == 0  # fmt: skip
    back, problems = load_records(target)
    assert not problems and [i.label for i in back[0].instances] == ["surgical", "cloth"]
    assert (back[0].masks() == records[0].masks()).all()
    np.testing.assert_allclose(back[1].instances[0].bbox, records[1].instances[0].bbox, atol=0.01)
