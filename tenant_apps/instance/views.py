"""The instance's brand as files every page links: its palette as a stylesheet, its icon
(favicon and home-screen icon) and its logo.

Each answers from the serving instance only (the schema the host chose; the cache is keyed
per schema), for anyone, with no query on a warm cache. Addresses carry the branding's
version (`?v=`), so a browser keeps them for a year and asks again only after staff change
the identity; the bare /favicon.ico browsers ask for on their own is kept for a day, with
an ETag to revalidate. They stay reachable before the second sign-in step and while the
instance is held for non-payment, when the pages that link them are shown.
"""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse, HttpResponseNotModified
from django.views.decorators.http import require_safe
from PIL import UnidentifiedImageError

from .brand_images import logo_icon, monogram_icon
from .branding import Branding, branding_for_request
from .payment_hold import payment_hold_exempt

log = logging.getLogger(__name__)

YEAR = 365 * 24 * 60 * 60
ICON_CACHE_SECONDS = 24 * 60 * 60
_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"


def brand_asset(view):
    """Reachable by anyone, at any stage: while the instance is held for non-payment, and
    before the second sign-in step (the attribute accounts' SecondStepMiddleware reads;
    the core cannot import accounts)."""
    view = payment_hold_exempt(require_safe(view))
    view.second_step_exempt = True
    return view


def _etag(branding: Branding, suffix: str = "") -> str:
    return f'"{branding.version}{suffix}"'


def _cached_response(request, branding: Branding, etag: str, build) -> HttpResponse:
    """304 when the browser holds this version; else `build()`, with caching headers."""
    if etag in request.headers.get("If-None-Match", ""):
        response: HttpResponse = HttpResponseNotModified()
    else:
        response = build()
    response["ETag"] = etag
    if request.GET.get("v") == branding.version:
        response["Cache-Control"] = f"public, max-age={YEAR}, immutable"
    else:
        response["Cache-Control"] = f"public, max-age={ICON_CACHE_SECONDS}"
    return response


@brand_asset
def brand_stylesheet(request):
    """The instance's palette as CSS custom properties (upline.css uses them)."""
    branding = branding_for_request(request)
    return _cached_response(
        request,
        branding,
        _etag(branding, "-css"),
        lambda: HttpResponse(branding.palette.css(), content_type="text/css; charset=utf-8"),
    )


def _icon_png(branding: Branding, size: int) -> bytes:
    key = f"instance:icon:{branding.version}:{size}"
    data = cache.get(key)
    if data is not None:
        return data
    data = b""
    if branding.has_logo:
        try:
            with default_storage.open(branding.logo_name, "rb") as handle:
                data = logo_icon(handle, size)
        except (OSError, UnidentifiedImageError, ValueError):
            # A logo missing from storage or unreadable: the monogram, never an error page.
            log.warning("Logo %s could not be read for the icon.", branding.logo_name)
    if not data:
        data = monogram_icon(branding.initial, branding.palette, size)
    cache.set(key, data, ICON_CACHE_SECONDS)
    return data


def _icon(request, size: int):
    branding = branding_for_request(request)
    return _cached_response(
        request,
        branding,
        _etag(branding, f"-{size}"),
        lambda: HttpResponse(_icon_png(branding, size), content_type="image/png"),
    )


@brand_asset
def favicon(request):
    """/favicon.ico: the logo as a square PNG, else the monogram (PNG, which every browser
    reads whatever the name says)."""
    return _icon(request, 64)


@brand_asset
def touch_icon(request):
    """/apple-touch-icon.png: the same at the size phones put on a home screen."""
    return _icon(request, 180)


@brand_asset
def brand_logo(request):
    """The logo as uploaded (checked and re-encoded then); only PNG or JPEG is ever served,
    whatever a file in storage holds."""
    branding = branding_for_request(request)
    if not branding.has_logo:
        raise Http404("This instance has no logo.")

    def build():
        try:
            handle = default_storage.open(branding.logo_name, "rb")
        except OSError:
            raise Http404("The logo is missing.") from None
        head = handle.read(8)
        handle.seek(0)
        if head.startswith(_PNG):
            return FileResponse(handle, content_type="image/png")
        if head.startswith(_JPEG):
            return FileResponse(handle, content_type="image/jpeg")
        handle.close()
        raise Http404("The stored logo is not an image this site serves.")

    return _cached_response(request, branding, _etag(branding, "-logo"), build)
