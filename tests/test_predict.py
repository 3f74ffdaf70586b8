"""Predictor, overlays, predictions.json, corrupt inputs, videos, and the VIA round trip."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from facemask_rcnn.cli import main
from facemask_rcnn.config import Config
from facemask_rcnn.data import load_records
from facemask_rcnn.data.records import ImageRecord
from facemask_rcnn.evaluation.matterport_ap import mask_ious
from facemask_rcnn.inference import Prediction, Predictor, expand_inputs, overlay
from tests.conftest import (
    EXTREME_SHAPES,
    BrightEngine,
    assert_same_detections,
    faces_photo,
    faces_predictor,
    write_extreme_dataset,
)


def test_prediction_percent_masked_counts_union_of_masks():
    masks = np.zeros((2, 10, 10), bool)
    masks[0, :5, :] = True
    masks[1, 3:6, :] = True  # overlaps rows 3-4
    prediction = Prediction(np.zeros((2, 4)), np.array([0.9, 0.8]), ["a", "a"], masks)
    assert prediction.percent_masked == 60.0


def test_predictor_returns_typed_results_at_image_size(trained):
    checkpoint, data = trained
    predictor = Predictor.from_checkpoint(checkpoint, min_score=0.0)
    image = np.random.default_rng(0).integers(0, 255, (70, 90, 3), dtype=np.uint8)
    result = predictor.predict(image)
    assert result.masks.shape[1:] == (70, 90) and result.masks.dtype == bool
    assert len(result.labels) == len(result.scores) == len(result.boxes)
    assert len(result.labels) > 1 and set(result.labels) == {"face_mask"}
    threshold = float(np.median(result.scores))
    strict = Predictor.from_checkpoint(checkpoint, min_score=threshold).predict(image)
    kept = result.scores >= threshold  # the threshold keeps exactly these, nothing else moves
    assert 0 < len(strict.labels) == kept.sum() < len(result.labels)
    np.testing.assert_allclose(strict.scores, result.scores[kept], rtol=1e-5)
    np.testing.assert_allclose(strict.boxes, result.boxes[kept], atol=1e-3)
    same = predictor.predict(image, min_score=threshold)  # per call, as the server asks
    np.testing.assert_allclose(same.scores, strict.scores, rtol=1e-5)


def test_checkpoint_predictor_folds_batchnorm_and_keeps_the_detections(trained):
    from facemask_rcnn.config import config_from_dict
    from facemask_rcnn.modeling import build_model

    checkpoint, data = trained
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    reference = build_model(config_from_dict(saved["config"]), weights="none")
    reference.load_state_dict(saved["model"])
    reference.eval().roi_heads.score_thresh = 0.0
    predictor = Predictor.from_checkpoint(checkpoint, 0.0, overrides=["int8_box_head=false"])
    model = predictor.engine.model
    assert not any(hasattr(m, "running_var") for m in model.modules())
    image = torch.rand(3, 80, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = reference([image])[0]
    found = predictor.engine(image)
    assert len(expected["scores"]) > 0
    torch.testing.assert_close(found["scores"], expected["scores"], rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(found["boxes"], expected["boxes"], rtol=1e-3, atol=1e-2)


def test_int8_box_head_keeps_the_detections(trained, recwarn):
    checkpoint, data = trained
    int8 = Predictor.from_checkpoint(checkpoint, min_score=0.05)
    # torch's deprecation notices for its quantisation API are not shown to users
    assert not [w for w in recwarn if "quantiz" in str(w.message)]
    float32 = Predictor.from_checkpoint(checkpoint, 0.05, overrides=["int8_box_head=false"])
    linear = [type(m) for m in int8.engine.model.roi_heads.box_head.modules()]
    assert torch.ao.nn.quantized.dynamic.Linear in linear and torch.nn.Linear not in linear
    # int8 rounding moves scores by thousandths, not detections
    images = sorted(data.glob("*/*.jpg"))[:5]
    assert assert_same_detections(float32, int8, images, 0.02) > 0


def test_checkpoint_overrides_change_inference_settings_only(trained, tmp_path):
    checkpoint, _ = trained
    predictor = Predictor.from_checkpoint(checkpoint, overrides=["rpn_post_nms_test=7"])
    assert predictor.config.rpn_post_nms_test == 7
    assert predictor.engine.model.rpn._post_nms_top_n["testing"] == 7
    with pytest.raises(ValueError, match="box_head_size=16 changes the model's layers"):
        Predictor.from_checkpoint(checkpoint, overrides=["box_head_size=16"])
    with pytest.raises(ValueError, match="exported graph"):
        Predictor.from_checkpoint(tmp_path / "model.onnx", overrides=["rpn_post_nms_test=7"])


def test_cli_set_reaches_the_predictor_and_rejects_layer_changes(trained, tmp_path, capsys):
    checkpoint, data = trained
    image = str(sorted((data / "val").glob("*.jpg"))[0])
    out = tmp_path / "p"
    args = ["predict", image, "--weights", str(checkpoint), "--min-score", "0"]
    assert main([*args, "--out", str(out)]) == 0
    every = json.loads((out / "predictions.json").read_text())
    args += ["--set", "int8_box_head=false"]
    assert main([*args, "--out", str(tmp_path / "f"), "--set", "max_detections=1"]) == 0
    first = json.loads((tmp_path / "f" / "predictions.json").read_text())
    assert len(every) > 1 and len(first) == 1
    capsys.readouterr()
    assert main([*args, "--set", "box_head_size=16", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "box_head_size=16" in err and "\n" not in err
    linked = ["--mask-weights", str(checkpoint), "--out", str(tmp_path / "m")]
    assert main([*args, *linked]) == 2  # a masks model has no faces to put masks on
    assert "--mask-weights goes with a face head" in capsys.readouterr().err


def test_predict_folder_with_a_corrupt_file_writes_the_rest(trained, tmp_path, capsys):
    checkpoint, data = trained
    images = tmp_path / "images"
    images.mkdir()
    for path in sorted((data / "val").glob("*.jpg")):
        (images / path.name).write_bytes(path.read_bytes())
    (images / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    args = f"predict {images} --weights {checkpoint} --out {tmp_path / 'p'} --min-score 0.0"
    code = main(args.split())
    assert code == 0
    err = capsys.readouterr().err
    assert f"{images / 'broken.jpg'}: not an image Pillow can read" in err
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    assert [s["input"] for s in summary["skipped"]] == [str(images / "broken.jpg")]
    assert [s["file_name"].split("/")[-1] for s in summary["images"]] == sorted(
        p.name for p in (data / "val").glob("*.jpg")
    )
    results = json.loads((tmp_path / "p" / "predictions.json").read_text())
    assert len(results) >= len(summary["images"])  # min score 0: every image has detections
    for entry in results:
        assert {
            "file_name",
            "category_id",
            "score",
            "bbox",
            "segmentation",
            "area",
        } <= set(entry)
        assert set(entry["segmentation"]) == {"size", "counts"}
    assert len(list((tmp_path / "p" / "overlays").glob("*.jpg"))) == len(summary["images"])


@pytest.mark.parametrize("size", [64, 256, 800])
def test_extreme_photo_shapes_are_predicted_whole_at_any_image_size(trained, tmp_path, size):
    checkpoint, _ = trained
    folder = write_extreme_dataset(tmp_path / "d", ("val",)) / "val"
    out = tmp_path / "p"
    args = ["predict", str(folder / "*.png"), "--weights", str(checkpoint), "--out", str(out)]
    assert main([*args, "--image-size", str(size), "--min-score", "0"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped"] == []
    sizes = {Path(s["file_name"]).name: (s["width"], s["height"]) for s in summary["images"]}
    assert sizes == {f"{w}x{h}.png": (w, h) for w, h in EXTREME_SHAPES}
    for entry in json.loads((out / "predictions.json").read_text()):
        width, height = sizes[Path(entry["file_name"]).name]
        assert entry["segmentation"]["size"] == [height, width]  # masks at the photo's own size
        x, y, w, h = entry["bbox"]
        assert min(x, y) >= 0 and x + w <= width + 1e-3 and y + h <= height + 1e-3


def test_predictions_to_via_and_back_keep_the_masks(trained, tmp_path):
    checkpoint, data = trained
    predictor = Predictor.from_checkpoint(checkpoint, min_score=0.3)
    records = []
    for source in sorted((data / "train").glob("*.jpg")):
        path = tmp_path / source.name  # the VIA file sits beside its images
        path.write_bytes(source.read_bytes())
        prediction = predictor.predict(path)
        records.append((path, prediction))
    assert sum(len(p.labels) for _, p in records) > 0
    from facemask_rcnn.data.formats.via import write_via

    write_via([p.to_record(path, 96, 96) for path, p in records], tmp_path / "via.json")
    back, problems = load_records(tmp_path / "via.json", class_attribute="type")
    assert not [p for p in problems if p.severity == "error"]
    by_name = {r.path.name: r for r in back}
    for path, prediction in records:
        if not prediction.labels:
            continue
        record: ImageRecord = by_name[path.name]
        ious = mask_ious(prediction.masks, record.masks())
        assert len(record.instances) == len(prediction.labels)
        assert ious.max(axis=1).min() >= 0.95


def test_video_every_nth_frame(trained, tmp_path):
    import cv2

    checkpoint, data = trained
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (96, 96))
    frame = cv2.imread(str(sorted((data / "val").glob("*.jpg"))[0]))
    for _ in range(6):
        writer.write(frame)
    writer.release()
    args = f"predict {video} --weights {checkpoint} --every 2 --out {tmp_path / 'v'}".split()
    assert main(args) == 0
    summary = json.loads((tmp_path / "v" / "summary.json").read_text())
    names = [s["file_name"] for s in summary["images"]]
    assert names == [f"{video}#frame={i}" for i in (0, 2, 4)]
    assert (tmp_path / "v" / "overlays" / "clip.mp4").stat().st_size > 0


def test_overlay_paints_masks_and_expand_inputs_handles_globs(tmp_path):
    image = np.full((20, 20, 3), 255, np.uint8)
    masks = np.zeros((1, 20, 20), bool)
    masks[0, 5:10, 5:10] = True
    drawn = np.asarray(
        overlay(image, Prediction(np.array([[5.0, 5, 10, 10]]), np.array([0.5]), ["x"], masks))
    )
    assert (drawn[7, 7] != 255).any() and (drawn[0, 19] == 255).all()
    for name in ("b.png", "a.jpg", "notes.txt", "c.GIF", "d.tiff"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    paths, skipped = expand_inputs([str(tmp_path)])
    assert [p.name for p in paths] == ["a.jpg", "b.png", "c.GIF", "d.tiff"]
    assert [(Path(s["input"]).name, s["reason"][:14]) for s in skipped] == [
        ("notes.txt", "not an image o"),
        ("sub", "a folder insid"),
    ]
    paths, skipped = expand_inputs([str(tmp_path / "*.png"), str(tmp_path / "*.webp")])
    assert [p.name for p in paths] == ["b.png"]
    assert skipped == [
        {"input": str(tmp_path / "*.webp"), "reason": "no file matches this pattern"}
    ]


def test_checkpoint_without_config_is_a_clear_error(tmp_path):
    torch.save({"w": torch.zeros(1)}, tmp_path / "bare.pt")
    with pytest.raises(ValueError, match="has no config"):
        Predictor.from_checkpoint(tmp_path / "bare.pt")


def test_tile_windows_cover_the_image_with_overlap():
    from facemask_rcnn.inference.tiling import tile_windows

    windows = tile_windows(500, 300, 200)
    covered = np.zeros((300, 500), bool)
    for x0, y0, x1, y1 in windows:
        assert x1 - x0 == 200 and y1 - y0 == 200
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    assert sorted({w[0] for w in windows}) == [0, 150, 300]  # step 150 = a quarter overlap
    assert sorted({w[1] for w in windows}) == [0, 100]  # last row flush with the bottom
    assert tile_windows(150, 120, 200) == [(0, 0, 150, 120)]


def test_merge_views_keeps_the_best_of_an_object_seen_twice_and_each_class_apart():
    from facemask_rcnn.inference.tiling import merge_views

    def view(boxes, scores, labels):
        boxes = torch.tensor(boxes, dtype=torch.float32)
        masks = torch.zeros((len(boxes), 4, 4), dtype=torch.bool)
        return boxes, torch.tensor(scores), torch.tensor(labels), masks

    whole = view([[0, 0, 10, 10], [50, 50, 60, 60]], [0.6, 0.7], [1, 1])
    tile = view([[1, 0, 11, 10], [0, 0, 10, 10]], [0.9, 0.8], [1, 2])
    boxes, scores, labels, masks = merge_views([whole, tile], 0.3, 50)
    assert scores.tolist() == pytest.approx([0.9, 0.8, 0.7])  # the 0.6 duplicate is gone
    assert labels.tolist() == [1, 2, 1]  # the same box with another class is kept
    assert boxes[0].tolist() == [1, 0, 11, 10] and len(masks) == 3
    assert len(merge_views([whole, tile], 0.3, 2)[0]) == 2  # capped at max_detections
    single = merge_views([view([[0, 0, 10, 10], [1, 0, 11, 10]], [0.5, 0.4], [1, 1])], 0.3, 50)
    assert len(single[0]) == 2  # one view is the model's output as is: NMS already ran


@pytest.mark.parametrize("x0", [10, 140, 290])  # inside a tile, across a tile edge, at the border
def test_tiled_predict_finds_each_object_once_in_full_image_coordinates(bright_predictor, x0):
    image = np.zeros((300, 400, 3), np.uint8)
    image[100:112, x0 : x0 + 12] = 255  # a 12 px object; tiles of 160 px overlap by 40
    image[250:260, 380:400] = 255  # one touching the image's right edge
    result = bright_predictor(tile=160).predict(image)
    boxes = sorted(result.boxes.tolist())
    assert boxes == sorted([[x0, 100, x0 + 12, 112], [380, 250, 400, 260]])
    union = result.masks.any(axis=0)
    assert np.array_equal(union, image[..., 0] == 255)


def test_size_needs_the_pytorch_engine(bright_predictor, trained):
    with pytest.raises(ValueError, match="use --tile"):
        bright_predictor(size=640)
    checkpoint, _ = trained
    predictor = Predictor.from_checkpoint(checkpoint, size=192)
    assert predictor.engine.model.transform.max_size == 192


def test_a_faces_model_reports_each_face_its_status_and_masks_only_on_masked_faces(tmp_path):
    prediction = faces_predictor().predict(faces_photo())
    assert prediction.labels == ["masked", "bare"]  # one face, one status
    assert prediction.masks[0, 5:45, 5:35].all() and prediction.masks[0].sum() == 30 * 40
    assert prediction.masks[1].sum() == 0
    assert prediction.percent_masked == pytest.approx(100 * 30 * 40 / (60 * 80))
    assert prediction.face_counts() == {
        "faces": 2,
        "masked": 1,
        "incorrect": 0,
        "bare": 1,
        "share_masked": 0.5,
    }
    assert prediction.face_sentence() == "1 of 2 faces masked"
    entries = prediction.results(["masked", "incorrect", "bare"])
    assert [e["status"] for e in entries] == ["masked", "bare"]
    assert entries[0]["segmentation"]["size"] == [60, 80] and entries[1]["segmentation"] is None
    assert entries[1]["bbox"] == [50.0, 5.0, 25.0, 35.0] and entries[1]["area"] == 0


def test_face_sentence_names_incorrectly_worn_masks():
    prediction = Prediction(
        np.zeros((3, 4)), np.ones(3), ["masked", "incorrect", "masked"], np.zeros((3, 2, 2), bool)
    )
    prediction.task = "faces"
    assert prediction.face_sentence() == "3 of 3 faces masked, 1 worn incorrectly"
    assert (
        Prediction(np.zeros((0, 4)), np.ones(0), [], np.zeros((0, 2, 2), bool)).face_counts() == {}
    )


def test_predict_writes_face_counts_and_a_via_project_with_faces_and_masks(tmp_path):
    from PIL import Image

    from facemask_rcnn.data.faces import face_records
    from facemask_rcnn.data.formats.via import read_via
    from facemask_rcnn.inference import predict_to_folder

    photo = tmp_path / "photos" / "group.png"
    photo.parent.mkdir()
    Image.fromarray(faces_photo()).save(photo)
    via = tmp_path / "photos" / "faces.json"
    result = predict_to_folder(faces_predictor(), [str(photo)], tmp_path / "out", via_out=via)
    summary = json.loads((result.folder / "summary.json").read_text())
    (image,) = summary["images"]
    assert (image["faces"], image["masked"], image["bare"], image["share_masked"]) == (2, 1, 1, 0.5)
    predictions = json.loads((result.folder / "predictions.json").read_text())
    assert [p["status"] for p in predictions] == ["masked", "bare"]
    regions = json.loads(via.read_text())["_via_img_metadata"]
    (entry,) = regions.values()
    parts = [
        (r["shape_attributes"]["name"], r["region_attributes"]["part"]) for r in entry["regions"]
    ]
    assert parts == [("rect", "face"), ("polygon", "mask"), ("rect", "face")]
    records, problems = read_via(via, class_attribute="type")
    assert problems == [] and [i.label for i in records[0].instances] == ["masked"] * 2 + ["bare"]
    # read back for training: each mask joins the face box it lies in
    faces = face_records(records)[0].instances
    assert [(f.label, f.bbox, f.has_shape) for f in faces] == [
        ("masked", (5.0, 5.0, 35.0, 45.0), True),
        ("bare", (50.0, 5.0, 75.0, 40.0), False),
    ]
    assert abs(faces[0].area() - 30 * 40) < 40  # the traced polygon of the 30x40 mask


def test_a_faces_overlay_colours_each_face_by_its_status():
    from facemask_rcnn.inference.draw import STATUS_COLOURS

    prediction = faces_predictor().predict(faces_photo())
    drawn = np.asarray(overlay(faces_photo(), prediction, alpha=1.0))
    assert tuple(drawn[30, 20]) == STATUS_COLOURS["masked"]  # inside the masked face's mask
    assert tuple(drawn[20, 50]) == STATUS_COLOURS["bare"]  # the bare face's box edge
    assert tuple(drawn[30, 60]) == (60, 60, 60)  # a bare face has no mask painted


def test_the_masks_model_runs_once_per_masked_face_and_not_at_all_without_one():
    class Counted:
        calls = 0

        def predict(self, array):  # noqa: ANN001, ANN202
            Counted.calls += 1
            return Predictor(BrightEngine(), Config(), min_score=0.5).predict(array)

    faces = faces_predictor(masks=Counted())
    faces.predict(faces_photo())  # a masked face and a bare one
    faces.predict(faces_photo(), min_score=0.95)  # no face scores that high
    assert Counted.calls == 1
