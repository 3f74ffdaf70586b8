"""Exported ONNX and TorchScript graphs agree with the PyTorch model; classes travel by name."""

import json

import numpy as np
import onnx
import pytest
import torch
import torchvision  # noqa: F401 - registers the ops a TorchScript graph calls
from onnx import numpy_helper

from facemask_rcnn.cli import main
from facemask_rcnn.config import Config
from facemask_rcnn.data.images import read_image
from facemask_rcnn.export import export, load_for_export
from facemask_rcnn.export.exporter import SingleImage, write_onnx
from facemask_rcnn.export.graph import graph_model, merge_roi_levels, nms_per_class
from facemask_rcnn.export.quantise import FPN_SCOPE
from facemask_rcnn.inference import OnnxEngine, Predictor
from facemask_rcnn.modeling import build_model
from facemask_rcnn.modeling.int8_training import QUANTISED_MODULES, round_weight
from tests.conftest import assert_same_detections, tiny_config

FLOAT = ["int8_box_head=false"]


@pytest.fixture(scope="module")
def onnx_model(trained, tmp_path_factory):
    checkpoint, _ = trained
    return export(checkpoint, "onnx", tmp_path_factory.mktemp("onnx") / "m.onnx", overrides=FLOAT)


def test_onnx_matches_pytorch_on_five_images(trained, onnx_model):
    checkpoint, data = trained
    torch_predictor = Predictor.from_checkpoint(checkpoint, 0.05, overrides=FLOAT)
    onnx_predictor = Predictor.from_checkpoint(onnx_model, min_score=0.05)
    assert onnx_predictor.engine.device == "cpu (onnxruntime)"
    images = sorted(data.glob("*/*.jpg"))[:5]
    found = assert_same_detections(torch_predictor, onnx_predictor, images, 1e-3, min_iou=0.98)
    assert found > 0  # the comparison saw detections
    nodes = onnx.load(str(onnx_model)).graph.node
    ops = [node.op_type for node in nodes]
    assert "ScatterElements" not in ops and "RoiAlign" in ops  # levels merged by one Gather
    # the engine resizes the image and pastes the masks, outside the graph
    assert "Loop" not in ops and not [
        n for n in nodes if n.op_type == "Resize" and "transform" in n.name
    ]


