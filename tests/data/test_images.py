"""The one image reader: EXIF orientation everywhere (training, evaluation, CLI, server), every
Pillow mode, the pixel limit checked before decoding, one-line errors."""

import io
import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from facemask_rcnn.config import Config
from facemask_rcnn.data import MaskDataset, load_records
from facemask_rcnn.data.images import ImageError, image_size, read_image
from facemask_rcnn.inference import Predictor, predict_to_folder
from tests.conftest import BrightEngine

# Displayed (upright) image: 60 x 40, a white rectangle at x 10-30, y 5-20, black elsewhere.
WIDTH, HEIGHT, RECT = 60, 40, (10, 5, 30, 20)
# Stored pixels for each EXIF orientation: the inverse of what exif_transpose applies.
TO_STORED = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def upright() -> Image.Image:
    pixels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    x0, y0, x1, y1 = RECT
    pixels[y0:y1, x0:x1] = 255
    return Image.fromarray(pixels)


def phone_photo(path, orientation: int):
    """A JPEG whose stored pixels, turned by its EXIF orientation, show ``upright()``."""
    image = upright()
    if TO_STORED[orientation] is not None:
        image = image.transpose(TO_STORED[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(path, quality=100, subsampling=0, exif=exif.tobytes())
    return path


def expected_mask() -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), bool)
    x0, y0, x1, y1 = RECT
    mask[y0:y1, x0:x1] = True
    return mask


@pytest.mark.parametrize("orientation", range(1, 9))
def test_phone_photo_masks_land_on_the_same_pixels_everywhere(tmp_path, orientation):
    folder = tmp_path / "data"
    folder.mkdir()
    photo = phone_photo(folder / "phone.jpg", orientation)
    assert image_size(photo) == (WIDTH, HEIGHT)
    bright = np.asarray(read_image(photo)).min(axis=2) > 127
    assert (bright == expected_mask()).mean() > 0.99
    # A polygon drawn in VIA (a browser shows the photo upright) on the rectangle.
    x0, y0, x1, y1 = RECT
    region = {"name": "polygon", "all_points_x": [x0, x1, x1, x0], "all_points_y": [y0, y0, y1, y1]}
    entry = {"filename": "phone.jpg", "regions": [{"shape_attributes": region}]}
    (folder / "via_region_data.json").write_text(json.dumps({"k": entry}))
    records, problems = load_records(folder)
    assert not problems and (records[0].width, records[0].height) == (WIDTH, HEIGHT)
    # Evaluation's ground truth and training's sample: the polygon's pixels are the bright ones.
    assert (records[0].masks()[0] == expected_mask()).all()
    image, target = MaskDataset(records, ["face_mask"])[0]
    assert (target["masks"][0].numpy().astype(bool) == expected_mask()).all()
    assert (image.min(dim=0).values.numpy() > 0.5).tolist() == bright.tolist()
    # Prediction (the CLI's folder writer) sees the upright photo too.
    predictor = Predictor(BrightEngine(), Config(), min_score=0.5)
    out = predict_to_folder(predictor, [str(photo)], tmp_path / "pred")
    entries = json.loads((out.folder / "predictions.json").read_text())
    assert [e["bbox"] for e in entries] == [[x0, y0, x1 - x0, y1 - y0]]


def test_server_reads_phone_photos_as_the_cli_does(tmp_path):
    from fastapi.testclient import TestClient

    from facemask_rcnn.serve import create_app

    app = create_app(Predictor(BrightEngine(), Config(), min_score=0.5), results=tmp_path / "r")
    x0, y0, x1, y1 = RECT
    with TestClient(app) as client:
        for orientation in (3, 6, 8):
            photo = phone_photo(tmp_path / f"o{orientation}.jpg", orientation).read_bytes()
            body = client.post("/predict", files={"file": ("p.jpg", photo)}).json()
            assert (body["width"], body["height"]) == (WIDTH, HEIGHT)
            assert [i["bbox"] for i in body["instances"]] == [[x0, y0, x1 - x0, y1 - y0]]


