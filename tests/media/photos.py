"""Photos made in the tests, never downloaded: JPEG, PNG, WebP and HEIC (pillow-heif writes
it) with GPS coordinates, a camera serial, a maker note, XMP, a comment and a rotation in
their metadata, and the hostile files the intake must refuse."""

from __future__ import annotations

import io
import struct

import pillow_heif
from PIL import Image

pillow_heif.register_heif_opener()

GPS_IFD = 0x8825
EXIF_IFD = 0x8769
SERIAL = "SN-KIZUNA-0042"
GPS = {1: "N", 2: (35.0, 40.0, 12.5), 3: "E", 4: (139.0, 45.0, 3.0)}
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'


def exif(*, orientation: int = 1, taken: str | None = "2026:11:30 10:15:00") -> Image.Exif:
    data = Image.Exif()
    data[0x0112] = orientation
    data[0x010F] = "KizunaCam"  # make
    data[0xA431 if False else 0x0131] = "KizunaCam firmware 1.0"  # software
    data[GPS_IFD] = GPS
    ifd = data.get_ifd(EXIF_IFD)
    ifd[0xA431] = SERIAL  # BodySerialNumber
    ifd[0x927C] = b"MAKERNOTE-SECRET"  # MakerNote
    if taken:
        ifd[0x9003] = taken
    return data


def picture(width: int = 64, height: int = 48) -> Image.Image:
    """A picture whose top-left is red and the rest blue: its orientation can be read back."""
    image = Image.new("RGB", (width, height), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, width // 4, height // 4))
    return image


def jpeg(
    *, width: int = 64, height: int = 48, orientation: int = 1, taken: str | None = None
) -> bytes:
    out = io.BytesIO()
    kwargs = {"taken": taken} if taken is not None else {}
    picture(width, height).save(
        out,
        "JPEG",
        exif=exif(orientation=orientation, **kwargs).tobytes(),
        comment=b"home of the patient",
        xmp=XMP,
        quality=90,
    )
    return out.getvalue()


def heic(*, width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    picture(width, height).save(out, "HEIF", exif=exif().tobytes(), quality=70)
    return out.getvalue()


def png() -> bytes:
    out = io.BytesIO()
    image = picture().convert("RGBA")
    image.save(out, "PNG", exif=exif().tobytes())
    return out.getvalue()


def webp() -> bytes:
    out = io.BytesIO()
    picture().save(out, "WEBP", exif=exif().tobytes(), quality=80)
    return out.getvalue()


def gif() -> bytes:
    out = io.BytesIO()
    picture().save(out, "GIF")
    return out.getvalue()


def bomb() -> bytes:
    """A PNG that says it is 10000 × 10000 pixels (100 megapixels) in a few hundred bytes."""
    out = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(out, "PNG")
    return out.getvalue()


def truncated() -> bytes:
    data = jpeg(width=640, height=480)
    return data[: len(data) // 2]


def html_polyglot() -> bytes:
    """A JPEG whose comment segment is an HTML page: an image and a page at once."""
    data = jpeg()
    page = b"<html><script>alert(document.cookie)</script></html>"
    segment = b"\xff\xfe" + struct.pack(">H", len(page) + 2) + page
    return data[:2] + segment + data[2:]


def zip_polyglot() -> bytes:
    """A JPEG with a ZIP archive appended (a GIFAR-style polyglot)."""
    out = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("evil.txt", "payload")
    return jpeg() + out.getvalue()


def has_gps_block(data: bytes) -> bool:
    """Whether the bytes hold an EXIF GPS IFD pointer (tag 0x8825, either byte order) or the
    coordinates' reference letters beside an Exif header."""
    return b"\x88\x25\x00\x04" in data or b"\x25\x88\x04\x00" in data or (b"Exif\x00\x00" in data)
