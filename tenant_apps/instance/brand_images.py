"""Images of an instance's brand: the logo staff upload (checked, then re-encoded) and the
square icon browsers show in tabs and on home screens (the logo fitted into a square, else
a monogram of the instance's initial in its brand colour).

Logos are PNG or JPEG only. SVG is refused, not sanitised: an SVG is a document that can
carry scripts, links to other sites and entity bombs; served from the instance's own
domain it would run as that domain's page if opened directly, and printed into a PDF it
would make WeasyPrint fetch what it names. Cleaning SVG safely means keeping up with an
allow-list of elements and attributes; a raster logo at twice its displayed size costs
nothing and looks as sharp. Every accepted logo is decoded and written again by Pillow, so
what is stored is pixels we produced: no trailing payload, no EXIF (camera, GPS position).
"""

from __future__ import annotations

import io
from functools import lru_cache

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.utils.translation import gettext, gettext_lazy
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from .branding import Palette

LOGO_MAX_BYTES = 1024 * 1024
LOGO_MIN_SIDE = 16
LOGO_MAX_SIDE = 4000
LOGO_FORMATS = {"PNG": "png", "JPEG": "jpg"}
_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")

NOT_AN_IMAGE = gettext_lazy("Upload the logo as a PNG or JPEG image.")
SVG_REFUSED = gettext_lazy(
    "SVG logos are not accepted (an SVG file can carry scripts): export it as a PNG, "
    "ideally twice as large as it is shown, and upload that."
)


def _looks_like_svg(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith((b"<?xml", b"<svg", b"<!doctype svg")) or b"<svg" in text


def logo_prepare(upload) -> ContentFile:
    """A logo file staff chose, checked (type, size, dimensions) and re-encoded; raises a
    ValidationError whose message the form shows."""
    if upload.size > LOGO_MAX_BYTES:
        raise ValidationError(gettext("The logo must be 1 MB or smaller."))
    head = upload.read(1024)
    upload.seek(0)
    if _looks_like_svg(head):
        raise ValidationError(SVG_REFUSED)
    if not head.startswith(_MAGIC):
        raise ValidationError(NOT_AN_IMAGE)
    try:
        with Image.open(upload) as probe:
            probe.verify()  # structure and checksums, before decoding a single pixel
        upload.seek(0)
        with Image.open(upload) as image:
            if image.format not in LOGO_FORMATS:
                raise ValidationError(NOT_AN_IMAGE)
            width, height = image.size
            if min(width, height) < LOGO_MIN_SIDE:
                raise ValidationError(
                    gettext(
                        "The logo is %(width)s×%(height)s pixels: it needs at least "
                        "%(min)s pixels on each side."
                    )
                    % {"width": width, "height": height, "min": LOGO_MIN_SIDE}
                )
            if max(width, height) > LOGO_MAX_SIDE:
                raise ValidationError(
                    gettext(
                        "The logo is %(width)s×%(height)s pixels: at most %(max)s on each "
                        "side, please (a header shows it about 30 pixels high)."
                    )
                    % {"width": width, "height": height, "max": LOGO_MAX_SIDE}
                )
            fmt = image.format
            image.load()
            upright = ImageOps.exif_transpose(image)
    except ValidationError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ValidationError(
            gettext("This file could not be read as an image; save it again as PNG or JPEG.")
        ) from None
    finally:
        upload.seek(0)
    out = io.BytesIO()
    if fmt == "PNG":
        if upright.mode not in {"RGB", "RGBA", "L", "LA", "P"}:
            upright = upright.convert("RGBA")
        upright.save(out, format="PNG", optimize=True)
    else:
        upright.convert("RGB").save(out, format="JPEG", quality=90, optimize=True)
    return ContentFile(out.getvalue(), name=f"logo.{LOGO_FORMATS[fmt]}")


# --------------------------------------------------------------------------------------
# Square icons (favicon, home-screen icon)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def logo_icon(handle, size: int) -> bytes:
    """The logo fitted, centred, into a transparent square of `size` pixels."""
    with Image.open(handle) as image:
        image.load()
        logo = image.convert("RGBA")
    inner = max(1, round(size * 0.94))
    logo.thumbnail((inner, inner), Image.Resampling.LANCZOS)
    canvas = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    canvas.paste(logo, ((size - logo.width) // 2, (size - logo.height) // 2), logo)
    return _png(canvas)


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # DejaVu (installed with WeasyPrint's fonts) covers most scripts; Pillow's own font
    # otherwise.
    try:
        return ImageFont.truetype("DejaVuSans-Bold.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size)


def monogram_icon(initial: str, palette: Palette, size: int) -> bytes:
    """A rounded square in the brand colour with the initial in its readable text colour."""
    scale = 4  # drawn large and scaled down: smooth edges without an anti-aliasing pass
    big = size * scale
    canvas = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=round(big * 0.22), fill=palette.accent)
    draw.text(
        (big / 2, big / 2),
        initial[:1] or "·",
        fill=palette.on_accent,
        font=_font(round(big * 0.6)),
        anchor="mm",
    )
    return _png(canvas.resize((size, size), Image.Resampling.LANCZOS))
