"""Face-box readers: COCO, PASCAL VOC and YOLO give the same boxes for the same faces."""

import json

import pytest

from facemask_rcnn.data.boxes import FaceBox
from facemask_rcnn.data.formats.faceboxes import read_faces
from tests.conftest import write_image

FACES = [
    FaceBox((10.0, 8.0, 30.0, 32.0), "with_mask"),
    FaceBox((40.0, 4.0, 60.0, 20.0), "without_mask"),
]


def test_coco_voc_and_yolo_readers_agree(tmp_path):
    images = tmp_path / "images"
    image = write_image(images / "a.jpg", 80, 40)
    coco = {
        "images": [{"id": 7, "file_name": "a.jpg", "width": 80, "height": 40}],
        "categories": [{"id": 1, "name": "with_mask"}, {"id": 2, "name": "without_mask"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 1, "bbox": [10, 8, 20, 24]},
            {"id": 2, "image_id": 7, "category_id": 2, "bbox": [40, 4, 20, 16]},
            {"id": 3, "image_id": 7, "category_id": 2, "bbox": [1, 1, 0, 5]},  # empty: reported
        ],
    }
    (tmp_path / "faces.json").write_text(json.dumps(coco))
    voc = tmp_path / "voc"
    voc.mkdir()
    objects = "".join(
        f"<object><name>{f.label}</name><bndbox><xmin>{f.box[0]:g}</xmin><ymin>{f.box[1]:g}</ymin>"
        f"<xmax>{f.box[2]:g}</xmax><ymax>{f.box[3]:g}</ymax></bndbox></object>"
        for f in FACES
    )
    (voc / "a.xml").write_text(f"<annotation><filename>a.jpg</filename>{objects}</annotation>")
    yolo = tmp_path / "yolo"
    yolo.mkdir()
    (yolo / "classes.txt").write_text("with_mask\nwithout_mask\n")
    (yolo / "a.txt").write_text("0 0.25 0.5 0.25 0.6\n1 0.625 0.3 0.25 0.4\n")

    from_coco, coco_problems = read_faces(tmp_path / "faces.json", images)
    from_voc, _ = read_faces(voc, images)
    from_yolo, _ = read_faces(yolo, images)
    for faces in (from_coco, from_voc, from_yolo):
        assert list(faces) == [image]
        got = faces[image]
        assert [f.label for f in got] == [f.label for f in FACES]
        for face, expected in zip(got, FACES, strict=True):
            assert face.box == pytest.approx(expected.box, abs=1e-6)
    assert [f.masked for f in from_coco[image]] == [True, False]
    assert len(coco_problems) == 1 and "annotation 3" in str(coco_problems[0])


def test_bad_lines_and_files_are_reported_and_the_rest_read(tmp_path):
    images = tmp_path / "images"
    write_image(images / "a.jpg", 80, 40)
    yolo = tmp_path / "yolo"
    yolo.mkdir()
    (yolo / "a.txt").write_text("0 0.5 0.5 0.5 0.5\nnot a box\n")
    (yolo / "missing.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (images / "broken.jpg").write_bytes(b"not a jpeg")
    (yolo / "broken.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    faces, problems = read_faces(yolo, images)
    assert [f.label for f in faces[images / "a.jpg"]] == ["0"]  # no class names file: index
    messages = [str(p) for p in problems]
    assert any("a.txt: line 2" in m for m in messages)
    assert any("missing.txt: image" in m for m in messages)
    assert any("broken.txt: broken.jpg: not an image" in m for m in messages)
    voc = tmp_path / "voc"
    voc.mkdir()
    (voc / "bad.xml").write_text("<annotation><filename>")
    _, problems = read_faces(voc, images)
    assert "not valid XML" in str(problems[0])
    with pytest.raises(ValueError, match="no such face-box"):
        read_faces(tmp_path / "nope.json")
