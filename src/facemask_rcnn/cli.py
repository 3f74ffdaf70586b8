"""``facemask`` command line: parses arguments, calls the package's functions, prints results.

Exit codes: 0 done; 1 the work ran but failed (training diverged, ``data check`` found errors,
no input could be read); 2 a usage error or input that cannot be used (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .config import load_config
from .errors import MissingExtra, TrainingDiverged, TrainingError, WeightsUnavailable
from .extras import RUNTIMES
from .version import __version__

if TYPE_CHECKING:  # each command imports its own modules: --help and config show need no torch
    from .evaluation import FaceMetrics

EPILOGS = {
    "config show": "examples:\n  facemask config show\n  facemask config show configs/seed.yaml\n"
    "  facemask config show --set image_size=256 --set backbone=resnet50 --strides",
    "data check": "examples:\n  facemask data check --data DATASET\n"
    "  facemask data check --data ../shared/datasets/maskedface --class-attribute folder\n"
    "  facemask data check --data DATASET --split val --class-attribute type",
    "data convert": "examples:\n"
    "  facemask data convert --data DATASET --split train --to coco --out DATASET/train/coco.json\n"
    "  facemask data convert --data coco.json --to via --out via_project.json",
    "train": "examples:\n  facemask train --data DATASET --out runs/masks\n"
    "  facemask train --data DATASET --epochs 20 --lr 0.01 --image-size 512\n"
    "  facemask train --data DATASET --config configs/seed.yaml --weights coco\n"
    "  facemask train --data DATASET --stage all --weights last\n"
    "  facemask train --data DATASET --out runs/masks --resume\n"
    "  torchrun --nproc_per_node 4 -m facemask_rcnn.cli train --data DATASET --device cuda",
    "evaluate": "examples:\n  facemask evaluate --weights runs/masks/best.pt --data DATASET\n"
    "  facemask evaluate --weights best.pt --data DATASET --split test --out eval/test",
    "predict": "examples:\n  facemask predict photo.jpg --weights runs/masks/best.pt\n"
    "  facemask predict photos/ 'more/*.png' clip.mp4 --every 5 --weights best.pt --out pred\n"
    "  facemask predict photos/ --weights best.pt --via-out photos/via_project.json\n"
    "  facemask predict crowd/ --weights best.pt --tile 128 --min-score 0.6  # small faces",
    "demo": "examples:\n  facemask demo\n  facemask demo --out /tmp/demo --images 80",
    "anchors": "examples:\n  facemask anchors --data DATASET\n"
    "  facemask anchors --data DATASET --config my.yaml --write my-anchors.yaml",
    "export": "examples:\n  facemask export --weights runs/masks/best.pt --format onnx\n"
    "  facemask export --weights best.pt --int8 static --calibration DATASET/train\n"
    "  facemask export --weights best.pt --format torchscript --out model.ts.pt\n"
    "  facemask export --weights runs/faces/best.pt   # a face head: its ONNX graph\n"
    "  facemask predict photos/ --weights runs/masks/best.onnx",
    "serve": "examples:\n  facemask serve --weights runs/masks/best.pt\n"
    "  facemask serve --weights best.onnx --host 0.0.0.0 --port 8080 --max-upload-mb 5",
    "bootstrap occlude": "examples:\n"
    "  facemask bootstrap occlude --images photos/ --faces faces.json --out data/occluded\n"
    "  facemask bootstrap occlude --images images/ --faces annotations/ --out data/occ  # VOC\n"
    "  facemask bootstrap occlude --images images/ --faces labels/ --out data/occ  # YOLO",
    "bootstrap pseudo": "examples:\n"
    "  facemask bootstrap pseudo --weights best.pt --images photos/ --faces faces.json "
    "--out data/pseudo\n"
    "  facemask train --data DATASET --data data/occluded --data data/pseudo",
    "synth": "examples:\n  facemask synth --out data/synth --n 200\n"
    "  facemask synth --out data/tiny --n 8 --image-size 128",
}


def _print_problems(problems: list) -> None:  # noqa: ANN401 - Problems or strings
    for problem in problems:
        print(problem, file=sys.stderr)


def cmd_config_show(args: argparse.Namespace) -> int:
    config = load_config(args.file, args.set)
    if not args.strides:
        print(config.display())
        return 0
    from .modeling.backbones import backbone_strides, build_backbone

    backbone = build_backbone(
        config.backbone, config.fpn_channels, imagenet=False, finest_stride=config.finest_stride
    )
    print(config.display(backbone_strides(backbone)))
    return 0


def cmd_data_check(args: argparse.Namespace) -> int:
    from .data.checks import summarize
    from .data.load import available_splits, load_records

    splits = [args.split] if args.split else available_splits(args.data)
    errors = 0
    for split in splits:
        records, problems = load_records(
            args.data, split, args.class_attribute, keep_empty=args.keep_empty
        )
        print(summarize(records, problems, args.data + (f" [{split}]" if split else "")))
        errors += sum(p.severity == "error" for p in problems)
    return 1 if errors else 0


def cmd_data_convert(args: argparse.Namespace) -> int:
    from .data.formats.coco import write_coco
    from .data.formats.via import write_via
    from .data.load import load_records
    from .data.records import class_names_of

    records, problems = load_records(
        args.data, args.split, args.class_attribute, keep_empty=args.keep_empty
    )
    _print_problems(problems)
    if args.to == "coco":
        write_coco(records, args.out, class_names_of(records))
    else:
        write_via(records, args.out, class_attribute=args.class_attribute or "type")
    print(f"wrote {len(records)} image(s) to {args.out}")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from .synth import contact_sheet, synthesize

    splits = synthesize(args.out, n=args.n, seed=args.seed, size=args.image_size)
    sheet = Path(args.out) / "contact_sheet.png"
    contact_sheet(splits["train"][:24], sheet)
    for split, records in splits.items():
        count = sum(len(r.instances) for r in records)
        print(f"{split}: {len(records)} images, {count} masks -> {Path(args.out) / split}")
    print(f"contact sheet: {sheet}")
    return 0


def train_overrides(args: argparse.Namespace) -> list[str]:
    """``--set`` plus the shortcut flags, as config overrides (shortcuts win)."""
    overrides = list(args.set)
    for flag, key in (
        ("class_attribute", "class_attribute"),
        ("image_size", "image_size"),
        ("batch_size", "batch_size"),
        ("val_split", "val_split"),
    ):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={value}")
    return overrides


def cmd_train(args: argparse.Namespace) -> int:
    from .config import scale_schedule
    from .engine import train

    config = load_config(args.config, train_overrides(args))
    config.schedule = scale_schedule(config.schedule, args.epochs, args.lr)
    if config.task == "faces":
        return _train_face_head(args, config)
    result = train(
        config,
        args.data if len(args.data) > 1 else args.data[0],
        args.out,
        weights=args.weights,
        stage=args.stage,
        resume=args.resume,
        exist_ok=args.exist_ok,
        keep_empty=args.keep_empty,
        time_budget=args.time_budget * 60 if args.time_budget else None,
        trust_checkpoint=args.trust_checkpoint,
        device=args.device,
    )
    summary = result.summary
    if args.json:
        print(json.dumps(summary.to_dict()))
        return 0
    best, ap = summary.best_value, summary.last_val_ap50
    print(f"\ntraining finished in {summary.seconds / 60:.1f} min, {summary.epochs} epoch(s)")
    best_text = "none" if best is None else f"{best:.4g}"
    print(f"  best epoch     {summary.best_epoch} ({summary.best_metric} {best_text})")
    print(f"  last val AP50  {'not computed' if ap is None else f'{ap:.4f}'}")
    for name, path in summary.files.items():
        print(f"  {name:<14} {path}")
    return 0


def _train_face_head(args: argparse.Namespace, config) -> int:  # noqa: ANN001 - a Config
    from .faces.train import train_face_head

    data = args.data if len(args.data) > 1 else args.data[0]
    result = train_face_head(config, data, args.out or "runs/faces", exist_ok=args.exist_ok)
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    print(f"\nface head trained in {result.seconds / 60:.1f} min on crops {result.train_crops}")
    print(f"  best epoch     {result.best_epoch} (val_loss {result.best_val_loss:.4g}, ", end="")
    print(f"val accuracy {result.val_accuracy:.4f})")
    print(f"  best.pt        {result.run_dir / 'best.pt'}")
    return 0


def _predictor(args: argparse.Namespace):  # noqa: ANN202 - a Predictor or FacePipeline
    from .shipped import load_predictor

    return load_predictor(
        args.weights,
        getattr(args, "mask_weights", None),
        args.min_score,
        runtime=args.runtime,
        trust=args.trust_checkpoint,
        device=args.device,
        size=getattr(args, "image_size", None),
        tile=getattr(args, "tile", None),
        overrides=args.set,
    )


def cmd_bootstrap_occlude(args: argparse.Namespace) -> int:
    from .bootstrap import occlude_faces
    from .data import load_records
    from .data.formats.faceboxes import read_faces

    faces, problems = read_faces(args.faces, args.images)
    _print_problems(problems)
    labels = None
    if args.labels:
        labels, label_problems = load_records(args.labels)
        _print_problems(label_problems)
    result = occlude_faces(faces, args.out, args.seed, args.share, labels)
    _print_problems([f"error: {problem}" for problem in result.problems])
    print(
        f"{result.occluders} occluder(s) on {result.images} image(s) -> {result.folder}; "
        f"skipped {result.skipped_masked} image(s) with masked faces that --labels does not "
        f"outline (unlabelled masks would be learned as background)"
    )
    return 0


def cmd_bootstrap_pseudo(args: argparse.Namespace) -> int:
    from .bootstrap import pseudo_label
    from .data.formats.faceboxes import read_faces

    faces, problems = read_faces(args.faces, args.images)
    _print_problems(problems)
    predictor = _predictor(args)
    result = pseudo_label(predictor, faces, args.out, args.scale, prior_below=args.prior_below)
    _print_problems([f"error: {problem}" for problem in result.problems])
    share = result.masks / max(1, result.masked_faces)
    priors = f", {result.priors} of them the shape prior" if args.prior_below else ""
    print(
        f"{result.masks} of {result.masked_faces} masked face(s) got a mask ({share:.0%}"
        f"{priors}) on {result.images} image(s); {result.complete_images} image(s) complete"
    )
    folder = result.folder
    print(f"correct in VIA: {folder / 'review_via.json'}")
    print(f"train on: {folder} (via_region_data.json: complete images only)")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluation import FaceMetrics, evaluate

    metrics = evaluate(_predictor(args), args.data, args.split, args.out)
    print(
        f"images {metrics.images}  device {metrics.device}  "
        f"latency {metrics.latency_ms:.0f} ms/image"
    )
    if isinstance(metrics, FaceMetrics):  # face boxes without outlines
        _print_face_metrics(metrics)
    else:
        print(
            f"min score {metrics.min_score}  Matterport mAP@0.5 {metrics.matterport_map50:.4f}  "
            f"mAP@0.75 {metrics.matterport_map75:.4f}  "
            f"mean top-mask IoU {metrics.mean_top_mask_iou:.4f}"
        )
        keys = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR100")
        print("        " + " ".join(f"{k:>6}" for k in keys))
        for name, stats in (("segm", metrics.segm), ("bbox", metrics.bbox)):
            print(f"{name:<8}" + " ".join(f"{stats[k]:6.3f}" for k in keys))
        for name, ap in metrics.segm["per_class"].items():
            print(f"  segm AP {name:<14} {ap:.3f}")
    _print_problems(metrics.problems)
    if metrics.folder:
        faces = isinstance(metrics, FaceMetrics)
        reports = "" if faces else ", per_image.csv, pr_curve.png, worst/"
        print(f"wrote {metrics.folder}/eval.json{reports}")
    return 0


def _print_face_metrics(metrics: FaceMetrics) -> None:
    """Face-level results of ``evaluate`` on face boxes, one operating point per line."""
    print(f"faces: {metrics.masked_faces} masked, {metrics.bare_faces} bare")
    limit = metrics.at_limit
    for name, point in (("all masks", metrics), (f"score >= {limit.min_score}", limit)):
        print(
            f"{name:<16} masked-face recall {point.masked_recall:.3f}  masks per bare face "
            f"{point.masks_per_bare_face:.3f}  stray masks per image "
            f"{point.stray_masks_per_image:.2f}"
        )
    for status, ap in (metrics.status_ap50 or {}).items():
        print(f"  box AP50 {status:<10} {ap:.3f}")


def cmd_predict(args: argparse.Namespace) -> int:
    from .inference import predict_to_folder

    predictor = _predictor(args)
    result = predict_to_folder(predictor, args.inputs, args.out, args.every, args.via_out)
    _print_problems([f"error: {error}" for error in result.errors])
    found = "face(s)" if predictor.config.task == "faces" else "mask(s)"
    print(f"{result.images} image(s), {result.instances} {found} -> {result.folder}")
    if args.via_out:
        print(f"VIA project for correction: {args.via_out}")
    return 1 if result.skipped and not result.images else 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export

    out = export(
        args.weights,
        args.format,
        args.out,
        args.image_size,
        overrides=args.set,
        trust=args.trust_checkpoint,
        device=args.device,
        int8=args.int8,
        calibration=args.calibration,
        calibration_images=args.calibration_images,
    )
    print(f"wrote {out}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .extras import require

    uvicorn = require("uvicorn", "serve")
    require("fastapi", "serve")
    require("python_multipart", "serve")
    from .serve import create_app

    predictor = _predictor(args)
    app = create_app(predictor, args.max_upload_mb, keep=args.keep, ttl=args.ttl_minutes * 60)
    served = args.weights or "the shipped face pipeline"
    print(f"serving {served} on http://{args.host}:{args.port}/  (API docs at /docs)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    result = run_demo(args.out, args.images)
    print(f"\nDemo finished in {result.minutes:.1f} min")
    print(f"  Matterport mAP@0.5 (val)  {result.matterport_map50:.3f}")
    print(f"  COCO mask AP / AP50       {result.coco_mask_ap:.3f} / {result.coco_mask_ap50:.3f}")
    print(f"  latency                   {result.latency_ms:.0f} ms/image")
    print(f"  run folder                {result.run}")
    print(f"  evaluation                {result.eval}")
    print(f"  overlays                  {result.overlays}")
    return 0


def cmd_anchors(args: argparse.Namespace) -> int:
    import dataclasses

    from .anchors import box_sizes, compare
    from .data.load import MissingSplit, load_records

    config = load_config(args.config, args.set)
    try:
        records, _ = load_records(args.data, args.split, args.class_attribute)
    except MissingSplit:
        records, _ = load_records(args.data, None, args.class_attribute)
    boxes = box_sizes(records, config.image_size)
    if not len(boxes):
        print(f"error: {args.data}: no boxes", file=sys.stderr)
        return 2
    current, fit = compare(boxes, config.anchor_sizes, config.anchor_ratios, config.seed)
    print(f"{len(boxes)} boxes at image_size {config.image_size} (RPN positive IoU 0.7)")
    for name, anchors in (("current ", current), ("proposal", fit)):
        print(
            f"  {name}: sizes {anchors.sizes} ratios {anchors.ratios}  "
            f"BPR {anchors.bpr:.3f}  mean best IoU {anchors.mean_best_iou:.3f}"
        )
    if not args.write:
        return 0
    if fit.bpr <= current.bpr:
        print(f"not written: no recall gain over {args.config or 'the defaults'}")
        return 0
    if Path(args.write).exists():
        print(f"error: {args.write}: already exists (nothing overwritten)", file=sys.stderr)
        return 2
    dataclasses.replace(config, anchor_sizes=fit.sizes, anchor_ratios=fit.ratios).save(args.write)
    print(f"wrote {args.write}")
    return 0


# --- argument groups shared by several commands ---------------------------------------------


def _common() -> argparse.ArgumentParser:
    """Flags every command takes, after its name too (``facemask train -v``)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging"
    )
    return common


