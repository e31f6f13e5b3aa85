"""Sanitising photos: decide what a file is from its bytes, refuse anything else, and re-encode
the pixels into a clean JPEG with no metadata at all.

What a client sends is hostile until decoded here:
- the type comes from the content's signature, never from the name or the declared type, and
  the decoder is then told to accept that one format only;
- zero-byte, over-long (`MAX_BYTES`), over-large (`MAX_PIXELS`: decompression bombs, refused
  from the header before any pixel is decoded) and truncated files are refused;
- polyglots are refused: bytes after the image's own end that are not padding or a further
  embedded JPEG (a camera's multi-picture format), and HTML, script, SVG or PHP text anywhere;
- the stored file is made from pixels only: EXIF orientation applied, colour converted to sRGB
  from the embedded profile, transparency flattened onto white, and written as a new JPEG that
  carries no EXIF (GPS, serials, maker notes), XMP, IPTC, comment or ICC profile.

No database, no storage: bytes in, bytes out, so the tests can hold it to its word.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import struct
import warnings
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pillow_heif
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, ImageCms, ImageFile, ImageOps

pillow_heif.register_heif_opener()
# Pillow's own bomb check warns at MAX_IMAGE_PIXELS and raises at twice that; ours is stricter
# and comes first (`_check_size`), from the header.
ImageFile.LOAD_TRUNCATED_IMAGES = False

MAX_BYTES = 25 * 1024 * 1024
MAX_PIXELS = 60_000_000
STORED_QUALITY = 88
DERIVATIVE_QUALITY = 82
THUMB_SIDE = 320
DISPLAY_SIDE = 1600

# HEIF brands of still images (iPhone and iPad cameras write "heic"; "mif1" is the generic one).
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif"}
# Text that makes a file something a browser or a server would run or render.
_ACTIVE_TEXT = re.compile(rb"<(?:script|html|svg|!doctype|\?php|iframe|body)", re.IGNORECASE)
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
# Camera clocks are wrong often enough: a DateTimeOriginal before this, or in the future, is
# not believed and the upload time stands instead.
_EARLIEST_PLAUSIBLE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011


class BadImage(Exception):
    """The file is not a photo we accept; `message` says why, for the person who sent it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Sanitised:
    data: bytes  # the clean JPEG
    width: int
    height: int
    source_format: str  # JPEG, PNG, WEBP or HEIF: what the bytes were
    taken_at: dt.datetime | None  # DateTimeOriginal, when present and plausible


