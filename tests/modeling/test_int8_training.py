"""Int8 rounding simulated in training: the rounding itself, and a model that rounds and stops."""

import pytest
import torch
from torch import nn

from facemask_rcnn.modeling import build_model
from facemask_rcnn.modeling.int8_training import (
    QUANTISED_MODULES,
    InputRange,
    round_weight,
    simulate_int8,
    stop_simulating_int8,
)
from tests.conftest import tiny_config


def test_weights_round_per_channel_to_127_steps_of_the_largest_and_pass_gradients():
    weight = torch.tensor([[1.0, -0.5, 0.3], [0.02, 0.0, -0.01]], requires_grad=True)
    rounded = round_weight(weight)
    expected = torch.tensor([[127, -64, 38], [127, 0, -64]]) * torch.tensor(
        [[1 / 127], [0.02 / 127]]
    )
    assert torch.allclose(rounded, expected, atol=1e-7)  # -63.5 rounds to even: -64
    rounded.sum().backward()
    assert torch.equal(weight.grad, torch.ones_like(weight))  # straight through


def test_rounding_commutes_with_a_batchnorm_factor_so_unfolded_layers_round_as_folded():
    weight = torch.tensor([[0.5, -0.25, 0.1], [3.0, 1.0, -2.0]])
    scale = torch.tensor([[4.0], [-0.1]])  # a BatchNorm's per-channel factor, folded by export
    assert torch.allclose(round_weight(weight) * scale, round_weight(weight * scale), atol=1e-6)
    assert not torch.allclose(round_weight(weight), weight, atol=1e-3)


def test_input_range_starts_at_the_first_batch_moves_one_percent_and_holds_in_validation():
    seen = InputRange()
    x = torch.tensor([1.0, 2.0, 5.1])
    rounded = seen.round(x, update=True)
    assert (seen.low, seen.high) == (0.0, pytest.approx(5.1))  # zero always in range
    assert torch.allclose(rounded, torch.tensor([1.0, 2.0, 5.1]), atol=5.1 / 255 / 2 + 1e-6)
    seen.round(torch.tensor([-1.0, 15.1]), update=True)
    assert (seen.low, seen.high) == (pytest.approx(-0.01), pytest.approx(5.2))
    with torch.no_grad():  # validation losses: training mode, no gradients
        seen.round(torch.tensor([100.0]), update=True)
    assert seen.high == pytest.approx(5.2)
    clipped = seen.round(torch.tensor([9.0]), update=False)  # to the top of the grid
    assert torch.allclose(clipped, torch.tensor(5.2), atol=5.21 / 255)
    assert seen.round(torch.empty(0, 4), update=True).shape == (0, 4)  # no RoIs


def test_a_model_rounds_in_place_keeps_its_checkpoint_and_computes_in_float_once_stopped():
    torch.manual_seed(0)
    model = build_model(
        tiny_config("[{layers: all, epochs: 1, lr: 0.01}]", "fpn_norm=batch"), "none"
    )
    model.eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    image = [torch.rand(3, 96, 96)]
    with torch.no_grad():
        before = model.backbone(image[0][None])
        layers = [
            name
            for name, m in model.named_modules()
            if type(m) in (nn.Conv2d, nn.Linear) and name.startswith(QUANTISED_MODULES)
        ]
        assert simulate_int8(model) == len(layers) > 50
        rounded = model.backbone(image[0][None])
        model(image)  # the whole model runs rounded, RoI heads included
        assert model.state_dict().keys() == state.keys()
        stop_simulating_int8(model)
        after = model.backbone(image[0][None])
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    for level in before:
        assert torch.equal(before[level], after[level])
        error = (rounded[level] - before[level]).abs().mean() / before[level].abs().mean()
        assert 0 < error < 0.1
    assert not any("Rounded" in type(m).__name__ for m in model.modules())
