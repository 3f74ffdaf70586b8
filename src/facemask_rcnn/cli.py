"""``facemask`` command line: parses arguments, calls the package's functions, prints results."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import __version__
from .config import ConfigError, load_config
from .engine.trainer import TrainingDiverged, TrainingError
from .modeling.backbones import WeightsUnavailable

EPILOGS = {
    "config show": "examples:\n  facemask config show\n  facemask config show configs/seed.yaml\n"
    "  facemask config show --set image_size=256 --set backbone=resnet50",
    "data check": "examples:\n  facemask data check DATASET\n"
    "  facemask data check ../shared/datasets/maskedface --class-attribute folder\n"
    "  facemask data check DATASET --split val --class-attribute type",
    "data convert": "examples:\n"
    "  facemask data convert DATASET --split train --to coco --out train.json\n"
    "  facemask data convert coco.json --to via --out via_project.json",
    "train": "examples:\n  facemask train --data DATASET --out runs/masks\n"
    "  facemask train --data DATASET --config configs/seed.yaml --weights coco\n"
    "  facemask train --data DATASET --stage heads --out runs/heads\n"
    "  facemask train --data DATASET --stage all --weights last\n"
    "  facemask train --data DATASET --out runs/masks --resume\n"
    "  torchrun --nproc_per_node 4 -m facemask_rcnn.cli train --data DATASET",
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
    "  facemask export --weights best.pt --format torchscript --out model.ts.pt\n"
    "  facemask predict photos/ --engine onnx --weights runs/masks/best.onnx",
    "serve": "examples:\n  facemask serve --weights runs/masks/best.pt\n"
    "  facemask serve --weights best.onnx --host 0.0.0.0 --port 8080 --max-upload-mb 5",
    "bootstrap occlude": "examples:\n"
    "  facemask bootstrap occlude --images photos/ --faces faces.json --out data/occluded\n"
    "  facemask bootstrap occlude --images images/ --faces annotations/ --out data/occ  # VOC\n"
    "  facemask bootstrap occlude --images images/ --faces labels/ --out data/occ  # YOLO\n"
    "  facemask bootstrap occlude --faces faces.json --labels data/pseudo --share 0.5 "
    "--out data/both",
    "bootstrap pseudo": "examples:\n"
    "  facemask bootstrap pseudo --weights best.pt --images photos/ --faces faces.json "
    "--out data/pseudo\n"
    "  facemask train --data DATASET --data data/occluded --data data/pseudo",
    "synth": "examples:\n  facemask synth data/synth --n 200\n"
    "  facemask synth data/tiny --n 8 --size 128",
}


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML config file (defaults when omitted)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key; VALUE is YAML, e.g. --set image_size=256",
    )


def _add_data_args(parser: argparse.ArgumentParser, split: str | None) -> None:
    parser.add_argument("dataset", help="dataset folder or annotation file (VIA, COCO, label PNGs)")
    parser.add_argument("--split", default=split, help="sub-folder to read (train, val…)")
    parser.add_argument(
        "--class-attribute",
        help="VIA region attribute holding the class (label PNGs: any value uses the folder name)",
    )
    parser.add_argument("--keep-empty", action="store_true", help="keep images without regions")


def cmd_config_show(args: argparse.Namespace) -> int:
    from .modeling.backbones import backbone_strides, build_backbone

    config = load_config(args.file, args.set)
    backbone = build_backbone(config.backbone, config.fpn_channels, imagenet=False)
    print(config.display(backbone_strides(backbone)))
    return 0


def cmd_data_check(args: argparse.Namespace) -> int:
    from .data.checks import summarize
    from .data.load import available_splits, load_records

    splits = [args.split] if args.split else available_splits(args.dataset)
    errors = 0
    for split in splits:
        records, problems = load_records(
            args.dataset, split, args.class_attribute, keep_empty=args.keep_empty
        )
        print(summarize(records, problems, args.dataset + (f" [{split}]" if split else "")))
        errors += sum(p.severity == "error" for p in problems)
    return 1 if errors else 0


def cmd_data_convert(args: argparse.Namespace) -> int:
    from .data.coco import write_coco
    from .data.load import load_records
    from .data.records import class_names_of
    from .data.via import write_via

    records, problems = load_records(
        args.dataset, args.split, args.class_attribute, keep_empty=args.keep_empty
    )
    for problem in problems:
        print(problem, file=sys.stderr)
    if args.to == "coco":
        write_coco(records, args.out, class_names_of(records))
    else:
        write_via(records, args.out, class_attribute=args.class_attribute or "type")
    print(f"wrote {len(records)} image(s) to {args.out}")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from .data.synth import contact_sheet, synthesize

    splits = synthesize(args.out, n=args.n, seed=args.seed, size=args.size)
    sheet = Path(args.out) / "contact_sheet.png"
    contact_sheet(splits["train"][:24], sheet)
    for split, records in splits.items():
        count = sum(len(r.instances) for r in records)
        print(f"{split}: {len(records)} images, {count} masks -> {Path(args.out) / split}")
    print(f"contact sheet: {sheet}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .engine import train

    overrides = list(args.set)
    if args.class_attribute:
        overrides.append(f"class_attribute={args.class_attribute}")
    config = load_config(args.config, overrides)
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
    )
    last = result.metrics[-1] if result.metrics else {}
    print(f"run folder: {result.run_dir}  (best.pt, last.pt, metrics.csv, loss.png)")
    if last:
        print(
            f"last epoch {last['epoch']}: loss {last['loss']:.4f}, val_loss {last['val_loss']:.4f}"
        )
    return 0


def _predictor(args: argparse.Namespace):  # noqa: ANN202 - a Predictor
    from .inference import Predictor

    onnx = Path(args.weights).suffix == ".onnx"
    engine = getattr(args, "engine", None)
    if engine and (engine == "onnx") != onnx:
        raise ConfigError(
            f"--engine {engine} needs {'a .onnx file' if not onnx else 'a .pt checkpoint'}"
        )
    size, tile = getattr(args, "size", None), getattr(args, "tile", None)
    return Predictor.from_checkpoint(
        args.weights,
        args.min_score,
        size=size,
        tile=tile,
        overrides=args.set,
        trust=args.trust_checkpoint,
    )


def _add_trust_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="load a checkpoint that needs pickle (it can run code: only files you trust)",
    )


def _add_inference_args(parser: argparse.ArgumentParser) -> None:
    _add_trust_arg(parser)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="inference setting of the checkpoint's config, e.g. int8_box_head=false",
    )


def _add_small_face_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", type=int, help="inference size, longest side (default: config)")
    parser.add_argument(
        "--tile", type=int, metavar="PX", help="also run overlapping PX-pixel tiles (small faces)"
    )


def cmd_bootstrap_occlude(args: argparse.Namespace) -> int:
    from .bootstrap import occlude_faces
    from .data import load_records
    from .data.faceboxes import read_faces

    faces, problems = read_faces(args.faces, args.images)
    for problem in problems:
        print(problem, file=sys.stderr)
    labels = None
    if args.labels:
        labels, label_problems = load_records(args.labels)
        for problem in label_problems:
            print(problem, file=sys.stderr)
    result = occlude_faces(faces, args.out, args.seed, args.share, labels)
    for problem in result["problems"]:
        print(f"error: {problem}", file=sys.stderr)
    print(
        f"{result['occluders']} occluder(s) on {result['images']} image(s) -> {result['folder']}; "
        f"skipped {result['skipped_masked']} image(s) with masked faces that --labels does not "
        f"outline (unlabelled masks would be learned as background)"
    )
    return 0


def cmd_bootstrap_pseudo(args: argparse.Namespace) -> int:
    from .bootstrap import pseudo_label
    from .data.faceboxes import read_faces

    faces, problems = read_faces(args.faces, args.images)
    for problem in problems:
        print(problem, file=sys.stderr)
    predictor = _predictor(args)
    result = pseudo_label(predictor, faces, args.out, args.scale, prior_below=args.prior_below)
    for problem in result["problems"]:
        print(f"error: {problem}", file=sys.stderr)
    share = result["masks"] / max(1, result["masked_faces"])
    priors = f", {result['priors']} of them the shape prior" if args.prior_below else ""
    print(
        f"{result['masks']} of {result['masked_faces']} masked face(s) got a mask ({share:.0%}"
        f"{priors}) on {result['images']} image(s); {result['complete_images']} image(s) complete"
    )
    folder = result["folder"]
    print(f"correct in VIA: {folder / 'review_via.json'}")
    print(f"train on: {folder} (via_region_data.json: complete images only)")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluation import evaluate

    predictor = _predictor(args)
    metrics = evaluate(predictor, args.data, args.split, args.out)
    segm, bbox = metrics["segm"], metrics["bbox"]
    print(
        f"images {metrics['images']}  device {metrics['device']}  "
        f"latency {metrics['latency_ms']:.0f} ms/image  min score {metrics['min_score']}"
    )
    print(
        f"seed mAP@0.5 {metrics['map50_seed']:.4f}   seed mAP@0.75 {metrics['map75_seed']:.4f}   "
        f"mean top-mask IoU {metrics['mean_top_mask_iou']:.4f}"
    )
    print(
        "        "
        + " ".join(f"{k:>6}" for k in ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR100"))
    )
    for name, row in (("segm", segm), ("bbox", bbox)):
        values = " ".join(
            f"{row[k]:6.3f}" for k in ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR100")
        )
        print(f"{name:<8}{values}")
    for name, ap in segm["per_class"].items():
        print(f"  segm AP {name:<14} {ap:.3f}")
    for problem in metrics["problems"]:
        print(problem, file=sys.stderr)
    if args.out:
        print(f"wrote {metrics['folder']}/eval.json, per_image.csv, pr_curve.png, worst/")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .inference import predict_to_folder

    predictor = _predictor(args)
    result = predict_to_folder(predictor, args.inputs, args.out, args.every, args.via_out)
    for error in result["errors"]:
        print(f"error: {error}", file=sys.stderr)
    print(f"{result['images']} image(s), {result['instances']} mask(s) -> {result['folder']}")
    if args.via_out:
        print(f"VIA project for correction: {args.via_out}")
    return 1 if result["errors"] and not result["images"] else 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export

    out = export(
        args.weights,
        args.format,
        args.out,
        args.size,
        overrides=args.set,
        trust=args.trust_checkpoint,
    )
    print(f"wrote {out}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    if not args.weights:
        print(
            "error: --weights is required: train a model first (facemask demo, or facemask "
            "train) and pass its best.pt or an exported .onnx",
            file=sys.stderr,
        )
        return 2
    import uvicorn

    from .serve import create_app

    predictor = _predictor(args)
    app = create_app(predictor, args.max_upload_mb, keep=args.keep, ttl=args.ttl_minutes * 60)
    print(f"serving {args.weights} on http://{args.host}:{args.port}/  (API docs at /docs)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    summary = run_demo(args.out, args.images)
    print(f"\nDemo finished in {summary['minutes']:.1f} min")
    print(f"  seed mAP@0.5 (val)   {summary['map50_seed']:.3f}")
    print(f"  COCO mask AP / AP50  {summary['coco_mask_ap']:.3f} / {summary['coco_mask_ap50']:.3f}")
    print(f"  latency              {summary['latency_ms']:.0f} ms/image")
    print(f"  run folder           {summary['run']}")
    print(f"  evaluation           {summary['eval']}")
    print(f"  overlays             {summary['overlays']}")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facemask",
        description="Train, evaluate and serve Mask R-CNN models that segment face masks.",
    )
    parser.add_argument("--version", action="version", version=f"facemask-rcnn {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def sub(group, name: str, key: str, help_text: str):  # noqa: ANN001, ANN202
        return group.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EPILOGS.get(key),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    config = commands.add_parser("config", help="show configurations").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    show = sub(config, "show", "config show", "print a config with its derived backbone strides")
    show.add_argument("file", nargs="?", help="YAML config (defaults when omitted)")
    show.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    show.set_defaults(func=cmd_config_show)

    data = commands.add_parser("data", help="check and convert datasets").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    check = sub(data, "check", "data check", "validate a dataset and print a summary table")
    _add_data_args(check, None)
    check.set_defaults(func=cmd_data_check)
    convert = sub(data, "convert", "data convert", "write a dataset as VIA 2.x or COCO")
    _add_data_args(convert, None)
    convert.add_argument("--to", choices=("via", "coco"), required=True)
    convert.add_argument("--out", required=True, help="new JSON file (never overwritten)")
    convert.set_defaults(func=cmd_data_convert)

    train = sub(commands, "train", "train", "train a model (staged fine-tuning)")
    train.add_argument(
        "--data",
        required=True,
        action="append",
        help="dataset folder with train/ (and val/); repeat to train on several",
    )
    _add_config_args(train)
    train.add_argument("--weights", help="imagenet | coco | none | last | PATH (default: config)")
    _add_trust_arg(train)
    train.add_argument("--out", default="runs/facemask", help="run folder (a new name if taken)")
    train.add_argument(
        "--stage", help="run only the schedule's stage with these layers (heads, all…)"
    )
    train.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    train.add_argument("--exist-ok", action="store_true", help="write into an existing --out")
    train.add_argument("--class-attribute", help="VIA region attribute holding the class")
    train.add_argument(
        "--keep-empty", action="store_true", help="train on images without masks too"
    )
    train.add_argument(
        "--time-budget", type=float, metavar="MIN", help="wall-clock minutes, shared by the stages"
    )
    train.set_defaults(func=cmd_train)

    evaluate = sub(commands, "evaluate", "evaluate", "seed mAP@0.5, COCO metrics and reports")
    evaluate.add_argument("--weights", required=True, help="checkpoint from facemask train")
    evaluate.add_argument("--data", required=True, help="dataset folder or annotation file")
    evaluate.add_argument("--split", default="val", help="split folder (default val)")
    evaluate.add_argument("--out", help="folder for eval.json, per_image.csv, pr_curve.png, worst/")
    evaluate.add_argument("--min-score", type=float, help="override the config's min confidence")
    evaluate.add_argument("--engine", choices=("torch", "onnx"), help="default: by file suffix")
    _add_small_face_args(evaluate)
    _add_inference_args(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)

    predict = sub(commands, "predict", "predict", "segment masks in images and videos")
    predict.add_argument("inputs", nargs="+", help="image files, folders, globs, videos")
    predict.add_argument("--weights", required=True, help="checkpoint from facemask train")
    predict.add_argument("--out", default="predictions", help="output folder (new name if taken)")
    predict.add_argument("--min-score", type=float, help="override the config's min confidence")
    predict.add_argument("--engine", choices=("torch", "onnx"), help="default: by file suffix")
    predict.add_argument("--every", type=int, default=1, help="videos: every Nth frame")
    predict.add_argument("--via-out", help="also write a VIA 2.x project for correction")
    _add_small_face_args(predict)
    _add_inference_args(predict)
    predict.set_defaults(func=cmd_predict)

    export = sub(commands, "export", "export", "export a checkpoint to ONNX or TorchScript")
    export.add_argument("--weights", required=True, help="checkpoint from facemask train")
    export.add_argument("--format", choices=("onnx", "torchscript"), default="onnx")
    export.add_argument("--size", type=int, help="example input size (default: config image_size)")
    export.add_argument("--out", help="output file (default: beside the checkpoint)")
    _add_inference_args(export)
    export.set_defaults(func=cmd_export)

    serve = sub(commands, "serve", "serve", "web service: upload page and JSON API")
    serve.add_argument("--weights", help="checkpoint (.pt) or exported model (.onnx)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--min-score", type=float, help="default threshold (config's otherwise)")
    serve.add_argument("--max-upload-mb", type=float, default=10.0)
    serve.add_argument("--keep", type=int, default=200, help="overlays kept (newest first)")
    serve.add_argument("--ttl-minutes", type=float, default=60.0, help="overlays expire after")
    _add_inference_args(serve)
    serve.set_defaults(func=cmd_serve)

    demo = sub(commands, "demo", "demo", "synthesise data, train briefly, evaluate, predict")
    demo.add_argument("--out", default="demo", help="folder for data, run, eval, predictions")
    demo.add_argument("--images", type=int, default=120, help="synthetic images (20%% val)")
    demo.set_defaults(func=cmd_demo)

    anchors = sub(commands, "anchors", "anchors", "fit RPN anchors to a dataset (k-means on 1-IoU)")
    anchors.add_argument("--data", required=True, help="dataset folder or annotation file")
    anchors.add_argument("--split", default="train", help="split folder (default train)")
    anchors.add_argument("--class-attribute", help="VIA region attribute holding the class")
    _add_config_args(anchors)
    anchors.add_argument("--write", help="new config file with the proposal, if recall improves")
    anchors.set_defaults(func=cmd_anchors)

    bootstrap = commands.add_parser(
        "bootstrap", help="masks for photos with face boxes only"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    occlude = sub(
        bootstrap, "occlude", "bootstrap occlude", "paste synthetic masks onto bare faces"
    )
    pseudo = sub(
        bootstrap, "pseudo", "bootstrap pseudo", "a model's masks inside masked face boxes"
    )
    for parser_ in (occlude, pseudo):
        parser_.add_argument("--images", help="image folder (default: found from --faces)")
        parser_.add_argument(
            "--faces",
            required=True,
            help="face boxes: COCO .json, VOC .xml folder, YOLO .txt folder",
        )
        parser_.add_argument("--out", required=True, help="new dataset folder (new name if taken)")
    occlude.add_argument("--seed", type=int, default=0)
    occlude.add_argument(
        "--share", type=float, default=1.0, help="share of bare faces occluded (rest: negatives)"
    )
    occlude.add_argument(
        "--labels", help="dataset outlining the masked faces (bootstrap pseudo's --out)"
    )
    occlude.set_defaults(func=cmd_bootstrap_occlude)
    pseudo.add_argument("--weights", required=True, help="checkpoint (.pt) or exported .onnx")
    pseudo.add_argument("--min-score", type=float, help="keep masks at least this confident")
    pseudo.add_argument(
        "--scale", type=float, default=2.5, help="face crop side / face size (default 2.5)"
    )
    pseudo.add_argument(
        "--prior-below",
        type=float,
        default=0.0,
        metavar="PX",
        help="masked faces narrower than PX pixels that get no mask get an ellipse over the "
        "lower face instead (default 0: off)",
    )
    _add_inference_args(pseudo)
    pseudo.set_defaults(func=cmd_bootstrap_pseudo)

    synth = sub(commands, "synth", "synth", "render the embedded default dataset (people in masks)")
    synth.add_argument("out", help="output folder (gets train/ and val/)")
    synth.add_argument("--n", type=int, default=200, help="number of images (20%% go to val)")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--size", type=int, default=320, help="image side in pixels")
    synth.set_defaults(func=cmd_synth)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s"
    )
    try:
        return args.func(args)
    except (TrainingError, TrainingDiverged) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except (ValueError, WeightsUnavailable, FileExistsError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
