from pathlib import Path

import pytest

from facemask_rcnn.config import (
    Config,
    ConfigError,
    Stage,
    config_from_dict,
    load_config,
    saved_config,
)

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_validate_and_match_shipped_default_yaml():
    config = Config()
    config.validate()
    assert load_config(ROOT / "configs" / "default.yaml") == config


def test_yaml_round_trip(tmp_path):
    config = load_config(overrides=["image_size=256", "class_names=[surgical, n95]"])
    config.save(tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == config


def test_set_overrides_parse_values_as_yaml():
    config = load_config(
        overrides=[
            "image_size=256",
            "schedule=[{layers: heads, epochs: 1, lr: 0.001}]",
            "loss_weights={mrcnn_mask: 2}",
            "anchor_ratios=[1, 2]",
        ]
    )
    assert config.image_size == 256
    assert config.schedule == [Stage("heads", 1, 0.001, 0)]
    assert config.loss_weights["mrcnn_mask"] == 2.0
    assert config.loss_weights["rpn_class"] == 1.0  # the rest keep their defaults
    assert config.anchor_ratios == [1.0, 2.0] and isinstance(config.anchor_ratios[0], float)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("imagesize=256", "unknown config key(s) ['imagesize']"),
        ("image_size=big", "image_size: expected int, got 'big'"),
        ("image_size=2.5", "image_size: expected int"),
        ("schedule=[{layers: heads, epoch: 1}]", "unknown stage key(s) ['epoch']"),
        ("schedule=[{layers: heads, epochs: 0, lr: 0.1}]", "schedule[0]"),
        ("loss_weights={mask: 2}", "loss_weights: unknown ['mask']"),
        ("optimizer=adam", "optimizer: 'adam'"),
        ("finest_stride=2", "finest_stride: 2 is not 4 or 8"),
        ("fpn_norm=layer", "fpn_norm: 'layer' is not one of ['group', 'batch']"),
        ("synthetic_scenes=-1", "synthetic_scenes: -1 is negative"),
        ("roi_sampling_ratio=-1", "roi_sampling_ratio: -1 is negative"),
        ("ema_decay=1.0", "ema_decay: 1.0 is not in [0, 1)"),
        ("tile_crop=1.5", "tile_crop: 1.5 is not in [0, 1]"),
        ("repeat_threshold=-0.1", "repeat_threshold: -0.1 is not in [0, 1]"),
        ("novalue", "expected key=value"),
    ],
)
def test_bad_keys_and_types_are_clear_errors(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(overrides=[override])
    assert message in str(err.value)


def test_batch_fpn_norm_needs_a_lite_backbone():
    assert load_config(overrides=["fpn_norm=batch"]).fpn_norm == "batch"  # the default is Lite0
    with pytest.raises(ConfigError, match="fpn_norm: batch needs an efficientnet_lite backbone"):
        load_config(overrides=["fpn_norm=batch", "backbone=resnet50"])


def test_tile_crop_needs_the_strong_preset():
    assert load_config(overrides=["tile_crop=0.5"]).tile_crop == 0.5  # the default is strong
    assert load_config(overrides=["augment=strong", "tile_crop=0.5"]).tile_crop == 0.5
    with pytest.raises(ConfigError, match="needs augment: strong \\(not 'light'\\)"):
        load_config(overrides=["augment=light", "tile_crop=0.5"])


def test_seed_config_is_the_original_recipe():
    seed = load_config(ROOT / "configs" / "seed.yaml")
    assert seed.backbone == "resnet101" and seed.weights == "coco"
    assert [(s.layers, s.lr) for s in seed.schedule] == [("heads", 1e-3), ("all", 1e-5)]
    assert seed.min_confidence == 0.9


def test_display_lists_every_field_and_derived_strides():
    text = Config().display([4, 8, 16, 32, 64])
    assert text.startswith("Configurations:")
    assert "backbone_strides (derived)  [4, 8, 16, 32, 64]" in text
    for name in ("anchor_sizes", "rpn_post_nms_test", "loss_weights", "schedule", "seed"):
        assert name in text


def test_saved_configs_keep_the_behaviour_of_fields_they_predate():
    saved = Config().to_dict()
    del saved["roi_sampling_ratio"]  # written before the field (and its default 1) existed
    assert saved_config(saved).roi_sampling_ratio == 2
    assert saved_config({**saved, "roi_sampling_ratio": 1}).roi_sampling_ratio == 1
    assert config_from_dict({}).roi_sampling_ratio == Config().roi_sampling_ratio == 1
