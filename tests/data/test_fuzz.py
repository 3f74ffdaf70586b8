"""Readers never raise on bad content: each reader gets mutated copies of a valid file (dropped
keys, wrong types, NaN, negative sizes, truncated bytes, non-UTF-8) and must answer with records
and problems naming their file and item, never an exception; where one node or line of a file
is mutated, the rest of it still loads."""

import copy
import json
import random

import numpy as np
import pytest
from PIL import Image

from facemask_rcnn.data.formats.coco import compressed_rle_length, read_coco
from facemask_rcnn.data.formats.faceboxes import read_coco_faces, read_voc_faces
from facemask_rcnn.data.formats.labelpng import read_label_pngs
from facemask_rcnn.data.formats.via import read_via
from facemask_rcnn.data.formats.yolo import read_yolo_faces, read_yolo_seg
from facemask_rcnn.data.records import mask_to_rle
from tests.conftest import write_image

ODD_VALUES = [None, "x", -5, 0, 1e308, float("nan"), [], {}, [[1, 2]], True, "../../x.jpg", [-1]]
MUTANTS = 200


def _nodes(value, path=()):
    """Every (path, value) in a JSON tree."""
    yield path, value
    if isinstance(value, dict | list):
        for key, child in value.items() if isinstance(value, dict) else enumerate(value):
            yield from _nodes(child, (*path, key))


def json_mutants(data, seed: int):
    """Mutated copies of ``data``: one node dropped or replaced by an odd value."""
    rng = random.Random(seed)
    for _ in range(MUTANTS):
        mutant = copy.deepcopy(data)
        path, _ = rng.choice([n for n in _nodes(mutant) if n[0]])
        parent = mutant
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and rng.random() < 0.3:
            del parent[path[-1]]
        else:
            parent[path[-1]] = rng.choice(ODD_VALUES)
        yield json.dumps(mutant).encode()


def byte_mutants(raw: bytes, seed: int):
    """Truncated, non-UTF-8 and spliced copies of a file's bytes."""
    rng = random.Random(seed)
    yield raw[: len(raw) // 2]
    yield raw[:1]
    yield b""
    yield b"\xff\xfe" + raw
    for _ in range(10):
        at = rng.randrange(len(raw))
        yield raw[:at] + bytes([rng.randrange(256)]) * rng.randrange(1, 4) + raw[at + 1 :]


def text_mutants(text: str, seed: int):
    """Token-level edits of a text label file (NaN, negatives, words, missing columns)."""
    rng = random.Random(seed)
    words = ["nan", "-1", "inf", "abc", "1e999", "", "0.5", "99"]
    lines = text.splitlines()
    for _ in range(MUTANTS):
        tokens = [line.split() for line in lines]
        row = rng.randrange(len(tokens))
        if tokens[row] and rng.random() < 0.7:
            tokens[row][rng.randrange(len(tokens[row]))] = rng.choice(words)
        else:
            tokens[row] = tokens[row][: rng.randrange(len(tokens[row]) + 1)]
        yield "\n".join(" ".join(t) for t in tokens).encode()


def loaded_instances(records) -> int:  # noqa: ANN001 - records or {path: faces}
    """Instances a reader returned: ImageRecords' instances, or face boxes per path."""
    if isinstance(records, dict):
        return sum(len(faces) for faces in records.values())
    return sum(len(record.instances) for record in records)


def assert_reader_survives(read, target, mutants, still_loads: float = 0.0):
    """``read()`` after each mutant is written to ``target`` returns, each problem one line
    naming its file and item; after at least ``still_loads`` of the mutants, something still
    loads (a mutant changes one node or line: the rest of the file is valid)."""
    checked = loading = 0
    for content in mutants:
        target.write_bytes(content)
        records, problems = read()
        assert isinstance(problems, list)
        for problem in problems:
            assert problem.file and problem.item and "\n" not in str(problem), problem
        loading += loaded_instances(records) > 0
        checked += 1
    assert checked >= 10
    assert loading >= still_loads * checked, f"something loaded after {loading} of {checked}"


@pytest.fixture
def folder(tmp_path):
    write_image(tmp_path / "a.jpg", 64, 48)
    write_image(tmp_path / "b.jpg", 64, 48, seed=1)
    return tmp_path


def test_via_reader(folder):
    region = {"name": "polygon", "all_points_x": [5, 30, 20], "all_points_y": [5, 8, 30]}
    rect = {"name": "rect", "x": 1, "y": 2, "width": 10, "height": 9}
    valid = {
        "a.jpg1": {
            "filename": "a.jpg",
            "regions": [
                {"shape_attributes": region, "region_attributes": {"type": "surgical"}},
                {"shape_attributes": rect, "region_attributes": {"type": "cloth"}},
            ],
        },
        "b.jpg2": {"filename": "b.jpg", "regions": {"0": {"shape_attributes": region}}},
    }
    target = folder / "via.json"
    read = lambda: read_via(target, "type")  # noqa: E731
    assert_reader_survives(read, target, json_mutants(valid, 1), still_loads=0.8)
    assert_reader_survives(read, target, byte_mutants(json.dumps(valid).encode(), 2))


def test_coco_reader_including_rle(folder):
    mask = np.zeros((48, 64), np.uint8)
    mask[10:20, 5:30] = 1
    valid = {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 64, "height": 48},
            {"id": 2, "file_name": "b.jpg", "width": 64, "height": 48},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[5, 5, 30, 8, 20, 30]]},
            {"id": 2, "image_id": 2, "category_id": 1, "segmentation": mask_to_rle(mask)},
            {
                "id": 3,
                "image_id": 2,
                "category_id": 1,
                "segmentation": {"size": [48, 64], "counts": [500, 30, 2542]},
            },
        ],
        "categories": [{"id": 1, "name": "face_mask"}],
    }
    target = folder / "coco.json"
    records, problems = read_coco(target, data=valid)
    assert not problems and [len(r.instances) for r in records] == [1, 2]
    read = lambda: read_coco(target)  # noqa: E731
    assert_reader_survives(read, target, json_mutants(valid, 3), still_loads=0.8)
    assert_reader_survives(read, target, byte_mutants(json.dumps(valid).encode(), 4))