def test_openvino_runs_the_graph_to_within_bf16_rounding(trained, onnx_model, tmp_path, capsys):
    checkpoint, data = trained
    torch_predictor = Predictor.from_checkpoint(checkpoint, 0.1, overrides=FLOAT)
    openvino = Predictor.from_checkpoint(onnx_model, min_score=0.1, runtime="openvino")
    assert openvino.engine.device == "cpu (openvino)"
    images = sorted(data.glob("*/*.jpg"))[:5]
    assert assert_same_detections(torch_predictor, openvino, images, 0.05, 0.9, 2.0) > 0
    with pytest.raises(ValueError, match="choose onnxruntime or openvino"):
        Predictor.from_checkpoint(onnx_model, runtime="tensorrt")
    args = ["predict", str(data / "val"), "--runtime", "openvino", "--weights"]
    assert main([*args, str(onnx_model), "--out", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "summary.json").exists()
    assert main([*args, str(checkpoint)]) == 2  # a .pt runs in PyTorch
    assert "runs exported .onnx graphs only" in capsys.readouterr().err


def test_openvino_compiles_a_graph_for_a_size_that_comes_back(trained, onnx_model):
    _, data = trained
    scenes = [read_image(path) for path in sorted(data.glob("*/*.jpg"))[:5]]
    scenes = [torch.from_numpy(np.asarray(scene)).permute(2, 0, 1) / 255 for scene in scenes]
    exact = OnnxEngine(onnx_model)
    scene = next(s for s in scenes if len(exact(s)["scores"]))  # a scene with detections
    engine = OnnxEngine(onnx_model, "openvino")
    runner = engine.openvino
    once = engine(scene)
    assert runner.compiled_sizes() == []  # a size seen once runs the any-size graph
    again = engine(scene)
    assert runner.compiled_sizes() == [tuple(scene.shape)]
    assert len(again["scores"]) == len(once["scores"]) > 0
    for key in ("boxes", "scores"):
        torch.testing.assert_close(again[key], once[key], atol=0.5, rtol=0.02)
    wide, narrow = (3, 64, 96), (3, 96, 48)
    for size in [wide, wide, narrow, narrow]:  # two each: a free place, then none
        engine(torch.rand(size))
    assert runner.compiled_sizes() == [tuple(scene.shape), wide]
    for _ in range(2):  # narrow, seen 4 times, not more than twice the least used (2): waits
        engine(torch.rand(narrow))
    assert runner.compiled_sizes() == [tuple(scene.shape), wide]
    engine(torch.rand(narrow))  # 5 > 2 x 2: takes the place of the least used (first of two)
    assert runner.compiled_sizes() == [wide, narrow]


def test_openvino_forgets_sizes_seen_once_beyond_a_limit(onnx_model, monkeypatch):
    from facemask_rcnn.inference import engines

    monkeypatch.setattr(engines, "SIZES_COUNTED", 3)
    engine = OnnxEngine(onnx_model, "openvino")
    for width in (40, 40, 41, 42, 43, 44):  # 96 px high, as resized: 40 twice, four once
        engine(torch.rand(3, 96, width))
    assert engine.openvino.compiled_sizes() == [(3, 96, 40)]
    engine(torch.rand(3, 96, 41))  # 41 was forgotten: counts as a first sight, not compiled
    assert engine.openvino.compiled_sizes() == [(3, 96, 40)]


def test_nms_per_class_suppresses_within_a_class_only():
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [50, 50, 60, 60.0]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    classes = torch.tensor([1, 1, 2, 1])  # box 1 overlaps box 0 of its class; box 2 is class 2
    assert nms_per_class(boxes, scores, classes, 0.5).tolist() == [0, 2, 3]
    assert nms_per_class(boxes[:0], scores[:0], classes[:0], 0.5).shape == (0,)


def test_merge_roi_levels_restores_the_roi_order():
    levels = torch.tensor([1, 0, 1, 0, 2])
    # each level's results come in index order: level 0 pools RoIs 1, 3; level 1 RoIs 0, 2
    pooled = [torch.tensor([[10.0], [30.0]]), torch.tensor([[0.0], [20.0]]), torch.tensor([[40.0]])]
    merged = merge_roi_levels(levels, [p.view(-1, 1, 1, 1) for p in pooled])
    assert merged.flatten().tolist() == [0.0, 10.0, 20.0, 30.0, 40.0]


def test_int8_onnx_graph_keeps_the_detections(trained, onnx_model, tmp_path, caplog):
    checkpoint, data = trained
    int8_graph = export(checkpoint, "onnx", tmp_path / "int8.onnx")  # the config's default
    assert not [r for r in caplog.records if "pre-processing" in r.getMessage()]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["int8.onnx"]  # no float copy left
    ops = {node.op_type for node in onnx.load(str(int8_graph)).graph.node}
    assert "MatMulInteger" in ops and "Gemm" not in ops
    float_predictor = Predictor.from_checkpoint(onnx_model, min_score=0.05)
    int8_predictor = Predictor.from_checkpoint(int8_graph, min_score=0.05)
    assert int8_predictor.config.rpn_post_nms_test == float_predictor.config.rpn_post_nms_test
    # int8 rounding moves scores by thousandths, not detections
    images = sorted(data.glob("*/*.jpg"))[:5]
    assert assert_same_detections(float_predictor, int8_predictor, images, 0.02) > 0


def test_export_set_builds_settings_into_the_graph(trained, tmp_path):
    checkpoint, _ = trained
    out = tmp_path / "few.onnx"
    args = ["export", "--weights", str(checkpoint), "--out", str(out)]
    assert main([*args, "--set", "rpn_post_nms_test=7", "--set", "int8_box_head=false"]) == 0
    config = Predictor.from_checkpoint(out).config
    assert config.rpn_post_nms_test == 7 and not config.int8_box_head
    ops = {node.op_type for node in onnx.load(str(out)).graph.node}
    assert "MatMulInteger" not in ops and "Gemm" in ops  # the graph itself is float, not the tag
    assert main([*args[:-1], str(tmp_path / "x.onnx"), "--set", "box_head_size=16"]) == 2
    assert not (tmp_path / "x.onnx").exists()


def test_onnx_engine_can_stop_its_threads_spinning(onnx_model):
    key = "session.intra_op.allow_spinning"
    quiet = OnnxEngine(onnx_model, spinning=False).session.get_session_options()
    default = OnnxEngine(onnx_model).session.get_session_options()
    assert quiet.get_session_config_entry(key) == "0"
    with pytest.raises(RuntimeError, match="does not have configuration"):
        default.get_session_config_entry(key)  # unset: onnxruntime's default, spinning


@pytest.mark.parametrize("runtime", ["openvino", "onnxruntime"])
def test_onnx_takes_other_image_sizes(onnx_model, runtime):
    predictor = Predictor.from_checkpoint(onnx_model, min_score=0.05, runtime=runtime)
    noise = np.random.default_rng(0).integers(0, 255, (70, 130, 3), dtype=np.uint8)
    assert predictor.predict(noise).masks.shape[1:] == (70, 130)


def test_graphs_that_resize_and_paste_inside_still_run(trained, onnx_model, tmp_path):
    checkpoint, data = trained
    model, config = load_for_export(checkpoint, overrides=FLOAT)
    graph = tmp_path / "old.onnx"  # as earlier versions wrote: resized and pasted inside
    example = torch.rand(3, config.image_size, config.image_size)
    write_onnx(SingleImage(graph_model(model, engine_resizes=False)), example, graph)
    written = onnx.load(str(graph))
    old_metadata = {
        "class_names": json.dumps(config.class_names),
        "config": json.dumps(config.to_dict()),
        "int8": "none",
    }
    for key, value in old_metadata.items():
        written.metadata_props.add(key=key, value=value)
    onnx.save(written, str(graph))
    assert "Loop" in {node.op_type for node in written.graph.node}  # pastes inside
    old = Predictor.from_checkpoint(graph, min_score=0.05)
    new = Predictor.from_checkpoint(onnx_model, min_score=0.05)
    images = sorted(data.glob("*/*.jpg"))[:3]
    assert assert_same_detections(new, old, images, 1e-3, min_iou=0.98) > 0


def test_a_graph_that_finds_nothing_returns_empty_outputs(trained, tmp_path):
    checkpoint, _ = trained
    strict = ["min_confidence=0.999", *FLOAT]
    graph = export(checkpoint, "onnx", tmp_path / "strict.onnx", min_score=1.0, overrides=strict)
    for runtime in ("openvino", "onnxruntime"):
        found = OnnxEngine(graph, runtime)(torch.rand(3, 50, 40))
        assert {k: tuple(v.shape) for k, v in found.items()} == {
            "boxes": (0, 4),
            "labels": (0,),
            "scores": (0,),
            "masks": (0, 1, 50, 40),
        }


def test_subcategories_round_trip_by_name(tmp_path):
    names = ["cloth", "fashion", "n95", "surgical"]
    config = Config(class_names=names, image_size=96, fpn_channels=32)
    model = build_model(config, weights="none")
    torch.save({"model": model.state_dict(), "config": config.to_dict()}, tmp_path / "m.pt")
    assert (
        main(["export", "--weights", str(tmp_path / "m.pt"), "--out", str(tmp_path / "m.onnx")])
        == 0
    )
    predictor = Predictor.from_checkpoint(tmp_path / "m.onnx", min_score=0.0)
    assert predictor.class_names == names
    labels = predictor.predict(np.full((96, 96, 3), 128, np.uint8)).labels
    assert set(labels) <= set(names)
    assert (
        main(["export", "--weights", str(tmp_path / "m.pt"), "--out", str(tmp_path / "m.onnx")])
        == 2
    )


def test_torchscript_matches_pytorch(trained, tmp_path):
    checkpoint, data = trained
    path = export(checkpoint, "torchscript", tmp_path / "model.ts.pt")
    scripted = torch.jit.load(str(path))
    image = torch.rand(3, 96, 96)
    eager = Predictor.from_checkpoint(checkpoint, 0.0, overrides=["int8_box_head=false"])
    reference = eager.engine(image)
    boxes, labels, scores, masks = scripted(image)
    keep = scores >= 0.05  # the export keeps detections down to 0.05
    assert torch.allclose(boxes[keep], reference["boxes"][reference["scores"] >= 0.05], atol=1e-3)
    assert masks.shape[-2:] == (96, 96)


def test_onnx_graphs_run_on_the_cpu_only(trained, onnx_model, capsys):
    _, data = trained
    args = ["predict", str(data / "val"), "--weights", str(onnx_model), "--device", "cuda"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "not available on this machine" in err or "ONNX graphs run on the CPU" in err


def test_server_accepts_an_onnx_model(trained, onnx_model):
    from fastapi.testclient import TestClient

    from facemask_rcnn.serve import create_app

    _, data = trained
    app = create_app(Predictor.from_checkpoint(onnx_model, min_score=0.05))
    photo = sorted((data / "val").glob("*.jpg"))[0].read_bytes()
    with TestClient(app) as client:
        response = client.post("/predict", files={"file": ("p.jpg", photo)})
        assert response.status_code == 200 and response.json()["success"] is True
        assert client.get("/health").json()["device"] == "cpu (onnxruntime)"


def test_static_int8_graph_keeps_the_float_detections(trained, onnx_model, tmp_path, capsys):
    checkpoint, data = trained
    out = tmp_path / "static.onnx"
    args = ["export", "--weights", str(checkpoint), "--out", str(out), "--int8", "static"]
    assert main([*args, "--calibration", str(data / "train"), "--calibration-images", "8"]) == 0
    nodes = onnx.load(str(out)).graph.node
    assert {"QuantizeLinear", "DequantizeLinear"} <= {node.op_type for node in nodes}
    # GroupNorm runs in float: its output is quantised once, by the next layer, not inside it
    made_by = {output: node.op_type for node in nodes for output in node.output}
    inside = [
        n for n in nodes if n.op_type == "QuantizeLinear" and "Norm" in made_by.get(n.input[0], "")
    ]
    assert "InstanceNormalization" in made_by.values() and not inside
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["int8"] == "static"
    float_predictor = Predictor.from_checkpoint(onnx_model, min_score=0.3)
    images = sorted(data.glob("val/*.jpg")) + sorted(data.glob("train/*.jpg"))[:3]
    for runtime in ("openvino", "onnxruntime"):
        static = Predictor.from_checkpoint(out, min_score=0.3, runtime=runtime)
        found = assert_same_detections(float_predictor, static, images, 0.15, 0.85, box_tol=3.0)
        assert found > 0
    assert main([*args[:-2], "--int8", "static"]) == 2  # calibration is required
    assert "needs --calibration" in capsys.readouterr().err


@pytest.fixture(scope="module")
def batchnorm_static(trained, tmp_path_factory):
    """A tiny model with a BatchNorm FPN, trained one epoch and exported as static int8."""
    from facemask_rcnn.engine import train

    _, data = trained
    tmp_path = tmp_path_factory.mktemp("batchnorm")
    config = tiny_config("[{layers: heads, epochs: 1, lr: 0.01}]", "fpn_norm=batch")
    run = train(config, data, tmp_path / "run").run_dir
    out = tmp_path / "static.onnx"
    args = ["export", "--weights", str(run / "best.pt"), "--out", str(out), "--int8", "static"]
    assert main([*args, "--calibration", str(data / "train"), "--calibration-images", "4"]) == 0
    return run / "best.pt", out


def test_a_batchnorm_fpn_runs_as_int8_convolutions_alone(batchnorm_static):
    checkpoint, out = batchnorm_static
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["model"]
    means = [v for k, v in state.items() if k.startswith("backbone.fpn.") and "running_mean" in k]
    assert len(means) == 8 and all(m.abs().sum() > 0 for m in means)  # estimated in training
    nodes = onnx.load(str(out)).graph.node
    made_by = {output: node.op_type for node in nodes for output in node.output}
    assert not [n for n in nodes if "Normalization" in n.op_type]  # folded into the convolutions
    fpn_convs = [n for n in nodes if n.op_type == "Conv" and n.name.startswith(FPN_SCOPE)]
    assert len(fpn_convs) == 8
    assert all(made_by[n.input[0]] == made_by[n.input[1]] == "DequantizeLinear" for n in fpn_convs)


def test_int8_training_rounds_weights_to_the_static_graphs_int8_weights(batchnorm_static):
    checkpoint, out = batchnorm_static
    model = load_for_export(checkpoint)[0]  # BatchNorm folded, as exported
    stored = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(out)).graph.initializer}
    same = channels = values = ties = 0
    for name, module in model.named_modules():
        if type(module) not in (torch.nn.Conv2d, torch.nn.Linear):
            continue
        key = f"model.{name}.weight"
        quantised = name.startswith(QUANTISED_MODULES)
        assert (key + "_quantized" in stored) == quantised, key  # the same layers
        if not quantised:
            continue
        weight = module.weight.detach().flatten(1)
        step = torch.from_numpy(stored[key + "_scale"]).reshape(-1, 1)
        exported = torch.from_numpy(stored[key + "_quantized"]).flatten(1) * step
        # onnxruntime widens the step of a channel whose bias would overflow int32 (weights
        # near 1e-7, next to a large bias): those channels aside, the rounding is the same but
        # for halves that float arithmetic tips the other way (a step apart)
        kept = torch.isclose(step, weight.abs().amax(1, keepdim=True) / 127, rtol=1e-5)[:, 0]
        apart = (round_weight(weight) - exported)[kept].abs() / step[kept]
        assert float(apart.max()) < 1.001, key
        values, ties = values + apart.numel(), ties + int((apart > 1e-3).sum())
        same, channels = same + int(kept.sum()), channels + len(kept)
    assert channels > 2000 and same / channels > 0.99 and ties / values < 1e-3