def _add_set(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help=f"override {what}"
    )


def _add_data(parser: argparse.ArgumentParser, split: str | None, required: bool = True) -> None:
    parser.add_argument(
        "--data",
        required=required,
        help="dataset folder or annotation file (VIA, COCO, label PNGs, YOLO polygons)",
    )
    parser.add_argument("--split", default=split, help=f"split folder (default {split or 'all'})")
    parser.add_argument(
        "--class-attribute",
        help="VIA region attribute holding the class (label PNGs: any value uses the folder name)",
    )


def _add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: cuda if present)")


def _add_weights(parser: argparse.ArgumentParser, what: str, required: bool = True) -> None:
    parser.add_argument("--weights", required=required, help=what)
    parser.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="load a checkpoint that needs pickle (it can run code: only files you trust)",
    )


def _add_inference(parser: argparse.ArgumentParser, tiles: bool = True) -> None:
    """Weights, device, threshold, inference settings and (``tiles``) small-face options."""
    _add_weights(
        parser,
        "checkpoint (.pt) from facemask train, or an exported .onnx "
        "(default: the shipped face head and masks model)",
        required=False,
    )
    parser.add_argument(
        "--mask-weights",
        help="face head: take each face's mask from this masks model (default: the shipped one)",
    )
    _add_device(parser)
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="onnxruntime",
        help=".onnx graphs: openvino is faster on CPUs with bf16, not bit-exact (onnxruntime)",
    )
    parser.add_argument("--min-score", type=float, help="min confidence (default: the config's)")
    _add_set(parser, "an inference setting of the checkpoint, e.g. int8_box_head=false")
    if tiles:
        parser.add_argument(
            "--image-size", type=int, help="inference size, longest side (default: config)"
        )
        parser.add_argument(
            "--tile", type=int, metavar="PX", help="also run overlapping PX-pixel tiles"
        )


