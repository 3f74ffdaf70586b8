"""Faces with a status from every kind of label: face boxes, label PNGs, mask outlines."""

import json

import numpy as np
import pytest
from PIL import Image

from facemask_rcnn.data import load_records
from facemask_rcnn.data.faces import face_around, face_records, status_of
from facemask_rcnn.data.formats.coco import read_coco, to_coco
from facemask_rcnn.data.records import ImageRecord, Instance
from tests.conftest import write_image


@pytest.mark.parametrize(
    ("label", "status"),
    [
        ("with_mask", "masked"),
        ("CWM", "masked"),
        ("mask_weared_incorrect", "incorrect"),
        ("IWM", "incorrect"),
        ("without_mask", "bare"),
        ("Without Mask", "bare"),
        ("hat", None),
    ],
)
def test_status_of_reads_the_usual_dataset_labels(label, status):
    assert status_of(label) == status


def test_face_around_a_mask_extends_it_upwards_to_twice_its_height():
    assert face_around((20.0, 50.0, 60.0, 70.0), 100, 100) == (16.0, 30.0, 64.0, 72.0)
    assert face_around((0.0, 5.0, 100.0, 25.0), 100, 100) == (0.0, 0.0, 100.0, 27.0)


def _scenes_coco(tmp_path):
    """A COCO file of face boxes without outlines, as Kaggle's face-mask set ships."""
    write_image(tmp_path / "images" / "a.jpg", 80, 60)
    data = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 80, "height": 60}],
        "categories": [
            {"id": 0, "name": "mask_weared_incorrect"},
            {"id": 1, "name": "with_mask"},
            {"id": 2, "name": "without_mask"},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [5, 5, 20, 25], "segmentation": []},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [40, 10, 15, 20]},
            {"id": 3, "image_id": 1, "category_id": 0, "bbox": [70, 30, 30, 40]},  # cut by edge
            {"id": 4, "image_id": 1, "category_id": 1, "bbox": [10, 10, 0, 5]},  # empty
        ],
    }
    path = tmp_path / "images" / "faces.json"
    path.write_text(json.dumps(data))
    return path


def test_coco_boxes_without_outlines_are_box_only_instances(tmp_path):
    records, problems = read_coco(_scenes_coco(tmp_path))
    assert [p.item for p in problems] == ["a.jpg annotation 4"]  # the empty box, named
    boxes = [(i.label, i.bbox, i.has_shape) for i in records[0].instances]
    assert boxes == [
        ("with_mask", (5.0, 5.0, 25.0, 30.0), False),
        ("without_mask", (40.0, 10.0, 55.0, 30.0), False),
        ("mask_weared_incorrect", (70.0, 30.0, 80.0, 60.0), False),
    ]
    assert records[0].instances[0].area() == 20 * 25
    written = to_coco(records, ["with_mask", "without_mask", "mask_weared_incorrect"])
    assert written["annotations"][0]["segmentation"] == []
    assert written["annotations"][0]["bbox"] == [5.0, 5.0, 20.0, 25.0]


def test_face_boxes_become_faces_with_a_status_and_every_status_annotated(tmp_path):
    records, _ = load_records(_scenes_coco(tmp_path))
    faces = face_records(records)[0]
    assert [(i.label, i.bbox) for i in faces.instances] == [
        ("masked", (5.0, 5.0, 25.0, 30.0)),
        ("bare", (40.0, 10.0, 55.0, 30.0)),
        ("incorrect", (70.0, 30.0, 80.0, 60.0)),
    ]
    assert faces.annotated == ["masked", "incorrect", "bare"]


def test_label_pngs_give_the_face_box_and_the_mask_split_at_a_seam_is_one_face(tmp_path):
    folder = tmp_path / "IWM"
    write_image(folder / "images" / "p.jpg", 64, 48)
    labels = np.zeros((48, 64), np.uint8)
    labels[4:44, 10:50] = 1  # face skin and hair
    labels[28:40, 14:29] = 2  # the mask's left half
    labels[28:40, 31:46] = 2  # its right half, past a seam
    (folder / "masks").mkdir()
    Image.fromarray(labels).save(folder / "masks" / "p_gt.png")
    records, problems = load_records(tmp_path)
    assert problems == [] and len(records[0].instances) == 2
    faces = face_records(records)[0]
    (face,) = faces.instances
    assert face.label == "incorrect"  # from the IWM folder
    assert face.bbox == (10.0, 4.0, 50.0, 44.0)
    assert face.area() == 2 * 12 * 15  # both halves
    assert faces.annotated == ["masked", "incorrect", "bare"]


