"""Int8 rounding simulated while training (quantisation-aware fine-tuning).

The static int8 export (``export --int8 static``) rounds every convolution and fully connected
layer of the network to int8: weights per output channel (symmetric, after BatchNorm is folded
in), layer inputs per tensor (unsigned, over a calibrated range). A few layers can be sensitive
to that rounding (EfficientNet-Lite's first depthwise convolution holds edge filters of large
weights that nearly cancel). Training a while with the rounding in the forward pass, gradients
passed straight through it, lets the weights settle where rounding costs little (on the models
measured here it did not: benchmarks/RESULTS.md, int8-fine-tuning study). The mask predictor's
transposed convolution is left unrounded. The layers keep their parameters and names, so
checkpoints are unchanged and export as any other; input ranges start afresh on resuming.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Module prefixes of the layers the static int8 export quantises (export.quantise.NETWORK_SCOPES)
QUANTISED_MODULES = (
    "backbone.",
    "rpn.head.",
    "roi_heads.box_head.",
    "roi_heads.box_predictor.",
    "roi_heads.mask_head.",
    "roi_heads.mask_predictor.",
)
RANGE_MOMENTUM = 0.01  # each batch's share of a layer input's running range


def round_weight(weight: torch.Tensor) -> torch.Tensor:
    """``weight`` through int8 per output channel (dimension 0), symmetric, 127 steps of the
    channel's largest magnitude, as the export's; gradients pass straight through. Scaling a
    channel scales its steps alike, so a BatchNorm after the layer needs no folding first."""
    step = weight.detach().abs().flatten(1).amax(dim=1).float().div(127).clamp_min(1e-12)
    zero = torch.zeros_like(step, dtype=torch.int32)
    return torch.fake_quantize_per_channel_affine(weight, step, zero, 0, -127, 127)


class InputRange:
    """A layer input's running minimum and maximum (zero included), as calibration sees them."""

    def __init__(self) -> None:
        self.low: float | None = None
        self.high = 0.0

    def round(self, x: torch.Tensor, update: bool) -> torch.Tensor:
        """``x`` through uint8 over the range, first updated from ``x`` when ``update`` and
        gradients are on (training steps, not validation losses)."""
        if x.numel() == 0:  # no RoIs: nothing to round, nothing to learn of the range
            return x
        if (update and torch.is_grad_enabled()) or self.low is None:
            low, high = (float(v) for v in torch.aminmax(x.detach()))  # one pass over x
            low, high = min(0.0, low), max(0.0, high)
            if self.low is None:
                self.low, self.high = low, high
            else:
                self.low += RANGE_MOMENTUM * (low - self.low)
                self.high += RANGE_MOMENTUM * (high - self.high)
        step = max(self.high - self.low, 1e-8) / 255
        zero = int(min(255, max(0, round(-self.low / step))))
        return torch.fake_quantize_per_tensor_affine(x, step, zero, 0, 255)


class _RoundedConv2d(nn.Conv2d):
    """A Conv2d that rounds its input and weight to int8 (``simulate_int8`` swaps the class)."""

    int8_input: InputRange

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.int8_input.round(x, self.training)
        return self._conv_forward(x, round_weight(self.weight), self.bias)


class _RoundedLinear(nn.Linear):
    """A Linear that rounds its input and weight to int8 (``simulate_int8`` swaps the class)."""

    int8_input: InputRange

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.int8_input.round(x, self.training)
        return F.linear(x, round_weight(self.weight), self.bias)


ROUNDED = {nn.Conv2d: _RoundedConv2d, nn.Linear: _RoundedLinear}


def simulate_int8(model: nn.Module) -> int:
    """Round the quantised layers' inputs and weights to int8 in ``model``'s forward, in place;
    returns how many layers. Train it with BatchNorm in eval mode, as the export folds it. A copy
    of the model (a weight average) rounds too."""
    count = 0
    for name, module in model.named_modules():
        rounded = ROUNDED.get(type(module))
        if rounded is None or not name.startswith(QUANTISED_MODULES):
            continue
        module.int8_input = InputRange()
        module.__class__ = rounded
        count += 1
    return count


def stop_simulating_int8(model: nn.Module) -> None:
    """Undo ``simulate_int8``: the layers compute in float again."""
    plain = {rounded: layer for layer, rounded in ROUNDED.items()}
    for module in model.modules():
        if type(module) in plain:
            module.__class__ = plain[type(module)]
            del module.int8_input
