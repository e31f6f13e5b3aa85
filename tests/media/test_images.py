"""Sanitising (media.images): what a file is comes from its bytes; what is stored is pixels."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from PIL import Image

from media import images
from tests.media import photos


@pytest.mark.parametrize(
    ("make", "fmt"),
    [(photos.jpeg, "JPEG"), (photos.heic, "HEIF"), (photos.png, "PNG"), (photos.webp, "WEBP")],
)
def test_each_accepted_format_is_stored_as_a_clean_jpeg(make, fmt):
    clean = images.sanitise(make())
    stored = Image.open(io.BytesIO(clean.data))
    assert clean.source_format == fmt
    assert stored.format == "JPEG"
    assert stored.mode == "RGB"
    assert (stored.width, stored.height) == (64, 48)
    assert not stored.getexif()
    assert "icc_profile" not in stored.info
    assert "comment" not in stored.info
    assert "xmp" not in stored.info
    assert not photos.has_gps_block(clean.data)
    assert photos.SERIAL.encode() not in clean.data
    assert b"MAKERNOTE-SECRET" not in clean.data


def test_the_exif_rotation_is_applied_to_the_pixels():
    clean = images.sanitise(photos.jpeg(orientation=6))  # 90° clockwise
    stored = Image.open(io.BytesIO(clean.data)).convert("RGB")
    assert (clean.width, clean.height) == (48, 64)
    red, _green, blue = stored.getpixel((stored.width - 3, 3))  # the red corner: top-right
    assert red > 200
    assert blue < 60


def test_an_embedded_colour_profile_is_converted_and_not_kept():
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    photos.picture().save(out, "JPEG", icc_profile=profile, exif=photos.exif().tobytes())
    clean = images.sanitise(out.getvalue())
    stored = Image.open(io.BytesIO(clean.data))
    assert "icc_profile" not in stored.info
    assert stored.mode == "RGB"


def test_the_time_taken_comes_from_date_time_original():
    clean = images.sanitise(photos.jpeg(taken="2026:11:30 10:15:00"))
    assert clean.taken_at == dt.datetime(2026, 11, 30, 1, 15, tzinfo=dt.UTC)


@pytest.mark.parametrize("taken", ["1980:01:01 00:00:00", "2999:01:01 00:00:00", "garbage"])
def test_an_implausible_time_taken_is_not_believed(taken):
    assert images.sanitise(photos.jpeg(taken=taken)).taken_at is None


def test_the_type_comes_from_the_content_not_the_name():
    assert images.sniff(photos.png()) == "PNG"
    assert images.sniff(b"GIF89a....") is None
    assert images.sniff(b"<html><body>hi</body></html>") is None


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty"),
        (photos.gif(), "unsupported"),
        (b"%PDF-1.7 not a photo", "unsupported"),
        (photos.truncated(), "truncated"),
        (photos.bomb(), "too_large"),
        (photos.html_polyglot(), "polyglot"),
        (photos.zip_polyglot(), "polyglot"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 100, "truncated"),
    ],
    ids=["empty", "gif", "pdf", "truncated", "bomb", "html-polyglot", "zip-polyglot", "header"],
)
def test_a_bad_file_is_refused_with_its_reason(data, code):
    with pytest.raises(images.BadImage) as refused:
        images.sanitise(data)
    assert refused.value.code == code
    assert refused.value.message


def test_a_file_over_25_megabytes_is_refused_before_decoding():
    with pytest.raises(images.BadImage) as refused:
        images.sanitise(b"\xff\xd8\xff" + b"\x00" * images.MAX_BYTES)
    assert refused.value.code == "too_big"


def test_derivatives_fit_their_box():
    clean = images.sanitise(photos.jpeg(width=2000, height=1000))
    thumb = Image.open(io.BytesIO(images.derivative(clean.data, images.THUMB_SIDE)))
    display = Image.open(io.BytesIO(images.derivative(clean.data, images.DISPLAY_SIDE)))
    assert max(thumb.size) == 320
    assert max(display.size) == 1600
    assert not thumb.getexif()