# --- one parser builder per command ----------------------------------------------------------


def _parser_config_and_data(commands, sub) -> None:  # noqa: ANN001
    config = commands.add_parser("config", help="show configurations").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    show = sub(config, "show", "config show", "print every setting of a config")
    show.add_argument("file", nargs="?", help="YAML config (defaults when omitted)")
    show.add_argument(
        "--strides",
        action="store_true",
        help="also build the backbone and list its measured strides (a few seconds)",
    )
    _add_set(show, "a config key; VALUE is YAML, e.g. --set image_size=256")
    show.set_defaults(func=cmd_config_show)
    data = commands.add_parser("data", help="check and convert datasets").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    check = sub(data, "check", "data check", "validate a dataset and print a summary table")
    convert = sub(data, "convert", "data convert", "write a dataset as VIA 2.x or COCO")
    for parser in (check, convert):
        _add_data(parser, None)
        parser.add_argument("--keep-empty", action="store_true", help="keep images without regions")
    convert.add_argument("--to", choices=("via", "coco"), required=True)
    convert.add_argument("--out", required=True, help="new JSON file beside the images")
    check.set_defaults(func=cmd_data_check)
    convert.set_defaults(func=cmd_data_convert)


def _parser_train(commands, sub) -> None:  # noqa: ANN001
    train = sub(commands, "train", "train", "train a model (staged fine-tuning)")
    train.add_argument(
        "--data", required=True, action="append", help="dataset folder or file; repeat for several"
    )
    train.add_argument("--config", help="YAML config file (defaults when omitted)")
    _add_set(train, "a config key; VALUE is YAML, e.g. --set augment=light")
    train.add_argument("--epochs", type=int, help="total epochs, shared by the stages as set")
    train.add_argument("--lr", type=float, help="first stage's rate; later ones keep their ratio")
    train.add_argument("--image-size", type=int, help="longest side the model sees (384)")
    train.add_argument("--batch-size", type=int, help="images per step on each device (2)")
    _add_weights(train, "imagenet | coco | none | last | PATH (default: config)", required=False)
    _add_device(train)
    train.add_argument("--out", default="runs/facemask", help="run folder (a new name if taken)")
    train.add_argument("--stage", help="run only the schedule's stage with these layers")
    train.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    train.add_argument("--exist-ok", action="store_true", help="write into an existing --out")
    train.add_argument("--class-attribute", help="VIA region attribute holding the class")
    train.add_argument("--val-split", help="split that chooses best.pt (default val; e.g. test)")
    train.add_argument("--keep-empty", action="store_true", help="train on images without masks")
    train.add_argument("--time-budget", type=float, metavar="MIN", help="wall-clock minutes")
    train.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    train.set_defaults(func=cmd_train)


