import pytest
import torch
from skimage import data

from facemask_rcnn.config import Config
from facemask_rcnn.modeling import BACKBONES, WeightsUnavailable, build_model
from facemask_rcnn.modeling.backbones import build_backbone, load_lite_imagenet
from facemask_rcnn.modeling.maskrcnn import score_floor, weight_losses
from facemask_rcnn.modeling.weights import coco_state_dict, load_weights


def _target(size=128):
    masks = torch.zeros(1, size, size, dtype=torch.uint8)
    masks[0, 30:80, 20:90] = 1
    return {
        "boxes": torch.tensor([[20.0, 30.0, 90.0, 80.0]]),
        "labels": torch.tensor([1]),
        "masks": masks,
    }


@pytest.mark.parametrize("backbone", BACKBONES)
def test_every_backbone_runs_train_and_eval_on_128px(backbone):
    torch.manual_seed(0)
    config = Config(backbone=backbone, image_size=128, fpn_channels=64)
    model = build_model(config, weights="none")
    model.train()
    losses = model([torch.rand(3, 128, 128)], [_target()])
    assert set(losses) == {
        "loss_classifier",
        "loss_box_reg",
        "loss_mask",
        "loss_objectness",
        "loss_rpn_box_reg",
    }
    assert all(torch.isfinite(v) for v in losses.values())
    model.eval()
    with torch.no_grad():
        out = model([torch.rand(3, 128, 128)])[0]
    assert set(out) == {"boxes", "labels", "scores", "masks"}
    # Stages are measured: the deepest backbone parameters sit at stride 32 (stage 5).
    assert max(model.backbone_stages.values()) == 5 and min(model.backbone_stages.values()) == 1


def test_lite0_imagenet_weights_call_chelsea_an_egyptian_cat():
    import timm

    classifier = timm.create_model("efficientnet_lite0", pretrained=False)
    load_lite_imagenet(classifier, "efficientnet_lite0")
    classifier.eval()
    image = torch.from_numpy(data.chelsea()).permute(2, 0, 1).float() / 255
    image = torch.nn.functional.interpolate(image[None], size=(224, 224), mode="bilinear")
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    with torch.no_grad():
        top = classifier((image - mean) / std).argmax().item()
    assert top == 285  # ImageNet class 285: Egyptian cat


def test_pretrained_backbone_has_frozen_batchnorm():
    backbone = build_backbone("efficientnet_lite0", 64, imagenet=True)
    kinds = {type(m).__name__ for m in backbone.body.modules()}
    assert "BatchNormAct2d" not in kinds and "FrozenBatchNormAct2d" in kinds


def test_loss_weights_scale_each_head_once():
    losses = {"loss_mask": torch.tensor(2.0), "loss_objectness": torch.tensor(1.0)}
    weighted = weight_losses(losses, {"mrcnn_mask": 3.0, "rpn_class": 0.5})
    assert weighted["loss_mask"].item() == 6.0 and weighted["loss_objectness"].item() == 0.5


def test_config_reaches_the_model():
    config = Config(
        image_size=160,
        anchor_sizes=[8, 16, 32, 64, 128],
        anchor_ratios=[1.0],
        rpn_post_nms_test=77,
        min_confidence=0.9,
        mask_size=14,
        max_detections=9,
        roi_sampling_ratio=1,
    )
    model = build_model(config, weights="none")
    assert model.rpn.anchor_generator.sizes == ((8,), (16,), (32,), (64,), (128,))
    assert model.rpn.anchor_generator.aspect_ratios[0] == (1.0,)
    assert model.rpn._post_nms_top_n["testing"] == 77
    assert model.roi_heads.score_thresh == score_floor(0.9)  # keeps a score of exactly 0.9
    assert model.roi_heads.detections_per_img == 9
    assert model.roi_heads.mask_roi_pool.output_size == (7, 7)
    assert model.roi_heads.box_roi_pool.sampling_ratio == 1
    assert model.roi_heads.mask_roi_pool.sampling_ratio == 1
    assert model.transform.min_size == (160,) and model.transform.max_size == 160


def test_anchor_count_must_match_levels():
    with pytest.raises(ValueError, match="5 FPN levels"):
        build_model(Config(anchor_sizes=[32, 64]), weights="none")


def test_three_class_checkpoint_loads_into_five_class_model_with_predictors_skipped(tmp_path):
    small = build_model(Config(class_names=["a", "b", "c"], image_size=128), weights="none")
    torch.save({"model": small.state_dict(), "class_names": ["a", "b", "c"]}, tmp_path / "c.pt")
    big = build_model(Config(class_names=list("abcde"), image_size=128), weights="none")
    skipped = load_weights(big, str(tmp_path / "c.pt"))
    assert skipped == [
        "roi_heads.box_predictor.bbox_pred.bias",
        "roi_heads.box_predictor.bbox_pred.weight",
        "roi_heads.box_predictor.cls_score.bias",
        "roi_heads.box_predictor.cls_score.weight",
        "roi_heads.mask_predictor.mask_fcn_logits.bias",
        "roi_heads.mask_predictor.mask_fcn_logits.weight",
    ]
    name = "backbone.fpn.layer_blocks.0.0.weight"
    assert torch.equal(big.state_dict()[name], small.state_dict()[name])


