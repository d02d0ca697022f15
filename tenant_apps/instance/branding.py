"""The instance's look on every screen: its display name, its logo and an accessible palette
derived from its brand colour, read once and kept in the per-schema cache.

Every page of an instance (staff area, portal, sign-in, shop, console, error pages) wears
the branding the context processor `branding` gives templates. On a warm cache a page pays
no query for it: the cached row is a few strings, keyed by the schema (the default cache's
KEY_FUNCTION is django-tenants' `make_key`), and saving the identity forgets it at once and
again on commit (so a request that read the old row meanwhile cannot keep it).

The palette meets WCAG 2.x AA: text on the brand colour (buttons, the monogram) is white,
dark or black, whichever reaches 4.5:1; links and the active navigation item use a shade of
the brand colour darkened until it reaches 4.5:1 on every light surface the design uses.
Colours reach the browser as CSS custom properties in a generated stylesheet (/brand.css),
never as inline style, so the Content-Security-Policy needs no exception.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save
from django_tenants.utils import schema_context

from .models import IssuerIdentity

DEFAULT_COLOR = "#4f46e5"
DEFAULT_NAME = "Upline"
CACHE_KEY = "instance:branding:v1"
CACHE_SECONDS = 60 * 60  # saving forgets it at once; the timeout only bounds a missed write

WHITE = "#ffffff"
DARK_TEXT = "#101828"  # the design's --text
BLACK = "#000000"
# Light surfaces links and the active navigation item sit on (upline.css: --surface, --bg,
# --surface-hover, the navigation's hover); the brand's soft tint is added per palette.
LIGHT_SURFACES = ("#ffffff", "#f7f8fa", "#f5f6f8", "#eef0f3")
AA_TEXT = 4.5  # WCAG 2.x AA, normal text
# The brand's files (urls.py): pages an instance shows while suspended link them, so the
# routing lets them through when it answers everything else with the suspension page.
ASSET_PATHS = frozenset({"/brand.css", "/favicon.ico", "/apple-touch-icon.png", "/brand/logo/"})
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


# --------------------------------------------------------------------------------------
# Colour arithmetic (sRGB, WCAG 2.x relative luminance)


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{max(0, min(255, round(c))):02x}" for c in rgb)


def relative_luminance(color: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in _rgb(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(first: str, second: str) -> float:
    """WCAG contrast ratio of two #rrggbb colours, from 1 to 21."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def mix(color: str, other: str, amount: float) -> str:
    """`color` moved `amount` (0…1) of the way towards `other`."""
    return _hex(tuple(a + (b - a) * amount for a, b in zip(_rgb(color), _rgb(other), strict=True)))


def normalise_color(value: str | None) -> str:
    """A stored colour as lowercase #rrggbb; anything else is the default (it is data, and
    only a checked colour reaches a stylesheet)."""
    value = (value or "").strip()
    return value.lower() if _HEX.match(value) else DEFAULT_COLOR


# --------------------------------------------------------------------------------------
# The palette


@dataclass(frozen=True)
class Palette:
    """The brand colour and the shades derived from it, each with its contrast checked."""

    accent: str  # backgrounds: primary buttons, the monogram, meters
    on_accent: str  # text on `accent` (≥ 4.5:1)
    accent_hover: str  # hovered/pressed primary button (text on it still ≥ 4.5:1)
    accent_text: str  # the brand colour as text: links, active navigation (≥ 4.5:1)
    accent_soft: str  # tinted background of the active item, badges
    accent_ring: str  # focus halo (rgba)

    def css(self) -> str:
        r, g, b = _rgb(self.accent_text)
        return (
            ":root {\n"
            f"  --accent: {self.accent};\n"
            f"  --accent-contrast: {self.on_accent};\n"
            f"  --accent-hover: {self.accent_hover};\n"
            f"  --accent-text: {self.accent_text};\n"
            f"  --accent-soft: {self.accent_soft};\n"
            f"  --accent-ring: {self.accent_ring};\n"
            f"  --accent-focus: {self.accent_text};\n"
            f"  --accent-rgb: {r}, {g}, {b};\n"
            "}\n"
        )

    def as_dict(self) -> dict[str, str]:
        return {
            "accent": self.accent,
            "on_accent": self.on_accent,
            "accent_hover": self.accent_hover,
            "accent_text": self.accent_text,
            "accent_soft": self.accent_soft,
            "accent_ring": self.accent_ring,
        }


def _text_on(background: str) -> str:
    """White when it reads well, else the design's dark text, else black (one of the two
    extremes always reaches 4.58:1, whatever the background)."""
    for candidate in (WHITE, DARK_TEXT):
        if contrast_ratio(candidate, background) >= AA_TEXT:
            return candidate
    return BLACK


def _darkened_until_readable(color: str, surfaces: tuple[str, ...]) -> str:
    """`color`, darkened just enough to reach 4.5:1 on every one of `surfaces`."""
    shade = color
    for step in range(1, 21):
        if min(contrast_ratio(shade, surface) for surface in surfaces) >= AA_TEXT:
            return shade
        shade = mix(color, BLACK, step * 0.05)
    return shade  # black itself (step 20) passes on every light surface