def _parser_inference(commands, sub) -> None:  # noqa: ANN001
    evaluate = sub(commands, "evaluate", "evaluate", "Matterport mAP@0.5, COCO metrics, reports")
    _add_data(evaluate, "val")
    evaluate.add_argument("--out", help="folder for eval.json, per_image.csv, pr_curve.png, worst/")
    _add_inference(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)
    predict = sub(commands, "predict", "predict", "segment masks in images and videos")
    predict.add_argument("inputs", nargs="+", help="image files, folders, globs, videos")
    predict.add_argument("--out", default="predictions", help="output folder (new name if taken)")
    predict.add_argument("--every", type=int, default=1, help="videos: every Nth frame")
    predict.add_argument("--via-out", help="also write a VIA 2.x project for correction")
    _add_inference(predict)
    predict.set_defaults(func=cmd_predict)
    serve = sub(commands, "serve", "serve", "web service: upload page and JSON API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--max-upload-mb", type=float, default=10.0)
    serve.add_argument("--keep", type=int, default=200, help="overlays kept (newest first)")
    serve.add_argument("--ttl-minutes", type=float, default=60.0, help="overlays expire after")
    _add_inference(serve)
    serve.set_defaults(func=cmd_serve)
    export = sub(commands, "export", "export", "export a checkpoint to ONNX or TorchScript")
    _add_weights(export, "checkpoint (.pt) from facemask train")
    _add_device(export)
    export.add_argument("--format", choices=("onnx", "torchscript"), default="onnx")
    export.add_argument("--image-size", type=int, help="example input size (default: config)")
    export.add_argument("--out", help="output file (default: beside the checkpoint)")
    export.add_argument(
        "--int8",
        choices=("none", "dynamic", "static"),
        help="ONNX: dynamic = fully connected layers (default); static = the whole network, "
        "calibrated on --calibration",
    )
    export.add_argument("--calibration", metavar="DATA", help="folder of training images")
    export.add_argument(
        "--calibration-images", type=int, default=100, help="images to calibrate on (100)"
    )
    _add_set(export, "an inference setting to build into the graph")
    export.set_defaults(func=cmd_export)