def test_weights_last_finds_newest_run(tmp_path, monkeypatch):
    import os

    monkeypatch.chdir(tmp_path)
    model = build_model(Config(image_size=128), weights="none")
    with pytest.raises(FileNotFoundError, match="no last.pt"):
        load_weights(model, "last")
    states = {}
    for name, stamp, value in (("b-old", 1_000, 1.0), ("a-new", 2_000, 2.0)):  # newer, not later
        (tmp_path / "runs" / name).mkdir(parents=True)
        states[name] = {k: torch.full_like(v, value) for k, v in model.state_dict().items()}
        torch.save({"model": states[name]}, tmp_path / "runs" / name / "last.pt")
        os.utime(tmp_path / "runs" / name / "last.pt", (stamp, stamp))
    assert load_weights(model, "last") == []
    head = "roi_heads.box_predictor.cls_score.weight"
    assert torch.equal(model.state_dict()[head], states["a-new"][head])


def test_coco_weights_offline_give_a_one_line_error(monkeypatch):
    from urllib.error import URLError

    import torchvision.models._api as api

    def offline(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(api, "load_state_dict_from_url", offline)  # offline, even when online
    with pytest.raises(WeightsUnavailable) as err:
        coco_state_dict()
    message = str(err.value)
    assert "\n" not in message and "--weights PATH/maskrcnn_resnet50_fpn_coco" in message
    assert message.startswith("cannot download COCO weights (URLError")


@pytest.mark.parametrize("backbone", ["efficientnet_lite0", "resnet50"])
def test_finest_stride_8_trades_the_stride_4_level_for_a_coarser_one(backbone):
    from facemask_rcnn.modeling.backbones import backbone_strides

    fine = build_backbone(backbone, 32, imagenet=False)
    coarse = build_backbone(backbone, 32, imagenet=False, finest_stride=8)
    assert backbone_strides(fine) == [4, 8, 16, 32, 64]
    assert backbone_strides(coarse) == [8, 16, 32, 64, 128]
    assert fine.roi_levels == ["0", "1", "2", "3"] and coarse.roi_levels == ["0", "1", "2"]
    model = build_model(Config(backbone=backbone, image_size=128, finest_stride=8), "none")
    model.eval()
    with torch.no_grad():
        assert set(model([torch.rand(3, 128, 128)])[0]) == {"boxes", "labels", "scores", "masks"}


def _parameter_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("backbone", ["efficientnet_lite0", "resnet50"])
def test_separable_convs_keep_the_levels_and_shrink_the_3x3_convolutions(backbone):
    torch.manual_seed(0)
    full = build_model(
        Config(backbone=backbone, image_size=128, fpn_channels=64, separable_convs=False), "none"
    )
    light = build_model(
        Config(backbone=backbone, image_size=128, fpn_channels=64, separable_convs=True), "none"
    )
    image = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        full_levels = full.eval().backbone(image)
        light_levels = light.eval().backbone(image)
    assert {k: v.shape for k, v in full_levels.items()} == {
        k: v.shape for k, v in light_levels.items()
    }
    heads = [*light.backbone.fpn.modules(), *light.rpn.modules()]
    depthwise = [m for m in heads if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert len(depthwise) == 4 + 1  # one per body FPN level, one shared by the RPN
    assert all(m.groups == m.in_channels == 64 and m.kernel_size == (3, 3) for m in depthwise)
    # 3x3 full: 64*64*9 + 64 weights each; separable: 64*9 + 64*64 + 64 (about a seventh)
    for part in ("backbone.fpn.layer_blocks", "rpn.head.conv"):
        ratio = _parameter_count(light.get_submodule(part)) / _parameter_count(
            full.get_submodule(part)
        )
        assert ratio < 0.2, part
    light.train()
    losses = light([torch.rand(3, 128, 128)], [_target()])
    assert all(torch.isfinite(v) for v in losses.values())


@pytest.mark.parametrize(
    ("backbone", "fpn_norm"),
    [
        ("efficientnet_lite0", "group"),
        ("efficientnet_lite0", "batch"),
        ("mobilenet_v3_large", "group"),
        ("resnet50", "group"),
    ],
)
def test_folding_batchnorm_keeps_the_outputs(backbone, fpn_norm):
    from facemask_rcnn.modeling.fold import fold_batchnorm

    torch.manual_seed(0)
    config = Config(backbone=backbone, image_size=96, fpn_channels=32, fpn_norm=fpn_norm)
    model = build_model(config, "none")
    for module in model.modules():  # statistics far from the identity, so a wrong fold shows
        if hasattr(module, "running_var") and module.running_var is not None:
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    model.eval()
    image = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        before = model.backbone(image)
        norms = sum(hasattr(m, "running_var") for m in model.modules())
        assert fold_batchnorm(model) == norms > 0  # every BatchNorm follows a convolution
        after = model.backbone(image)
    assert not any(hasattr(m, "running_var") for m in model.modules())
    fpn_norms = [m for m in model.backbone.fpn.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert len(fpn_norms) == (8 if fpn_norm == "group" and backbone == "efficientnet_lite0" else 0)
    for key in before:  # float32 rounding through ~50 layers; a wrong fold is off by O(1)
        scale = before[key].abs().max().item()
        torch.testing.assert_close(after[key], before[key], rtol=1e-3, atol=1e-4 * scale)


def test_folding_leaves_batchnorm_without_running_statistics_alone():
    from facemask_rcnn.modeling.fold import fold_batchnorm

    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4, track_running_stats=False)
    )
    assert fold_batchnorm(model) == 0
    assert isinstance(model[1], torch.nn.BatchNorm2d)


@pytest.mark.parametrize("threshold", [0.05, 0.5, 0.7300000190734863, 1.0])
def test_score_floor_keeps_a_score_equal_to_the_threshold(threshold):
    scores = torch.tensor([threshold, threshold], dtype=torch.float32)
    scores[1] = torch.nextafter(scores[0], torch.tensor(0.0))  # the float32 just below
    kept = scores > score_floor(threshold)  # torchvision's RoIHeads rule
    assert kept.tolist() == [True, False]