def test_mask_outlines_alone_get_derived_faces_and_leave_bare_faces_unannotated(tmp_path):
    path = write_image(tmp_path / "m.png", 100, 100)
    square = np.array([[20, 50], [60, 50], [60, 70], [20, 70]], float)
    low = Instance("face_mask", [square + 5], attributes={"worn": "low"})
    record = ImageRecord(path, 100, 100, [Instance("face_mask", [square]), low])
    faces = face_records([record])[0]
    assert [i.label for i in faces.instances] == ["masked", "incorrect"]
    assert faces.instances[0].bbox == (16.0, 30.0, 64.0, 72.0)
    assert faces.instances[0].attributes["face"] == "derived"
    assert faces.annotated == ["masked", "incorrect"]


def test_labels_that_name_no_status_are_left_out_with_a_problem(tmp_path):
    path = write_image(tmp_path / "m.png", 40, 40)
    record = ImageRecord(path, 40, 40, [Instance("hat", bbox=(1.0, 1.0, 9.0, 9.0))], "x.json")
    problems = []
    assert face_records([record], problems)[0].instances == []
    assert [str(p) for p in problems] == ["error: x.json: m.png: label 'hat' is no face status"]


def test_masks_join_the_face_box_they_lie_in_and_take_its_status(tmp_path):
    path = write_image(tmp_path / "m.png", 100, 100)
    mask = np.array([[20, 50], [60, 50], [60, 70], [20, 70]], float)
    elsewhere = mask + [0, 25]  # below the face: gets a face of its own
    record = ImageRecord(
        path,
        100,
        100,
        [
            Instance("face_mask", [mask]),
            Instance("mask_weared_incorrect", bbox=(15.0, 20.0, 65.0, 75.0)),
            Instance("without_mask", bbox=(70.0, 0.0, 99.0, 30.0)),
            Instance("face_mask", [elsewhere]),
        ],
    )
    faces = face_records([record])[0]
    found = [(i.label, i.bbox, i.has_shape) for i in faces.instances]
    assert found == [
        ("incorrect", (15.0, 20.0, 65.0, 75.0), True),
        ("bare", (70.0, 0.0, 99.0, 30.0), False),
        ("masked", (16.0, 55.0, 64.0, 97.0), True),
    ]
    assert faces.annotated == ["masked", "incorrect", "bare"]  # faces were labelled here


def test_voc_face_boxes_load_as_box_only_training_data(tmp_path):
    """Kaggle's VOC layout: annotations/*.xml beside images/."""
    write_image(tmp_path / "images" / "crowd.png", 80, 60)
    write_image(tmp_path / "images" / "empty.png", 80, 60)
    (tmp_path / "annotations").mkdir()
    objects = "".join(
        f"<object><name>{name}</name><bndbox><xmin>{x}</xmin><ymin>5</ymin><xmax>{x + 20}</xmax>"
        f"<ymax>30</ymax></bndbox></object>"
        for name, x in (("with_mask", 5), ("without_mask", 40))
    )
    (tmp_path / "annotations" / "crowd.xml").write_text(
        f"<annotation><filename>crowd.png</filename>{objects}</annotation>"
    )
    (tmp_path / "annotations" / "empty.xml").write_text(
        "<annotation><filename>empty.png</filename></annotation>"
    )
    records, problems = load_records(tmp_path)
    assert problems == [] and [r.file_name for r in records] == ["crowd.png"]
    assert (records[0].width, records[0].height) == (80, 60)
    faces = face_records(records)[0]
    assert [(i.label, i.bbox) for i in faces.instances] == [
        ("masked", (5.0, 5.0, 25.0, 30.0)),
        ("bare", (40.0, 5.0, 60.0, 30.0)),
    ]
    assert len(load_records(tmp_path, keep_empty=True)[0]) == 2
