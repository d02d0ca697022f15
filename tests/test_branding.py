"""Each instance wears its own name, logo and colours on every screen (staff area, portal,
sign-in, shop, console, error and suspension pages) and as its favicon; another
instance's never shows, even with the cache warm; derived colours read at WCAG AA."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from shared_apps.tenancy import routing
from shared_apps.tenancy.services import reseller_suspend
from tenant_apps.instance import branding
from tenant_apps.instance.branding import contrast_ratio, palette_for
from tenant_apps.instance.models import IssuerIdentity
from tenant_apps.instance.services import issuer_identity_set
from tests.conftest import PASSWORD, client_for
from tests.two_factor import give_app

RED = (220, 20, 60)
BLUE = (20, 60, 220)


def png(size=(64, 32), colour=RED, mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, colour).save(out, format="PNG")
    return out.getvalue()


def image_of(content: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(content))
    image.load()
    return image


def brand(info, *, name: str, colour: str, logo: bytes | None = None) -> None:
    with schema_context(info.schema_name):
        identity = IssuerIdentity.objects.get()
        fields = {"trading_name": name, "brand_color": colour}
        if logo is not None:
            fields["logo"] = ContentFile(logo, name="logo.png")
        issuer_identity_set(legal_name=identity.legal_name, **fields)


@pytest.fixture
def two_brands(instance_a, instance_b):
    """Acme: "Acme Web Hosting", teal, a red logo. Bluebird: "Bluebird Cloud", amber, a
    blue logo."""
    brand(instance_a, name="Acme Web Hosting", colour="#0f766e", logo=png(colour=RED))
    brand(instance_b, name="Bluebird Cloud", colour="#fbbf24", logo=png(colour=BLUE))
    return instance_a, instance_b


# --------------------------------------------------------------------------------------
# The palette


LIGHT = (*branding.LIGHT_SURFACES,)


@settings(max_examples=400, deadline=None)
@given(st.integers(min_value=0, max_value=0xFFFFFF))
def test_every_derived_colour_reads_at_aa_whatever_the_brand_colour(value):
    palette = palette_for(f"#{value:06x}")
    assert contrast_ratio(palette.on_accent, palette.accent) >= 4.5
    assert contrast_ratio(palette.on_accent, palette.accent_hover) >= 4.5
    for surface in (*LIGHT, palette.accent_soft):
        assert contrast_ratio(palette.accent_text, surface) >= 4.5
    assert contrast_ratio(palette.accent_hover, palette.accent) >= 1.12  # hover shows


def test_a_light_brand_colour_gets_dark_text_and_a_dark_one_white_text():
    assert palette_for("#fbbf24").on_accent == branding.DARK_TEXT
    assert palette_for("#1e3a8a").on_accent == branding.WHITE
    # Links in a pale yellow would be unreadable: they get a darker shade of it.
    yellow = palette_for("#fde047")
    assert yellow.accent == "#fde047"
    assert contrast_ratio(yellow.accent_text, "#ffffff") >= 4.5


def test_a_mid_tone_neither_white_nor_dark_grey_reads_on_gets_black_text():
    # Mid luminance: white and the design's dark text both fall short of 4.5:1 here.
    colour = "#d0542d"
    assert contrast_ratio(branding.WHITE, colour) < 4.5
    assert contrast_ratio(branding.DARK_TEXT, colour) < 4.5
    assert palette_for(colour).on_accent == branding.BLACK


def test_a_colour_that_is_not_hex_falls_back_to_the_default():
    assert palette_for("red; } body { display: none").accent == branding.DEFAULT_COLOR


# --------------------------------------------------------------------------------------
# Cached per schema: no query on a warm cache


def _request(info):
    request = RequestFactory().get("/", HTTP_HOST=info.host)
    request.tenant = routing.resolve(info.host)
    connection.set_tenant(request.tenant)
    return request


def test_the_context_processor_pays_one_query_cold_and_none_warm(
    two_brands, django_assert_num_queries
):
    acme, _ = two_brands
    request = _request(acme)
    with django_assert_num_queries(1):
        first = branding.branding(request)["branding"]
    with django_assert_num_queries(0):
        again = branding.branding(request)["branding"]
    assert first == again
    assert again.name == "Acme Web Hosting"


def test_a_page_reads_no_identity_once_the_cache_is_warm(two_brands):
    acme, _ = two_brands
    client = client_for(acme)
    client.get("/accounts/login/")  # warms the cache
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/accounts/login/")
    assert b"Acme Web Hosting" in response.content
    assert not [q for q in queries.captured_queries if "issueridentity" in q["sql"]]


def test_saving_the_identity_shows_at_once_on_the_next_page(instance_a):
    client = client_for(instance_a)
    client.get("/accounts/login/")
    brand(instance_a, name="Acme Renamed", colour="#7c3aed")
    html = client.get("/accounts/login/").content.decode()
    assert "Acme Renamed" in html
    assert "--accent: #7c3aed" in client.get("/brand.css").content.decode()


def test_the_cache_of_one_instance_never_answers_another(two_brands):
    acme, bluebird = two_brands
    # Warm both, in one process, in turns.
    for info in (acme, bluebird, acme, bluebird):
        client_for(info).get("/accounts/login/")
    acme_html = client_for(acme).get("/accounts/login/").content.decode()
    bluebird_html = client_for(bluebird).get("/accounts/login/").content.decode()
    assert "Acme Web Hosting" in acme_html and "Bluebird Cloud" not in acme_html
    assert "Bluebird Cloud" in bluebird_html and "Acme Web Hosting" not in bluebird_html
    assert "#0f766e" in client_for(acme).get("/brand.css").content.decode()
    assert "#fbbf24" in client_for(bluebird).get("/brand.css").content.decode()
    assert "#fbbf24" not in client_for(acme).get("/brand.css").content.decode()


# --------------------------------------------------------------------------------------
# Every area wears the instance's name and logo


def _page(info, email, path):
    response = client_for(info, email).get(path)
    assert response.status_code in (200, 404), (path, response.status_code)
    return response.content.decode()


@pytest.mark.parametrize(
    "who, path",
    [
        ("owner", "/staff/"),
        ("owner", "/staff/identity/"),
        ("support", "/staff/helpdesk/"),
        ("customer", "/portal/"),
        ("customer", "/portal/billing/"),
        (None, "/accounts/login/"),
        (None, "/accounts/password-reset/"),
        (None, "/shop/"),
        ("customer", "/no-such-page/"),
    ],
)
def test_each_area_shows_the_instances_name_logo_and_palette_not_the_others(two_brands, who, path):
    acme, _ = two_brands
    email = getattr(acme, who) if who else None
    html = _page(acme, email, path)
    assert "Acme Web Hosting" in html
    assert 'src="/brand/logo/?v=' in html
    assert 'href="/brand.css?v=' in html
    assert 'rel="icon"' in html
    assert "Bluebird" not in html


def test_the_second_sign_in_step_page_and_its_brand_files_reach_a_session_owing_a_code(
    two_brands,
):
    acme, _ = two_brands
    with schema_context(acme.schema_name):
        give_app(get_user_model().objects.get(email=acme.owner))
    browser = client_for(acme)
    browser.post("/accounts/login/", {"username": acme.owner, "password": PASSWORD})
    assert "/accounts/two-factor/" in browser.get("/staff/")["Location"]
    html = browser.get("/accounts/two-factor/").content.decode()
    assert "Acme Web Hosting" in html and 'src="/brand/logo/?v=' in html
    # Its brand files are not sent to the code page like every other page.
    for path in ("/brand.css", "/favicon.ico", "/brand/logo/"):
        assert browser.get(path).status_code == 200, path


def test_the_operator_console_wears_the_operators_own_brand(operator, two_brands):
    with schema_context("public"):
        identity = IssuerIdentity.objects.get()
        issuer_identity_set(legal_name=identity.legal_name, trading_name="Upstream Hosting")
    html = _page(operator, operator.owner, "/console/")
    assert "Upstream Hosting" in html
    assert "Acme Web Hosting" not in html and "Bluebird Cloud" not in html


def test_without_a_logo_the_header_shows_the_monogram(instance_a):
    brand(instance_a, name="Zephyr Hosting", colour="#0f766e")
    html = _page(instance_a, None, "/accounts/login/")
    assert 'class="brand-mark brand-mark-lg" aria-hidden="true">Z<' in html
    assert "/brand/logo/" not in html


def test_the_server_error_page_names_the_instance_without_a_query(two_brands):
    from config.errors import server_error

    acme, _ = two_brands
    request = _request(acme)
    with CaptureQueriesContext(connection) as queries:
        response = server_error(request)
    assert response.status_code == 500
    assert "Acme" in response.content.decode()
    assert queries.captured_queries == []


# --------------------------------------------------------------------------------------
# Suspended instances


def test_the_suspension_page_wears_the_instances_brand_and_its_files_still_load(
    two_brands, django_capture_on_commit_callbacks
):
    acme, _ = two_brands
    with django_capture_on_commit_callbacks(execute=True):
        reseller_suspend(reseller=acme.reseller(), reason="by hand")
    client = client_for(acme)
    page = client.get("/portal/")
    assert page.status_code == 503
    html = page.content.decode()
    assert "Acme Web Hosting" in html and "Bluebird" not in html
    assert 'href="/brand.css?v=' in html and 'src="/brand/logo/?v=' in html
    for path in ("/brand.css", "/favicon.ico", "/brand/logo/", "/apple-touch-icon.png"):
        assert client.get(path).status_code == 200, path
    assert client.get("/shop/").status_code == 503  # everything else stays suspended


def test_every_brand_file_path_the_routing_lets_through_is_a_brand_view():
    from django.urls import resolve

    for path in branding.ASSET_PATHS:
        assert resolve(path, "config.urls_tenant").func.__module__ == "tenant_apps.instance.views"


# --------------------------------------------------------------------------------------
# Favicon and logo files


def test_each_instance_serves_its_own_logo(two_brands):
    acme, bluebird = two_brands
    acme_logo = image_of(b"".join(client_for(acme).get("/brand/logo/").streaming_content))
    bluebird_logo = image_of(b"".join(client_for(bluebird).get("/brand/logo/").streaming_content))
    assert acme_logo.convert("RGB").getpixel((10, 10)) == RED
    assert bluebird_logo.convert("RGB").getpixel((10, 10)) == BLUE


def test_the_favicon_is_the_logo_in_a_square_for_each_instance(two_brands):
    acme, bluebird = two_brands
    for info, colour in ((acme, RED), (bluebird, BLUE)):
        response = client_for(info).get("/favicon.ico")
        assert response.status_code == 200
        assert response["Content-Type"] == "image/png"
        icon = image_of(response.content)
        assert icon.size == (64, 64)
        assert icon.convert("RGBA").getpixel((32, 32))[:3] == colour
        assert icon.convert("RGBA").getpixel((0, 0))[3] == 0  # letterboxed, transparent
    assert image_of(client_for(acme).get("/apple-touch-icon.png").content).size == (180, 180)


def test_without_a_logo_the_favicon_is_a_monogram_in_the_brand_colour(instance_a, instance_b):
    brand(instance_a, name="Acme Web Hosting", colour="#0f766e", logo=png(colour=RED))
    brand(instance_b, name="Bluebird Cloud", colour="#fbbf24")
    client_for(instance_a).get("/favicon.ico")  # A's icon cached first
    icon = image_of(client_for(instance_b).get("/favicon.ico").content).convert("RGB")
    assert icon.getpixel((8, 32)) == (0xFB, 0xBF, 0x24)  # B's colour, never A's red logo
    assert RED not in {icon.getpixel((x, y)) for x in range(64) for y in range(64)}


def test_the_favicon_is_cached_and_revalidated_by_version(two_brands):
    acme, _ = two_brands
    client = client_for(acme)
    plain = client.get("/favicon.ico")
    assert plain["Cache-Control"] == "public, max-age=86400"
    etag = plain["ETag"]
    assert client.get("/favicon.ico", HTTP_IF_NONE_MATCH=etag).status_code == 304
    version = branding.branding_from(
        {"trading_name": "Acme Web Hosting"}, ""
    ).version  # any version that is not the current one
    html = client.get("/accounts/login/").content.decode()
    current = html.split('href="/favicon.ico?v=')[1].split('"')[0]
    assert current != version
    versioned = client.get(f"/favicon.ico?v={current}")
    assert "immutable" in versioned["Cache-Control"]
    # A new logo changes the version, so the link changes and browsers fetch the new icon.
    brand(acme, name="Acme Web Hosting", colour="#0f766e", logo=png(colour=BLUE))
    html = client.get("/accounts/login/").content.decode()
    assert f"/favicon.ico?v={current}" not in html
    assert client.get("/favicon.ico", HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_a_stored_logo_that_is_not_png_or_jpeg_is_never_served(instance_a):
    with schema_context(instance_a.schema_name):
        identity = IssuerIdentity.objects.get()
        identity.logo.save("evil.svg", ContentFile(b"<svg onload='alert(1)'/>"))
    client = client_for(instance_a)
    assert client.get("/brand/logo/").status_code == 404
    assert client.get("/favicon.ico").status_code == 200  # the monogram instead


def test_an_instance_without_a_logo_has_no_logo_file(instance_b):
    brand(instance_b, name="Bluebird Cloud", colour="#fbbf24")
    assert client_for(instance_b).get("/brand/logo/").status_code == 404


# --------------------------------------------------------------------------------------
# The identity screen: logo upload and colour


BASE = {"legal_name": "Acme Ltd", "currency": "EUR", "country": "FR", "brand_color": "#0f766e"}


def _upload(info, content: bytes, name="logo.png", content_type="image/png"):
    client = client_for(info, info.owner)
    return client.post(
        "/staff/identity/", {**BASE, "logo": SimpleUploadedFile(name, content, content_type)}
    )


def _logo_errors(response) -> str:
    assert response.status_code == 200
    return " ".join(response.context["form"].errors["logo"])


def test_an_svg_logo_is_refused_with_a_reason(instance_a):
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>x</script></svg>'
    response = _upload(instance_a, svg, "logo.svg", "image/svg+xml")
    assert "SVG logos are not accepted" in _logo_errors(response)
    assert "SVG logos are not accepted" in response.content.decode()


def test_a_logo_too_small_or_too_large_in_pixels_is_refused(instance_a):
    assert "at least 16 pixels" in _logo_errors(_upload(instance_a, png(size=(8, 8))))
    assert "at most 4000" in _logo_errors(
        _upload(instance_a, png(size=(4100, 20), colour=128, mode="L"))
    )


def test_a_logo_over_one_megabyte_is_refused(instance_a):
    big = png() + b"\0" * (1024 * 1024)
    assert "1 MB or smaller" in _logo_errors(_upload(instance_a, big))


def test_a_truncated_image_is_refused(instance_a):
    assert "could not be read" in _logo_errors(_upload(instance_a, png(size=(200, 200))[:60]))


def test_an_uploaded_logo_is_re_encoded_without_its_metadata(instance_a):
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # camera maker
    out = io.BytesIO()
    Image.new("RGB", (40, 40), RED).save(out, format="JPEG", exif=exif.tobytes())
    response = _upload(instance_a, out.getvalue() + b"trailing payload", "me.jpg", "image/jpeg")
    assert response.status_code == 302
    with schema_context(instance_a.schema_name):
        logo = IssuerIdentity.objects.get().logo
        assert logo.name.startswith("r_acme/identity/logo")
        stored = logo.read()
    assert b"SpyCam" not in stored and b"trailing payload" not in stored
    assert image_of(stored).format == "JPEG"


def test_clearing_the_logo_brings_back_the_monogram(instance_a):
    assert _upload(instance_a, png()).status_code == 302
    client = client_for(instance_a, instance_a.owner)
    response = client.post("/staff/identity/", {**BASE, "logo-clear": "on"})
    assert response.status_code == 302
    with schema_context(instance_a.schema_name):
        assert not IssuerIdentity.objects.get().logo
    assert "/brand/logo/" not in client.get("/staff/").content.decode()


def test_the_preview_palette_is_for_staff_only(instance_a):
    staff = client_for(instance_a, instance_a.support)
    palette = staff.get("/staff/identity/palette/", {"color": "#fde047"}).json()
    assert palette["on_accent"] == branding.DARK_TEXT
    assert palette["contrast_on_accent"] >= 4.5 and palette["contrast_of_links"] >= 4.5
    assert staff.get("/staff/identity/palette/", {"color": "yellow"}).status_code == 400
    customer = client_for(instance_a, instance_a.customer)
    assert customer.get("/staff/identity/palette/", {"color": "#fde047"}).status_code == 403
    anonymous = client_for(instance_a).get("/staff/identity/palette/", {"color": "#fde047"})
    assert anonymous.status_code == 302


def test_page_titles_and_sentences_say_the_trading_name_not_the_registered_one(two_brands):
    acme, _ = two_brands
    portal = client_for(acme, acme.customer).get("/portal/").content.decode()
    assert "Your account with Acme Web Hosting" in portal
    staff = client_for(acme, acme.support).get("/staff/catalog/").content.decode()
    assert "<title>Catalog · Acme Web Hosting</title>" in staff
    sign_in = client_for(acme).get("/accounts/login/").content.decode()
    assert "Sign in to Acme Web Hosting" in sign_in
    assert "Bluebird" not in portal + staff + sign_in