def sniff(data: bytes) -> str | None:
    """The format the bytes are, from their signature; None for anything we do not take."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "HEIF"
    return None


def _refuse_polyglot() -> BadImage:
    return BadImage("polyglot", _("画像以外のデータが含まれているため受け付けられません。"))


def _jpeg_end(data: bytes) -> int:
    """Where the first JPEG in `data` ends (after its EOI), from its segment structure."""
    pos, n = 2, len(data)
    while pos + 2 <= n:
        if data[pos] != 0xFF:
            raise BadImage("truncated", _("画像ファイルが壊れています。"))
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            return pos + 2
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2
            continue
        if pos + 4 > n:
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        pos += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data up to the next real marker
            while True:
                pos = data.find(b"\xff", pos)
                if pos < 0 or pos + 1 >= n:
                    raise BadImage("truncated", _("画像ファイルが途中で切れています。"))
                following = data[pos + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
                    pos += 1 if following == 0xFF else 2
                    continue
                break
    raise BadImage("truncated", _("画像ファイルが途中で切れています。"))


def _boxes_end(data: bytes, start: int = 0) -> int:
    """Where the chain of ISO-BMFF boxes (HEIF) starting at `start` ends."""
    pos, n = start, len(data)
    while pos + 8 <= n:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            if pos + 16 > n:
                break
            (size,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
        elif size == 0:
            return n  # the last box runs to the end of the file
        if size < 8 or not kind.isascii():
            break
        pos += size
    if pos > n:
        raise BadImage("truncated", _("画像ファイルが途中で切れています。"))
    return pos


def _structure_end(data: bytes, fmt: str) -> int:
    if fmt == "JPEG":
        return _jpeg_end(data)
    if fmt == "PNG":
        end = data.find(b"IEND")
        if end < 0:
            raise BadImage("truncated", _("画像ファイルが途中で切れています。"))
        return end + 8  # the chunk type and its CRC
    if fmt == "WEBP":
        size = int.from_bytes(data[4:8], "little")
        if 8 + size > len(data):
            raise BadImage("truncated", _("画像ファイルが途中で切れています。"))
        return 8 + size
    return _boxes_end(data)


def _check_structure(data: bytes, fmt: str) -> None:
    """Refuse polyglots: text a browser would run, or anything after the image's end but
    padding and further JPEGs (the multi-picture format of some cameras)."""
    if _ACTIVE_TEXT.search(data):
        raise _refuse_polyglot()
    end = _structure_end(data, fmt)
    while end < len(data):
        rest = data[end:]
        if fmt == "JPEG" and rest[:3] == b"\xff\xd8\xff":
            end += _jpeg_end(rest)
            continue
        if rest.strip(b"\x00\xff\r\n\t ") == b"":
            return
        raise _refuse_polyglot()


def _open(data: bytes, fmt: str) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[fmt])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_large() from None
    except Exception:
        raise BadImage("invalid", _("画像として読み込めません。")) from None
    return image


def _too_large() -> BadImage:
    return BadImage(
        "too_large",
        _("画素数が多すぎます(6000万画素まで)。"),
    )


def _load(image: Image.Image) -> None:
    if image.width * image.height > MAX_PIXELS or image.width < 1 or image.height < 1:
        raise _too_large()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_large() from None
    except Exception:
        raise BadImage("truncated", _("画像ファイルが壊れているか、途中で切れています。")) from None


def _taken_at(image: Image.Image) -> dt.datetime | None:
    """DateTimeOriginal with its offset (else in the site's time zone), if believable."""
    try:
        exif = image.getexif().get_ifd(_EXIF_IFD)
        text = str(exif.get(_DATETIME_ORIGINAL) or "").strip("\x00 ")
        offset = str(exif.get(_OFFSET_TIME_ORIGINAL) or "").strip("\x00 ")
        naive = dt.datetime.strptime(text, "%Y:%m:%d %H:%M:%S")  # noqa: DTZ007 (zone below)
        if re.fullmatch(r"[+-]\d\d:\d\d", offset):
            sign = -1 if offset[0] == "-" else 1
            zone: dt.tzinfo = dt.timezone(
                sign * dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
            )
        else:
            zone = ZoneInfo(settings.TIME_ZONE)
        when = naive.replace(tzinfo=zone)
    except Exception:
        return None
    if not _EARLIEST_PLAUSIBLE <= when <= timezone.now() + dt.timedelta(days=1):
        return None
    return when


def _to_srgb(image: Image.Image) -> Image.Image:
    """RGB pixels in sRGB: the embedded profile converted from, alpha flattened onto white."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    icc = image.info.get("icc_profile")
    if image.mode not in ("RGB", "CMYK", "L"):
        image = image.convert("RGB")
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB")
            if converted is not None:
                return converted
        except Exception:  # noqa: S110 (a broken profile: the pixels as they are)
            pass
    return image.convert("RGB") if image.mode != "RGB" else image


def _pixels_only(image: Image.Image) -> Image.Image:
    """A new image on the same pixels, with nothing of the source's metadata (`info`, EXIF).

    It shares the decoded pixels rather than copying them (a copy of 12 MP cost ~100 ms): a
    new `Image` around the same core, whose `info` is emptied, and whose EXIF (read lazily
    from `info`) is therefore empty too."""
    clean = image._new(image.im)
    clean.info = {}
    return clean


def sanitise(data: bytes) -> Sanitised:
    """The clean JPEG of an uploaded photo, or `BadImage` with the reason."""
    if not data:
        raise BadImage("empty", _("ファイルが空です。"))
    if len(data) > MAX_BYTES:
        raise BadImage("too_big", _("ファイルが大きすぎます(25MBまで)。"))
    fmt = sniff(data)
    if fmt is None:
        raise BadImage(
            "unsupported",
            _("対応していない形式です。JPEG、PNG、WebP、HEIC の写真を選んでください。"),
        )
    _check_structure(data, fmt)
    image = _open(data, fmt)
    _load(image)
    taken_at = _taken_at(image)
    # HEIF decoding applies the rotation itself and resets the tag; for the others, here.
    # In place: an upright photo (orientation 1) is not copied for nothing.
    if fmt != "HEIF":
        ImageOps.exif_transpose(image, in_place=True)
    clean = _pixels_only(_to_srgb(image))
    out = io.BytesIO()
    clean.save(out, "JPEG", quality=STORED_QUALITY)
    return Sanitised(out.getvalue(), clean.width, clean.height, fmt, taken_at)


def derivative(stored: bytes, side: int) -> bytes:
    """A JPEG of the stored (already clean) photo, scaled to fit a `side` × `side` square."""
    source = Image.open(io.BytesIO(stored), formats=["JPEG"])
    width, height = source.size
    scale = side / max(width, height)
    # Let the JPEG decoder scale down by 1/2, 1/4 or 1/8 as it reads (to no less than the
    # size wanted): far less to decode and to resample.
    source.draft("RGB", (max(1, round(width * scale)), max(1, round(height * scale))))
    image = source.convert("RGB")
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    _pixels_only(image).save(out, "JPEG", quality=DERIVATIVE_QUALITY)
    return out.getvalue()
