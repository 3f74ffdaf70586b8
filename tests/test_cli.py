"""The facemask command line: help, config, data, synth, train and the shared error rules."""

import json
import subprocess
import sys

import pytest

from facemask_rcnn.cli import main
from tests.conftest import shared_dataset


def test_help_lists_commands_and_each_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for command in ("config", "data", "synth"):
        assert command in text
    for argv in (["config", "show", "--help"], ["data", "check", "--help"], ["synth", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        assert "examples:" in capsys.readouterr().out


def test_config_show_prints_measured_strides_when_asked(capsys):
    args = ["config", "show", "--set", "backbone=mobilenet_v3_large", "--strides"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "backbone_strides (derived)  [4, 8, 16, 32, 64]" in out
    assert "mobilenet_v3_large" in out
    assert main([*args, "--set", "finest_stride=8"]) == 0
    assert "backbone_strides (derived)  [8, 16, 32, 64, 128]" in capsys.readouterr().out


def test_help_and_config_show_start_without_torch():
    script = (
        "import sys, contextlib, io\n"
        "from facemask_rcnn.cli import main\n"
        "for argv in (['--help'], ['config', 'show']):\n"
        "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "        main(argv)\n"
        "print(sorted(m for m in ('torch', 'timm', 'cv2', 'torchvision') if m in sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_config_errors_are_one_line(capsys):
    assert main(["config", "show", "--set", "image_sise=3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown config key(s) ['image_sise']") and "\n" not in err


def test_data_check_maskedface_counts_450_training_images_by_subcategory(capsys):
    root = shared_dataset("maskedface")
    assert (
        main(
            [
                "data",
                "check",
                "--data",
                str(root),
                "--split",
                "train",
                "--class-attribute",
                "folder",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "images           450  (without instances: 0)" in out
    assert "instances        450" in out
    assert "CWM            275" in out and "IWM            175" in out


def test_data_convert_round_trips_via_to_coco(tmp_path, tiny_synth):
    out = tiny_synth / "train" / "coco.json"  # beside the images: names stay inside the folder
    convert = f"data convert --data {tiny_synth} --split train --to coco --out {out}".split()
    assert main([*convert, "--class-attribute", "type"]) == 0
    from facemask_rcnn.data import load_records

    via, _ = load_records(tiny_synth, split="train", class_attribute="type")
    coco, problems = load_records(out)
    assert len(coco) == len(via) and not [p for p in problems if p.severity == "error"]
    for a, b in zip(via, coco, strict=True):
        assert [i.label for i in a.instances] == [i.label for i in b.instances]
        for ia, ib in zip(a.instances, b.instances, strict=True):
            assert (ia.to_mask(a.height, a.width) == ib.to_mask(b.height, b.width)).all()
    assert main(convert) == 2  # the existing file is never overwritten


def test_help_and_version_start_without_torch():
    import subprocess
    import sys
    from importlib.metadata import version

    script = (
        "import sys\n"
        "from facemask_rcnn.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules, 'timm' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True).stdout
    assert out.startswith(f"facemask-rcnn {version('facemask-rcnn')}\n")
    assert "predict" in out and out.strip().endswith("False False")


def test_data_check_without_split_checks_each_split_once(tiny_synth, capsys):
    assert main(["data", "check", "--data", str(tiny_synth), "--class-attribute", "type"]) == 0
    out = capsys.readouterr().out
    assert out.count(f"{tiny_synth} [train]") == 1 and out.count(f"{tiny_synth} [val]") == 1
    assert "[test]" not in out


def test_bootstrap_commands_write_datasets_that_train_reads(trained, tmp_path, capsys):
    import json

    import numpy as np
    from PIL import Image

    from facemask_rcnn.data import load_records

    checkpoint, _ = trained
    images = tmp_path / "photos"
    images.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.jpg", "b.jpg"):
        Image.fromarray(rng.integers(0, 255, (80, 120, 3), dtype=np.uint8)).save(images / name)
    coco = {
        "images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
        "categories": [{"id": 0, "name": "with_mask"}, {"id": 1, "name": "without_mask"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 50]},
            {"id": 2, "image_id": 2, "category_id": 0, "bbox": [60, 10, 40, 50]},
        ],
    }
    (tmp_path / "faces.json").write_text(json.dumps(coco))
    faces = f"--images {images} --faces {tmp_path / 'faces.json'}"
    assert main(f"bootstrap occlude {faces} --out {tmp_path / 'occ'}".split()) == 0
    assert "1 occluder(s) on 1 image(s)" in capsys.readouterr().out
    records, problems = load_records(tmp_path / "occ")
    assert [r.path.name for r in records] == ["a.jpg"] and not problems
    pseudo = (
        f"bootstrap pseudo {faces} --weights {checkpoint} --min-score 0.0 --out {tmp_path / 'ps'}"
    )
    assert main(pseudo.split()) == 0
    out = capsys.readouterr().out
    assert "of 1 masked face(s) got a mask" in out and "review_via.json" in out
    review, _ = load_records(tmp_path / "ps" / "review_via.json")
    assert [r.path.name for r in review] == ["b.jpg"]
    prior = f"bootstrap pseudo {faces} --weights {checkpoint} --min-score 1.01 --prior-below 41"
    assert main(f"{prior} --out {tmp_path / 'pr'}".split()) == 0  # no mask is that confident
    out = capsys.readouterr().out
    assert "1 of 1 masked face(s) got a mask (100%, 1 of them the shape prior)" in out
    records, _ = load_records(tmp_path / "pr")
    assert [r.path.name for r in records] == ["b.jpg"]
    assert records[0].instances[0].attributes["source"] == "prior"
    none_kept = f"bootstrap pseudo {faces} --weights {checkpoint} --set max_detections=0"
    assert main(f"{none_kept} --min-score 0.0 --out {tmp_path / 'p0'}".split()) == 0
    assert "0 of 1 masked face(s) got a mask" in capsys.readouterr().out
    serve = f"serve --weights {checkpoint} --set box_head_size=16"  # refused before serving
    assert main(serve.split()) == 2
    assert "box_head_size=16 changes the model's layers" in capsys.readouterr().err
    missing = f"bootstrap occlude --faces {tmp_path / 'none.json'} --out {tmp_path / 'x'}"
    assert main(missing.split()) == 2
    assert "none.json: no such face-box file" in capsys.readouterr().err


def test_device_flag_is_checked_and_verbose_follows_the_command(trained, tmp_path, capsys):
    checkpoint, data = trained
    image = str(sorted((data / "val").glob("*.jpg"))[0])
    base = ["predict", image, "--weights", str(checkpoint), "--out", str(tmp_path / "p")]
    assert main([*base, "--device", "tpu9"]) == 2
    assert "--device tpu9: not a device name" in capsys.readouterr().err
    assert main([*base, "--device", "cuda:7"]) == 2
    assert "--device cuda:7: not available on this machine" in capsys.readouterr().err
    assert main([*base, "--device", "cpu", "-v"]) == 0
    assert (tmp_path / "p" / "summary.json").is_file()


def test_train_shortcuts_scale_the_schedule_and_json_prints_the_summary(tmp_path, capsys):
    import json

    from facemask_rcnn.config import load_config, scale_schedule
    from facemask_rcnn.synth import synthesize
    from tests.conftest import TINY

    schedule = load_config().schedule  # heads 2 epochs at 0.02, all 2 at 0.004
    scaled = scale_schedule(schedule, epochs=5, lr=0.01)
    assert [(s.layers, s.epochs) for s in scaled] == [("heads", 2), ("all", 3)]
    assert [s.lr for s in scaled] == pytest.approx([0.01, 0.002])
    synthesize(tmp_path / "d", n=10, seed=5, size=96)
    sets = [a for o in TINY if not o.startswith("image_size") for a in ("--set", o)]
    args = ["train", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "r"), *sets]
    args += ["--epochs", "2", "--lr", "0.01", "--image-size", "96", "--batch-size", "4"]
    assert main([*args, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["epochs"] == 2 and summary["best_pt"] == str(tmp_path / "r" / "best.pt")
    assert set(summary) >= {"best_epoch", "best_value", "last_val_ap50", "metrics_csv", "seconds"}
    saved = load_config(tmp_path / "r" / "config.yaml")
    assert (saved.image_size, saved.batch_size) == (96, 4)
    assert [(s.epochs, s.lr) for s in saved.schedule] == [(1, 0.01), (1, 0.002)]


@pytest.mark.parametrize(
    ("module", "argv", "extra"),
    [
        ("fastapi", ["serve", "--weights", "x.pt"], "serve"),
        ("uvicorn", ["serve", "--weights", "x.pt"], "serve"),
        ("onnx", ["export", "--weights", "TRAINED"], "export"),
    ],
)
def test_a_missing_extra_is_one_line_naming_it(trained, monkeypatch, capsys, module, argv, extra):
    import sys

    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    argv = [str(trained[0]) if a == "TRAINED" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"error: {module} is not installed; install the extra: pip install 'facemask-rcnn[{extra}]'"
    )


def test_predict_with_no_weights_uses_the_shipped_face_pipeline(tmp_path, capsys):
    from PIL import Image
    from skimage import data

    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(data.astronaut()).save(photo)
    assert main(["predict", str(photo), "--out", str(tmp_path / "pred")]) == 0
    assert "1 image(s), 1 face(s)" in capsys.readouterr().out
    (image,) = json.loads((tmp_path / "pred" / "summary.json").read_text())["images"]
    assert (image["faces"], image["bare"], image["masked"]) == (1, 1, 0)