def test_a_face_head_exports_to_onnx_and_loads_as_the_same_pipeline(tmp_path, capsys):
    from facemask_rcnn.faces.crops import BoxMap
    from facemask_rcnn.faces.head import FaceHead, OnnxFaceHead
    from facemask_rcnn.faces.train import head_checkpoint
    from facemask_rcnn.shipped import load_predictor

    config = Config(task="faces", face_crop=48)
    torch.manual_seed(0)
    checkpoint = tmp_path / "head.pt"
    torch.save(head_checkpoint(FaceHead(imagenet=False), config, BoxMap(dy=0.1)), checkpoint)
    assert main(["export", "--weights", str(checkpoint)]) == 0
    graph = tmp_path / "head.onnx"
    assert f"wrote {graph}" in capsys.readouterr().out
    from_pt = load_predictor(checkpoint, mask_weights="none")
    from_onnx = load_predictor(graph, mask_weights="none")
    assert isinstance(from_onnx.head, OnnxFaceHead)
    assert from_onnx.box_map == from_pt.box_map == BoxMap(dy=0.1)
    assert from_onnx.config.to_dict() == from_pt.config.to_dict()
    crops = torch.rand(5, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(from_onnx.head(crops), from_pt.head(crops), atol=1e-4, rtol=0)
    assert from_onnx.head(crops[:0]).shape == (0, 4)  # a photo with no face
    with pytest.raises(FileExistsError):
        export(checkpoint, "onnx")  # never overwrites
    for option in ({"fmt": "torchscript"}, {"int8": "dynamic"}, {"size": 96}):
        with pytest.raises(ValueError, match="a face head exports as it is"):
            export(checkpoint, option.pop("fmt", "onnx"), tmp_path / "other.onnx", **option)