def _saved(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def test_every_mode_becomes_the_rgb_a_person_sees():
    grey16 = np.zeros((8, 8), np.uint16)
    grey16[:, 4:] = 65535
    grey16[:, 2:4] = 32768
    rgb = np.asarray(read_image(_saved(Image.fromarray(grey16), "PNG")))
    assert rgb.shape == (8, 8, 3)
    assert rgb[0, 0].tolist() == [0, 0, 0] and rgb[0, 5].tolist() == [255, 255, 255]
    assert rgb[0, 2].tolist() == [128, 128, 128]  # half the 16-bit range is mid-grey
    transparent = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    transparent.putpixel((0, 0), (0, 0, 255, 255))
    flat = np.asarray(read_image(_saved(transparent, "PNG")))
    assert flat[0, 0].tolist() == [0, 0, 255] and flat[3, 3].tolist() == [255, 255, 255]
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    palette.info["transparency"] = 0
    assert np.asarray(read_image(_saved(palette, "PNG")))[0, 0].tolist() == [10, 200, 30]
    cmyk = Image.new("CMYK", (4, 4), (0, 255, 255, 0))  # red in print colours
    red = np.asarray(read_image(_saved(cmyk, "JPEG", quality=100)))[1, 1]
    assert red[0] > 200 and red[1] < 60 and red[2] < 60
    gif = np.asarray(read_image(_saved(Image.new("RGB", (5, 3), (0, 255, 0)), "GIF")))
    assert gif.shape == (3, 5, 3) and gif[0, 0].tolist() == [0, 255, 0]
    tiff = read_image(_saved(Image.fromarray(np.full((2, 2), 0.5, np.float32)), "TIFF"))
    assert np.asarray(tiff)[0, 0].tolist() == [128, 128, 128]


def png_bomb(width: int = 40000, height: int = 40000) -> bytes:
    """A few-byte PNG declaring ``width`` x ``height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def test_pixel_limit_is_checked_before_decoding(tmp_path):
    bomb, big = tmp_path / "bomb.png", tmp_path / "big.png"
    bomb.write_bytes(png_bomb())  # over Pillow's own bomb limit
    big.write_bytes(png_bomb(12000, 10000))  # under Pillow's, over ours
    for path in (bomb, big):
        for read in (read_image, image_size):
            with pytest.raises(ImageError) as caught:
                read(path)
            assert caught.value.kind == "too_large" and "\n" not in str(caught.value)
            assert str(caught.value).startswith(f"{path}: ")
            assert "over the 100000000 pixel limit" in str(caught.value)
    assert image_size(big, max_pixels=200_000_000) == (12000, 10000)  # from the header alone


@pytest.mark.parametrize(
    ("content", "kind", "message"),
    [
        (None, "missing", "image file is missing"),
        (b"just text", "unsupported", "not an image Pillow can read"),
        ("cut", "corrupt", "truncated or corrupt image"),
        ("folder", "unsupported", "is a folder"),
    ],
)
def test_unreadable_inputs_are_one_line_naming_the_file(tmp_path, content, kind, message):
    path = tmp_path / "x.jpg"
    if content == "cut":
        path.write_bytes(_saved(upright(), "JPEG")[:300])
    elif content == "folder":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageError) as caught:
        read_image(path)
    error = caught.value
    assert error.kind == kind and str(error).startswith(f"{path}: {message}")
    assert "\n" not in str(error)


def test_a_batch_goes_on_past_every_bad_input(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    upright().save(folder / "a.jpg")
    upright().save(folder / "b.gif")
    (folder / "bomb.png").write_bytes(png_bomb())
    (folder / "notes.txt").write_text("hello")
    (folder / "fake.jpg").write_bytes(b"not a photo")
    (folder / "more").mkdir()
    predictor = Predictor(BrightEngine(), Config(), min_score=0.5)
    out = predict_to_folder(predictor, [str(folder), str(tmp_path / "missing.jpg")], tmp_path / "p")
    summary = json.loads((out.folder / "summary.json").read_text())
    assert [s["file_name"].rsplit("/", 1)[-1] for s in summary["images"]] == ["a.jpg", "b.gif"]
    reasons = {s["input"].rsplit("/", 1)[-1]: s["reason"] for s in summary["skipped"]}
    assert set(reasons) == {"bomb.png", "notes.txt", "fake.jpg", "more", "missing.jpg"}
    assert reasons["bomb.png"].startswith("over the 100000000 pixel limit")
    assert reasons["missing.jpg"] == "image file is missing"
    assert len(out.errors) == 5 and all("\n" not in e for e in out.errors)