def _hover_for(accent: str, text: str) -> str:
    """A visibly different shade (≥ 1.12:1 from the accent) that keeps the text on it
    readable: darker first, lighter for colours too dark to darken (black)."""
    candidates = (
        mix(accent, BLACK, 0.14),
        mix(accent, WHITE, 0.2),
        mix(accent, BLACK, 0.3),
        mix(accent, WHITE, 0.35),
    )
    for candidate in candidates:
        if contrast_ratio(text, candidate) >= AA_TEXT and contrast_ratio(candidate, accent) >= 1.12:
            return candidate
    return candidates[0]


@lru_cache(maxsize=512)
def palette_for(color: str) -> Palette:
    """The accessible palette of a brand colour (any value: a bad one gives the default's)."""
    accent = normalise_color(color)
    on_accent = _text_on(accent)
    soft = mix(accent, WHITE, 0.91)
    accent_text = _darkened_until_readable(accent, (*LIGHT_SURFACES, soft))
    r, g, b = _rgb(accent_text)
    return Palette(
        accent=accent,
        on_accent=on_accent,
        accent_hover=_hover_for(accent, on_accent),
        accent_text=accent_text,
        accent_soft=soft,
        accent_ring=f"rgba({r}, {g}, {b}, 0.28)",
    )


# --------------------------------------------------------------------------------------
# What a page knows about the instance's look


@dataclass(frozen=True)
class Branding:
    """The instance's name, logo and palette as templates use them."""

    name: str
    palette: Palette
    has_logo: bool
    logo_name: str
    version: str  # changes whenever anything shown changes: cache-busting for the URLs

    @property
    def initial(self) -> str:
        letters = [c for c in self.name if c.isalnum()]
        return (letters[0] if letters else "·").upper()

    @property
    def stylesheet_url(self) -> str:
        return f"/brand.css?v={self.version}"

    @property
    def favicon_url(self) -> str:
        return f"/favicon.ico?v={self.version}"

    @property
    def touch_icon_url(self) -> str:
        return f"/apple-touch-icon.png?v={self.version}"

    @property
    def logo_url(self) -> str:
        return f"/brand/logo/?v={self.version}" if self.has_logo else ""

    @property
    def accent(self) -> str:
        return self.palette.accent


def _identity_row() -> dict:
    """The few fields of the identity a page needs (one query; {} before set-up)."""
    row = (
        IssuerIdentity.objects.values(
            "trading_name", "legal_name", "brand_color", "logo", "updated_at"
        )
        .order_by("pk")
        .first()
    )
    if row is None:
        return {}
    return {
        "trading_name": row["trading_name"] or "",
        "legal_name": row["legal_name"] or "",
        "brand_color": row["brand_color"] or "",
        "logo": row["logo"] or "",
        "updated_at": row["updated_at"].isoformat() if row["updated_at"] else "",
    }


def cached_identity_row() -> dict:
    """The current schema's identity fields, from the cache when it has them."""
    row = cache.get(CACHE_KEY)
    if row is None:
        row = _identity_row()
        cache.set(CACHE_KEY, row, CACHE_SECONDS)
    return row


def display_name(row: dict, instance_name: str = "") -> str:
    """The name customers know: the trading name staff chose, else the instance's name
    (the reseller's as the operator registered it, or the operator's), else the legal name."""
    return row.get("trading_name") or instance_name or row.get("legal_name") or DEFAULT_NAME


def branding_from(row: dict, instance_name: str = "") -> Branding:
    name = display_name(row, instance_name)
    palette = palette_for(row.get("brand_color") or DEFAULT_COLOR)
    logo = row.get("logo") or ""
    seed = "|".join((palette.accent, logo, row.get("updated_at", ""), name))
    return Branding(
        name=name,
        palette=palette,
        has_logo=bool(logo),
        logo_name=logo,
        version=hashlib.sha256(seed.encode()).hexdigest()[:12],
    )


def branding_for_request(request) -> Branding:
    """The branding of the instance serving `request` (no query on a warm cache)."""
    tenant = getattr(request, "tenant", None)
    if tenant is None:
        return branding_from({}, "")
    return branding_from(cached_identity_row(), getattr(tenant, "name", "") or "")


def branding_for_schema(schema_name: str, instance_name: str = "") -> Branding:
    """The branding of another schema, e.g. for a page the routing answers before the
    request enters the instance (its suspension page)."""
    with schema_context(schema_name):
        return branding_from(cached_identity_row(), instance_name)


def branding(request) -> dict:
    """Context processor: `branding` on every template rendered with a request."""
    return {"branding": branding_for_request(request)}


# --------------------------------------------------------------------------------------
# Forgetting


def forget(schema_name: str | None = None) -> None:
    """Drop the cached branding of `schema_name` (the current schema by default)."""
    if schema_name is None or schema_name == connection.schema_name:
        cache.delete(CACHE_KEY)
        return
    with schema_context(schema_name):
        cache.delete(CACHE_KEY)


def _identity_changed(sender, instance, **kwargs) -> None:
    schema_name = connection.schema_name
    forget(schema_name)
    # Again once committed: a page that read the old row before the commit may have
    # cached it after the first delete.
    transaction.on_commit(lambda: forget(schema_name))


def connect_signals() -> None:
    """Called from the app's ready(): every save of the identity, wherever it is made."""
    post_save.connect(_identity_changed, sender=IssuerIdentity, dispatch_uid="branding-forget")
    post_delete.connect(
        _identity_changed, sender=IssuerIdentity, dispatch_uid="branding-forget-delete"
    )