def test_compressed_rle_strings_are_checked_before_pycocotools_sees_them():
    mask = np.zeros((48, 64), np.uint8)
    mask[3:9, 2:40] = 1
    counts = mask_to_rle(mask)["counts"]
    assert compressed_rle_length(counts) == 48 * 64
    for bad in ("\x7f", counts[:-1] + "z~", "0" * 3 + "\x20"):
        with pytest.raises(ValueError):
            compressed_rle_length(bad)


def test_label_png_reader(folder):
    root = folder / "pngs"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    write_image(root / "images" / "a.jpg", 64, 48)
    labels = np.zeros((48, 64), np.uint8)
    labels[10:30, 10:40] = 2
    Image.fromarray(labels).save(root / "masks" / "a_gt.png")
    raw = (root / "masks" / "a_gt.png").read_bytes()
    records, problems = read_label_pngs(root)
    assert len(records) == 1 and not problems
    target = root / "masks" / "a_gt.png"
    assert_reader_survives(lambda: read_label_pngs(root), target, byte_mutants(raw, 5))
    image = (root / "images" / "a.jpg").read_bytes()
    target.write_bytes(raw)
    assert_reader_survives(
        lambda: read_label_pngs(root), root / "images" / "a.jpg", byte_mutants(image, 6)
    )


def test_coco_face_box_reader(folder):
    valid = {
        "images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 3, 10, 12]},
            {"id": 2, "image_id": 2, "category_id": 2, "bbox": [20, 3, 10, 12]},
        ],
        "categories": [{"id": 1, "name": "with_mask"}, {"id": 2, "name": "without_mask"}],
    }
    target = folder / "faces.json"
    read = lambda: read_coco_faces(target)  # noqa: E731
    assert_reader_survives(read, target, json_mutants(valid, 7), still_loads=0.8)
    assert_reader_survives(read, target, byte_mutants(json.dumps(valid).encode(), 8))


def test_voc_face_box_reader(folder):
    xml = (
        "<annotation><filename>a.jpg</filename>"
        "<object><name>with_mask</name><bndbox><xmin>2</xmin><ymin>3</ymin>"
        "<xmax>20</xmax><ymax>30</ymax></bndbox></object></annotation>"
    )
    target = folder / "a.xml"
    mutants = [*byte_mutants(xml.encode(), 9), xml.replace("2<", "nan<").encode()]
    mutants += [xml.replace("a.jpg", "../../etc/passwd").encode()]
    assert_reader_survives(lambda: read_voc_faces([target]), target, mutants)


def test_yolo_face_box_reader(folder):
    (folder / "classes.txt").write_text("with_mask\nwithout_mask\n")
    text = "0 0.5 0.5 0.2 0.3\n1 0.2 0.2 0.1 0.1\n"
    target = folder / "a.txt"
    read = lambda: read_yolo_faces([target], folder)  # noqa: E731
    assert_reader_survives(read, target, text_mutants(text, 10), still_loads=0.8)
    assert_reader_survives(read, target, byte_mutants(text.encode(), 11))
    target.write_text(text)
    yaml_mutants = [b"names: 3", b"names: [a", b"\xff\xfe", b"names: {0: a, x: 2}"]
    (folder / "classes.txt").unlink()
    assert_reader_survives(
        lambda: read_yolo_faces([target], folder), folder / "data.yaml", yaml_mutants * 3
    )


def test_yolo_polygon_reader(folder):
    (folder / "images").mkdir()
    (folder / "labels").mkdir()
    write_image(folder / "images" / "a.jpg", 64, 48)
    (folder / "data.yaml").write_text("names: [surgical, cloth]\n")
    text = "0 0.1 0.1 0.5 0.1 0.3 0.6\n1 0.6 0.6 0.9 0.6 0.9 0.9 0.6 0.9\n"
    target = folder / "labels" / "a.txt"
    target.write_text(text)
    records, problems = read_yolo_seg(folder / "images", folder / "labels")
    assert not problems and [i.label for i in records[0].instances] == ["surgical", "cloth"]
    read = lambda: read_yolo_seg(folder / "images", folder / "labels")  # noqa: E731
    assert_reader_survives(read, target, text_mutants(text, 12), still_loads=0.8)
    assert_reader_survives(read, target, byte_mutants(text.encode(), 13))
