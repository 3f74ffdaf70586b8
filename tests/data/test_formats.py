"""VIA 1.x / 2.x, COCO (polygons, RLE) and label PNGs load to identical targets; bad items are
reported one line each and the rest loads."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from facemask_rcnn.data import MaskDataset, load_records
from facemask_rcnn.data.formats.coco import to_coco
from facemask_rcnn.data.formats.via import shape_to_polygon, write_via
from facemask_rcnn.data.records import Instance, mask_to_rle
from tests.conftest import write_image

POLYS = {
    "a.jpg": [[(5, 5), (30, 6), (28, 30), (6, 25)]],
    "b.jpg": [[(40, 10), (60, 10), (60, 40), (40, 40)], [(2, 30), (20, 30), (12, 46)]],
}


def _via1_regions(polys, as_list):
    regions = [
        {
            "shape_attributes": {
                "name": "polygon",
                "all_points_x": [p[0] for p in poly],
                "all_points_y": [p[1] for p in poly],
            },
            "region_attributes": {"type": "surgical" if i == 0 else "cloth"},
        }
        for i, poly in enumerate(polys)
    ]
    return regions if as_list else {str(i): r for i, r in enumerate(regions)}


def _images(folder):
    for i, name in enumerate(POLYS):
        write_image(folder / name, 64, 48, seed=i)


def make_via1(folder, as_list=False):
    _images(folder)
    data = {
        f"{n}123": {"filename": n, "size": 123, "regions": _via1_regions(p, as_list)}
        for n, p in POLYS.items()
    }
    (folder / "via_region_data.json").write_text(json.dumps(data))
    return folder


def make_via2(folder):
    _images(folder)
    meta = {
        f"{n}123": {"filename": n, "size": 123, "regions": _via1_regions(p, True)}
        for n, p in POLYS.items()
    }
    (folder / "project.json").write_text(json.dumps({"_via_img_metadata": meta}))
    return folder


def make_coco(folder, rle=False):
    _images(folder)
    records, _ = load_records(make_via2(folder / "_via"))
    for rec in records:
        rec.path = folder / rec.file_name
        if rle:
            for inst in rec.instances:
                inst.rle, inst.polygons = mask_to_rle(inst.to_mask(rec.height, rec.width)), []
    (folder / "coco.json").write_text(json.dumps(to_coco(records, ["face_mask"])))
    return folder / "coco.json"


def make_pngs(folder):
    records, _ = load_records(make_via2(folder / "_via"))
    for rec in records:
        write_image(
            folder / "images" / rec.file_name, 64, 48, seed=list(POLYS).index(rec.file_name)
        )
        labels = np.zeros((48, 64), np.uint8)
        labels[:, 50:] = 1  # "face skin" is a known non-mask value
        for inst in rec.instances:
            labels[inst.to_mask(48, 64) > 0] = 2
        (folder / "masks").mkdir(exist_ok=True)
        Image.fromarray(labels).save(folder / "masks" / f"{rec.path.stem}_gt.png")
    return folder


def targets(path):
    records, problems = load_records(path)
    assert problems == []
    records.sort(key=lambda r: r.file_name)
    dataset = MaskDataset(records, ["face_mask"])
    out = []
    for i in range(len(dataset)):
        _, target = dataset[i]
        order = torch.argsort(target["boxes"][:, 0])  # instance order differs per format
        out.append({k: target[k][order] for k in ("boxes", "labels", "masks")})
    return out


@pytest.mark.parametrize("fmt", ["via1_list", "via2", "coco_polygons", "coco_rle", "png"])
def test_every_format_gives_identical_targets(tmp_path, fmt):
    reference = targets(make_via1(tmp_path / "ref"))
    assert [len(t["boxes"]) for t in reference] == [1, 2]
    builders = {
        "via1_list": lambda p: make_via1(p, as_list=True),
        "via2": make_via2,
        "coco_polygons": make_coco,
        "coco_rle": lambda p: make_coco(p, rle=True),
        "png": make_pngs,
    }
    other = targets(builders[fmt](tmp_path / fmt))
    for ref, got in zip(reference, other, strict=True):
        assert torch.equal(ref["masks"], got["masks"])
        assert torch.equal(ref["boxes"], got["boxes"])
        assert torch.equal(ref["labels"], got["labels"])


def test_rect_polygon_box_matches_pixel_extent(tmp_path):
    records, _ = load_records(make_via1(tmp_path))
    rect = [r for r in records if r.file_name == "b.jpg"][0]
    _, target = MaskDataset([rect], ["face_mask"])[0]
    # The 40..60 x 10..40 square covers pixels 40-59 and 10-39: box = pixel extents.
    assert [40.0, 10.0, 60.0, 40.0] in target["boxes"].tolist()
    assert int(target["masks"][target["boxes"][:, 0] == 40].sum()) == 20 * 30


def test_class_attribute_maps_subcategories(tmp_path):
    records, problems = load_records(make_via1(tmp_path), class_attribute="type")
    assert problems == []
    labels = sorted(i.label for r in records for i in r.instances)
    assert labels == ["cloth", "surgical", "surgical"]


@pytest.mark.parametrize(
    ("shape", "area"),
    [
        ({"name": "rect", "x": 10, "y": 10, "width": 20, "height": 10}, 200),
        ({"name": "circle", "cx": 30, "cy": 24, "r": 10}, np.pi * 100),
        ({"name": "ellipse", "cx": 30, "cy": 24, "rx": 12, "ry": 6, "theta": 0.3}, np.pi * 72),
        ({"name": "polyline", "all_points_x": [1, 20, 20], "all_points_y": [1, 1, 20]}, 180.5),
    ],
)
def test_shapes_become_polygons_of_the_right_area(shape, area):
    from facemask_rcnn.data.records import polygon_area

    assert polygon_area(shape_to_polygon(shape)) == pytest.approx(area, rel=0.02)


def test_each_problem_is_one_named_line_and_the_rest_loads(tmp_path):
    _images(tmp_path)
    write_image(tmp_path / "ok2.jpg", 64, 48)
    (tmp_path / "corrupt.jpg").write_bytes(b"not a jpeg at all")

    def poly(xs, ys, kind="surgical"):
        shape = {"name": "polygon", "all_points_x": xs, "all_points_y": ys}
        return {"shape_attributes": shape, "region_attributes": {"type": kind}}

    good = poly([5, 30, 28], [5, 6, 30])
    entries = [
        ("a.jpg", [good, poly([1, 2], [1, 2])]),  # < 3 points
        ("b.jpg", [good, poly([50, 70, 60], [10, 10, 30])]),  # outside: clipped, kept
        ("ok2.jpg", [good, poly([5, 10, 15], [5, 5, 5]), poly([5, 30, 28], [5, 6, 30], "hat")]),
        ("missing.jpg", [good]),
        ("corrupt.jpg", [good]),
        ("a.jpg", [good]),  # duplicate file name
        ("ok2.jpg", [{"shape_attributes": {"name": "spline"}, "region_attributes": {}}]),
    ]
    data = {f"k{i}": {"filename": n, "regions": r} for i, (n, r) in enumerate(entries)}
    (tmp_path / "via_region_data.json").write_text(json.dumps(data))
    records, problems = load_records(
        tmp_path, class_attribute="type", class_names=["surgical", "cloth"]
    )
    text = [str(p) for p in problems]
    src = str(tmp_path / "via_region_data.json")
    expected = [
        f"error: {src}: a.jpg region 1: polygon has 2 point(s), needs >= 3",
        f"warning: {src}: b.jpg region 1: 1 point(s) outside the 64x48 image, clipped",
        f"error: {src}: ok2.jpg region 1: region covers no pixel",
        f"error: {src}: ok2.jpg region 2: unknown class value 'hat'; known ['surgical', 'cloth']",
        f"error: {src}: missing.jpg: image file is missing",
        f"error: {src}: a.jpg: duplicate file name, later entry ignored",
        f"error: {src}: ok2.jpg: duplicate file name, later entry ignored",
    ]
    for line in expected:
        assert line in text
    assert any(
        t.startswith(f"error: {src}: corrupt.jpg: not an image Pillow can read") for t in text
    )
    assert len(text) == len(expected) + 1
    kept = {r.file_name: len(r.instances) for r in records}
    assert kept == {"a.jpg": 1, "b.jpg": 2, "ok2.jpg": 1}
    clipped = [r for r in records if r.file_name == "b.jpg"][0].instances[1].polygons[0]
    assert clipped[:, 0].max() == 64


def test_keep_empty_keeps_negatives(tmp_path):
    _images(tmp_path)
    data = {"x": {"filename": "a.jpg", "regions": []}}
    (tmp_path / "via_region_data.json").write_text(json.dumps(data))
    assert load_records(tmp_path)[0] == []
    records, _ = load_records(tmp_path, keep_empty=True)
    _, target = MaskDataset(records, ["face_mask"])[0]
    assert target["boxes"].shape == (0, 4) and target["masks"].shape == (0, 48, 64)


def test_unknown_png_value_is_reported(tmp_path):
    make_pngs(tmp_path)
    Image.fromarray(np.full((48, 64), 7, np.uint8)).save(tmp_path / "masks" / "a_gt.png")
    records, problems = load_records(tmp_path)
    assert [p.message for p in problems] == ["unknown class value(s) [7]"]
    assert [r.file_name for r in records] == ["b.jpg"]


def test_via_writer_round_trips_rle_instances(tmp_path):
    write_image(tmp_path / "img.png", 64, 48)
    mask = np.zeros((48, 64), np.uint8)
    mask[10:30, 8:40] = 1
    mask[12:20, 45:60] = 1
    from facemask_rcnn.data.records import ImageRecord

    rec = ImageRecord(tmp_path / "img.png", 64, 48, [Instance("n95", rle=mask_to_rle(mask))])
    write_via([rec], tmp_path / "out.json")
    with pytest.raises(FileExistsError):
        write_via([rec], tmp_path / "out.json")  # never overwrites
    back, problems = load_records(tmp_path / "out.json", class_attribute="type")
    assert problems == []
    got = np.maximum.reduce([i.to_mask(48, 64) for i in back[0].instances])
    iou = (got & mask).sum() / (got | mask).sum()
    assert iou >= 0.95 and {i.label for i in back[0].instances} == {"n95"}


@pytest.mark.parametrize("width, height", [(1, 1), (1, 300), (300, 1), (64, 48)])
def test_a_one_pixel_wide_mask_written_to_via_reads_back_exactly(tmp_path, width, height):
    from facemask_rcnn.data.records import ImageRecord

    write_image(tmp_path / "img.png", width, height)
    mask = np.zeros((height, width), np.uint8)
    mask[height // 2, :] = 1  # one row, a single pixel on a 1 x 1 photo
    rec = ImageRecord(tmp_path / "img.png", width, height, [Instance("n95", rle=mask_to_rle(mask))])
    write_via([rec], tmp_path / "out.json")
    back, problems = load_records(tmp_path / "out.json", class_attribute="type")
    assert problems == []
    assert np.array_equal(back[0].instances[0].to_mask(height, width), mask)