def _parser_bootstrap(commands, sub) -> None:  # noqa: ANN001
    bootstrap = commands.add_parser(
        "bootstrap", help="masks for photos with face boxes only"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    occlude = sub(bootstrap, "occlude", "bootstrap occlude", "paste synthetic masks on bare faces")
    pseudo = sub(bootstrap, "pseudo", "bootstrap pseudo", "a model's masks inside masked faces")
    for parser in (occlude, pseudo):
        parser.add_argument("--images", help="image folder (default: found from --faces)")
        parser.add_argument(
            "--faces", required=True, help="face boxes: COCO .json, VOC .xml folder, YOLO .txt"
        )
        parser.add_argument("--out", required=True, help="new dataset folder (new name if taken)")
    occlude.add_argument("--seed", type=int, default=0)
    occlude.add_argument("--share", type=float, default=1.0, help="share of bare faces occluded")
    occlude.add_argument("--labels", help="dataset outlining the masked faces (pseudo's --out)")
    occlude.set_defaults(func=cmd_bootstrap_occlude)
    pseudo.add_argument("--scale", type=float, default=2.5, help="face crop side / face size")
    pseudo.add_argument(
        "--prior-below",
        type=float,
        default=0.0,
        metavar="PX",
        help="masked faces narrower than PX that get no mask get an ellipse (default 0: off)",
    )
    _add_inference(pseudo, tiles=False)
    pseudo.set_defaults(func=cmd_bootstrap_pseudo)


def _parser_tools(commands, sub) -> None:  # noqa: ANN001
    demo = sub(commands, "demo", "demo", "synthesise data, train briefly, evaluate, predict")
    demo.add_argument("--out", default="demo", help="folder for data, run, eval, predictions")
    demo.add_argument("--images", type=int, default=120, help="synthetic images (20%% val)")
    demo.set_defaults(func=cmd_demo)
    anchors = sub(commands, "anchors", "anchors", "fit RPN anchors to a dataset (k-means on 1-IoU)")
    _add_data(anchors, "train")
    anchors.add_argument("--config", help="YAML config file (defaults when omitted)")
    _add_set(anchors, "a config key")
    anchors.add_argument("--write", help="new config file with the proposal, if recall improves")
    anchors.set_defaults(func=cmd_anchors)
    synth = sub(commands, "synth", "synth", "render the embedded default dataset (people in masks)")
    synth.add_argument("--out", required=True, help="output folder (gets train/ and val/)")
    synth.add_argument("--n", type=int, default=200, help="number of images (20%% go to val)")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--image-size", type=int, default=320, help="image side in pixels")
    synth.set_defaults(func=cmd_synth)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facemask",
        description="Train, evaluate and serve Mask R-CNN models that segment face masks.",
        epilog="exit codes: 0 done; 1 the work failed (training diverged, data check found "
        "errors, no input readable); 2 usage error or unusable input",
        parents=[_common()],
    )
    parser.add_argument("--version", action="version", version=f"facemask-rcnn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def sub(group, name: str, key: str, help_text: str):  # noqa: ANN001, ANN202
        return group.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EPILOGS.get(key),
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[_common()],
        )

    for add in (_parser_config_and_data, _parser_train, _parser_inference, _parser_bootstrap):
        add(commands, sub)
    _parser_tools(commands, sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    verbose = getattr(args, "verbose", False)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(message)s"
    )
    try:
        return args.func(args)
    except (TrainingError, TrainingDiverged) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except (
        ValueError,
        WeightsUnavailable,
        FileExistsError,
        FileNotFoundError,
        MissingExtra,
    ) as err:
        print(f"error: {err}", file=sys.stderr)  # ConfigError and ImageError are ValueErrors
        return 2


if __name__ == "__main__":
    sys.exit(main())
