"""Named augmentation presets on ``torchvision.transforms.v2`` (boxes and masks move together).

Besides the geometric and photometric transforms, mask-aware ones teach the model that a
face mask is a shape on a face, not a light-blue patch: ``Recolour`` repaints each mask region
(dark, white, grey, saturated, striped or printed) keeping its shading, ``Occlude`` covers part
of a mask with a hand- or object-like blob and removes those pixels from the instance, and
``FrameInstance`` crops tightly around one mask as a portrait or a face crop does, often
cutting it at the border, and ``TileCrop`` enlarges a window around a small mask as tiled
inference (``predict --tile``) does in crowd photos.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

PRESETS = ("none", "light", "strong")


def _rand(low: float, high: float) -> float:
    return float(torch.empty(1).uniform_(low, high))


def looks_like_skin(rgb: torch.Tensor) -> bool:
    """The explicit RGB skin rule of Kovac et al. (2003), daylight: red leads, clearly."""
    r, g, b = (float(v) for v in rgb)
    return r > 95 and g > 40 and b > 20 and r - min(g, b) > 15 and r - g > 15 and r > b


class Recolour:
    """With probability ``p`` per instance, repaint the mask pixels with a new colour or pattern.

    The new colour is multiplied by the region's own normalised luminance, so folds, pleats and
    shadows stay visible: dark, white, grey, saturated, striped and printed masks from one
    light-blue one.
    """

    def __init__(self, p: float = 0.5, skin: bool = True) -> None:
        self.p, self.skin = p, skin

    def __call__(self, image: torch.Tensor, target: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        masks = target["masks"]
        if len(masks) == 0:
            return image, target
        out = image.clone().float()
        luminance = out.mean(dim=0)
        for mask in masks.bool():
            if not mask.any() or _rand(0, 1) >= self.p:
                continue
            shade = luminance / luminance[mask].mean().clamp(min=1.0)
            colour = self._colour()
            paint = colour[:, None, None] * shade.clamp(0.3, 1.6)[None]
            if _rand(0, 1) < 0.4:  # stripes or a multi-colour print
                paint = self._pattern(paint, shade)
            out[:, mask] = paint[:, mask].clamp(0, 255)
        return tv_tensors.wrap(out.to(image.dtype), like=image), target

    def _colour(self) -> torch.Tensor:
        """A mask colour; with ``skin`` False, never one that ``looks_like_skin``."""
        kind = _rand(0, 1)
        if kind < 0.25:  # dark: black / navy cloth
            return torch.full((3,), _rand(15, 60)) + torch.empty(3).uniform_(-10, 10)
        if kind < 0.5:  # white / grey: KN95, N95
            return torch.full((3,), _rand(120, 245)) + torch.empty(3).uniform_(-8, 8)
        colour = torch.empty(3).uniform_(0, 255)  # any colour
        while not self.skin and looks_like_skin(colour):
            colour = torch.empty(3).uniform_(0, 255)
        return colour

    def _pattern(self, paint: torch.Tensor, shade: torch.Tensor) -> torch.Tensor:
        """Stripes in a second colour, or a print of two to four colours; shading kept."""
        make = self.stripes if _rand(0, 1) < 0.5 else self.blotches
        return make(paint, shade.clamp(0.3, 1.6))

    def stripes(self, paint: torch.Tensor, shade: torch.Tensor) -> torch.Tensor:
        """``paint`` with every other band of a random period and angle in a second colour."""
        height, width = shade.shape
        ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
        period = max(3.0, _rand(0.03, 0.12) * max(height, width))
        angle = _rand(0, math.pi)
        wave = torch.sin((xs * math.cos(angle) + ys * math.sin(angle)) * 2 * math.pi / period)
        return torch.where(wave[None] > 0, paint, self._colour()[:, None, None] * shade[None])

    def blotches(self, paint: torch.Tensor, shade: torch.Tensor) -> torch.Tensor:
        """Blotches like camouflage or florals: a smooth random field cut into equal-area bands.

        The first band keeps ``paint``; each other band gets its own colour times ``shade``.
        """
        height, width = shade.shape
        cells = int(torch.randint(3, 16, (1,)))
        field = torch.rand(1, 1, cells, cells)
        field = torch.nn.functional.interpolate(field, size=(height, width), mode="bicubic")[0, 0]
        colours = int(torch.randint(2, 5, (1,)))
        band = torch.bucketize(
            field, torch.quantile(field, torch.linspace(0, 1, colours + 1)[1:-1])
        )
        palette = torch.stack([self._colour() for _ in range(colours)])
        printed = palette[band].permute(2, 0, 1) * shade[None]
        return torch.where(band[None] == 0, paint, printed)


class Occlude:
    """With probability ``p``, cover part of one mask with a skin- or object-coloured ellipse.

    The covered pixels leave the instance mask, as an annotator would trace around a hand.
    """

    def __init__(self, p: float = 0.3) -> None:
        self.p = p

    def __call__(self, image: torch.Tensor, target: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        masks = target["masks"]
        if len(masks) == 0 or _rand(0, 1) >= self.p:
            return image, target
        k = int(torch.randint(len(masks), (1,)))
        ys, xs = torch.nonzero(masks[k], as_tuple=True)
        if len(ys) < 20:
            return image, target
        y0, y1, x0, x1 = ys.min(), ys.max(), xs.min(), xs.max()
        cy = _rand(float(y0), float(y1))
        cx = float(x0) if _rand(0, 1) < 0.5 else float(x1)  # come in from a side, like a hand
        ry, rx = _rand(0.2, 0.5) * float(y1 - y0 + 1), _rand(0.2, 0.45) * float(x1 - x0 + 1)
        grid_y, grid_x = torch.meshgrid(
            torch.arange(image.shape[-2]), torch.arange(image.shape[-1]), indexing="ij"
        )
        blob = ((grid_y - cy) / ry) ** 2 + ((grid_x - cx) / rx) ** 2 <= 1
        skin = torch.tensor([_rand(90, 255), _rand(60, 200), _rand(40, 170)])
        colour = skin if _rand(0, 1) < 0.6 else torch.empty(3).uniform_(0, 255)
        out = image.clone()
        out[:, blob] = colour.to(image.dtype)[:, None]
        new_masks = masks.clone()
        new_masks[:, blob] = 0
        target = {**target, "masks": tv_tensors.wrap(new_masks, like=masks)}
        return tv_tensors.wrap(out, like=image), target


class FrameInstance:
    """With probability ``p``, crop tightly around one instance; otherwise apply ``otherwise``.

    Real face crops and portraits frame the mask large (about 40 % of the picture) with the eyes
    above it and its edges often cut by the border; random crops of full-head photos rarely do.
    Margins are drawn per side as a share of the mask's box (negative: the border cuts the mask),
    and the crop is resized so its longer side is ``size``. Only instances marked
    ``outlined`` in the target (all, if it has no such key) are chosen: never a shape prior.
    """

    # (low, high) margin per side, in units of the box's width or height
    MARGINS = {
        "left": (-0.15, 0.35),
        "right": (-0.15, 0.35),
        "top": (0.1, 1.2),
        "bottom": (-0.2, 0.3),
    }

    def __init__(self, size: int, otherwise: Callable[..., Any], p: float = 0.35) -> None:
        self.size, self.otherwise, self.p = size, otherwise, p

    def window(self, box: tuple[int, int, int, int], height: int, width: int) -> tuple[int, ...]:
        """Crop (top, left, height, width) around ``box`` (x0, y0, x1, y1), inside the image."""
        x0, y0, x1, y1 = box
        w, h = x1 - x0, y1 - y0
        m = {side: _rand(*limits) for side, limits in self.MARGINS.items()}
        left = max(0, round(x0 - m["left"] * w))
        right = min(width, round(x1 + m["right"] * w))
        top = max(0, round(y0 - m["top"] * h))
        bottom = min(height, round(y1 + m["bottom"] * h))
        return top, left, max(1, bottom - top), max(1, right - left)

    def __call__(self, image: torch.Tensor, target: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        masks = target["masks"]
        outlined = target.get("outlined")
        choices = torch.arange(len(masks)) if outlined is None else torch.nonzero(outlined)[:, 0]
        if len(choices) == 0 or _rand(0, 1) >= self.p:
            return self.otherwise(image, target)
        k = int(choices[int(torch.randint(len(choices), (1,)))])
        ys, xs = torch.nonzero(masks[k], as_tuple=True)
        if len(ys) == 0:
            return self.otherwise(image, target)
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        top, left, height, width = self.window(box, *image.shape[-2:])
        scale = self.size / max(height, width)
        size = [max(1, round(height * scale)), max(1, round(width * scale))]
        crop = (top, left, height, width, size)
        image = v2.functional.resized_crop(image, *crop, antialias=True)
        target = {
            **target,
            "masks": v2.functional.resized_crop(masks, *crop),
            "boxes": v2.functional.resized_crop(target["boxes"], *crop),
        }
        return image, target


class TileCrop:
    """With probability ``p``, when the image has instances (masks)
    narrower than ``small`` pixels, enlarge a square window around one of them to ``size``;
    otherwise apply ``otherwise``.

    Tiled inference sees a crowd's 10-30 px faces enlarged 3-5x, blurred, with their neighbours
    (bare faces too) around them; whole-image crops never show them so. The window's side is
    drawn from ``sides`` (pixels at training size: 96-pixel tiles of a 400-pixel photo are
    about 92 here) and placed at random so that the chosen mask lies inside it. Shape priors
    may be chosen too: a window enlarges them only as much as a tile does at inference.
    """

    def __init__(
        self,
        size: int,
        otherwise: Callable[..., Any],
        p: float = 0.5,
        small: float = 32.0,
        sides: tuple[float, float] = (64.0, 160.0),
    ) -> None:
        self.size, self.otherwise, self.p, self.small, self.sides = size, otherwise, p, small, sides

    def __call__(self, image: torch.Tensor, target: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        masks, boxes = target["masks"], target["boxes"]
        small = torch.nonzero(boxes[:, 2] - boxes[:, 0] < self.small)[:, 0]
        if len(small) == 0 or _rand(0, 1) >= self.p:
            return self.otherwise(image, target)
        x0, y0, x1, y1 = boxes[int(small[int(torch.randint(len(small), (1,)))])].tolist()
        height, width = image.shape[-2:]
        side = min(round(_rand(*self.sides)), height, width)
        crop = (_start(y0, y1, side, height), _start(x0, x1, side, width), side, side)
        crop = (*crop, [self.size, self.size])
        image = v2.functional.resized_crop(image, *crop, antialias=True)
        target = {
            **target,
            "masks": v2.functional.resized_crop(masks, *crop),
            "boxes": v2.functional.resized_crop(target["boxes"], *crop),
        }
        return image, target


def _start(low: float, high: float, side: int, length: int) -> int:
    """Random start of a ``side``-long window in ``[0, length]`` that covers ``[low, high]``
    (its start, when the span is longer than the window)."""
    last = max(0.0, min(low, length - side))
    return round(_rand(min(max(0.0, high - side), last), last))


class CopyPaste:
    """With probability ``p``, paste one instance cut from another image (``source()``) here.

    The pasted pixels are rescaled, placed at random and occlude the masks they cover, which
    teaches overlaps and gives each image more (and differently framed) instances.
    """

    def __init__(self, source: Callable[[], tuple[Any, Any, Any]], p: float = 0.3) -> None:
        self.source, self.p = source, p

    def __call__(self, image: torch.Tensor, target: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        if _rand(0, 1) >= self.p:
            return image, target
        src_image, src_masks, src_labels = self.source()
        if len(src_masks) == 0:
            return image, target
        k = int(torch.randint(len(src_masks), (1,)))
        mask = torch.as_tensor(src_masks[k]).bool()
        ys, xs = torch.nonzero(mask, as_tuple=True)
        if len(ys) < 16:
            return image, target
        y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
        patch = torch.as_tensor(src_image).permute(2, 0, 1)[:, y0:y1, x0:x1]
        patch_mask = mask[y0:y1, x0:x1]
        height, width = image.shape[-2:]
        scale = min(_rand(0.5, 1.3), 0.9 * height / patch.shape[1], 0.9 * width / patch.shape[2])
        size = [max(4, round(patch.shape[1] * scale)), max(4, round(patch.shape[2] * scale))]
        patch = v2.functional.resize(patch, size, antialias=True)
        patch_mask = v2.functional.resize(patch_mask[None].to(torch.uint8), size)[0].bool()
        top = int(torch.randint(height - size[0] + 1, (1,)))
        left = int(torch.randint(width - size[1] + 1, (1,)))
        pasted = torch.zeros((height, width), dtype=torch.bool)
        pasted[top : top + size[0], left : left + size[1]] = patch_mask
        out = image.clone()
        region = out[:, top : top + size[0], left : left + size[1]]
        region[:, patch_mask] = patch[:, patch_mask].to(image.dtype)
        masks = target["masks"].clone()
        masks[:, pasted] = 0
        masks = torch.cat([masks, pasted[None].to(masks.dtype)])
        labels = torch.cat([target["labels"], torch.as_tensor([int(src_labels[k])])])
        box = torch.tensor([[left, top, left + size[1], top + size[0]]], dtype=torch.float32)
        boxes = tv_tensors.wrap(torch.cat([target["boxes"], box]), like=target["boxes"])
        target = {**target, "masks": tv_tensors.Mask(masks), "labels": labels, "boxes": boxes}
        for key in ("outlined", "has_mask", "tight"):  # a pasted mask is a whole outline
            if key in target:
                target[key] = torch.cat([target[key], torch.ones(1, dtype=torch.bool)])
        return tv_tensors.wrap(out, like=image), target


class Noise:
    """Gaussian pixel noise with a random strength (sensor noise, low light)."""

    def __init__(self, p: float = 0.3, sigma: float = 12.0) -> None:
        self.p, self.sigma = p, sigma

    def __call__(self, image: torch.Tensor, target: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        if _rand(0, 1) >= self.p:
            return image, target
        noisy = image.float() + torch.randn(image.shape) * _rand(0, self.sigma)
        return tv_tensors.wrap(noisy.clamp(0, 255).to(image.dtype), like=image), target


def build_transforms(
    preset: str,
    image_size: int,
    source: Callable[[], tuple[Any, Any, Any]] | None = None,
    tile_crop: float = 0.0,
) -> Callable[..., Any] | None:
    """The named preset as one callable on (uint8 image, target); None for ``none``.

    ``source`` returns a random other sample (HWC image, masks, labels) for copy-paste;
    ``tile_crop`` is ``TileCrop``'s probability in the strong preset (0: left out).
    """
    if preset == "none":
        return None
    if preset == "light":
        return v2.Compose(
            [
                v2.RandomHorizontalFlip(),
                v2.RandomApply([v2.RandomAffine(degrees=8, scale=(0.85, 1.15))], p=0.5),
                v2.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.15),
            ]
        )
    if preset == "strong":
        return _varied(image_size, source, tile_crop)
    raise ValueError(f"unknown augmentation preset {preset!r}; choose from {list(PRESETS)}")


def _varied(
    image_size: int,
    source: Callable[[], tuple[Any, Any, Any]] | None,
    tile_crop: float,
) -> Callable[..., Any]:
    """The strong preset: any mask colour, any hue, framing, occluders, zoom, blur and noise."""
    crop: Callable[..., Any] = FrameInstance(
        image_size,
        otherwise=v2.RandomResizedCrop(
            image_size, scale=(0.25, 1.0), ratio=(0.75, 1.33), antialias=True
        ),
    )
    if tile_crop > 0:
        crop = TileCrop(image_size, otherwise=crop, p=tile_crop)
    return v2.Compose(
        [
            v2.RandomHorizontalFlip(),
            *([CopyPaste(source, p=0.3)] if source else []),
            Recolour(p=0.6),
            Occlude(p=0.25),
            v2.RandomApply(
                # grey padding for the image only: masks must stay 0/1
                [
                    v2.RandomZoomOut(
                        fill={tv_tensors.Image: 114, "others": 0}, side_range=(1.0, 2.5)
                    )
                ],
                p=0.25,
            ),
            crop,
            v2.RandomApply([v2.RandomRotation(15)], p=0.4),
            v2.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.5, hue=0.5),
            v2.RandomGrayscale(p=0.05),
            v2.RandomApply([v2.GaussianBlur(5, sigma=(0.1, 2.0))], p=0.3),
            Noise(p=0.3),
        ]
    )
