"""In a real browser: a reseller's customers, its staff and the operator each see their own
instance's name, logo, colours and favicon, at desktop (1366 px) and phone (390 px) widths,
under the Content-Security-Policy; the suspension page wears the reseller's brand too.

Screenshots go to $UPLINE_SCREENSHOT_DIR when set (to look at them), else a temporary
folder."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django_tenants.utils import schema_context
from PIL import Image, ImageDraw, ImageFont

from shared_apps.tenancy.models import Reseller
from shared_apps.tenancy.services import reseller_resume, reseller_suspend
from tenant_apps.instance.models import IssuerIdentity
from tenant_apps.instance.services import issuer_identity_set
from tests.browser.committed import in_own_connection
from tests.browser.conftest import pass_second_step, sign_in

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
AMBER = "#fbbf24"  # light: buttons get dark text


def _logo_png() -> bytes:
    image = Image.new("RGBA", (240, 64), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 4, 56, 60), radius=12, fill=(180, 83, 9, 255))
    try:
        font = ImageFont.truetype("DejaVuSans-Bold.ttf", 34)
    except OSError:
        font = ImageFont.load_default(size=34)
    draw.text((28, 32), "A", fill="white", font=font, anchor="mm")
    draw.text((68, 32), "ACME", fill=(120, 53, 15, 255), font=font, anchor="lm")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _identity_fields(schema: str) -> dict:
    with schema_context(schema):
        identity = IssuerIdentity.objects.get()
        return {
            "legal_name": identity.legal_name,
            "trading_name": identity.trading_name,
            "brand_color": identity.brand_color,
            "logo": identity.logo.name,
        }


def _brand_acme() -> dict:
    before = _identity_fields("r_acme")
    with schema_context("r_acme"):
        issuer_identity_set(
            legal_name=before["legal_name"],
            trading_name="Acme Web Hosting",
            brand_color=AMBER,
            logo=ContentFile(_logo_png(), name="logo.png"),
        )
    return before


def _restore(before: dict) -> bool:
    with schema_context("r_acme"):
        issuer_identity_set(**before)
    return True


@pytest.fixture
def branded_acme(db):
    """Acme trades as "Acme Web Hosting" in amber with a logo (committed; undone after)."""
    before = in_own_connection(_brand_acme)
    yield
    in_own_connection(_restore, before)


def _watch_policy(page) -> list[str]:
    refused: list[str] = []
    page.on(
        "console",
        lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return refused


def _brand_is_shown(page, name: str, *, logo: bool) -> None:
    brand = page.locator("header .brand, .auth-brand, .error-brand").first
    assert name in brand.inner_text()
    if logo:
        loaded = brand.locator("img.brand-logo").evaluate(
            "img => img.complete && img.naturalWidth > 0"
        )
        assert loaded, "the logo did not load"
    icon = page.locator("link[rel=icon]").get_attribute("href")
    status, kind = page.evaluate(
        "async url => { const r = await fetch(url);"
        " return [r.status, r.headers.get('content-type')]; }",
        icon,
    )
    assert (status, kind) == (200, "image/png")


def _photograph(page, shots: Path, name: str) -> None:
    for viewport, label in ((DESKTOP, "1366"), (PHONE, "390")):
        page.set_viewport_size(viewport)
        page.screenshot(path=str(shots / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def test_customers_and_staff_of_a_reseller_see_its_brand(browser, live_url, branded_acme, shots):
    acme = live_url.format(host="acme.upline.localhost")
    page = browser.new_context(viewport=DESKTOP).new_page()
    refused = _watch_policy(page)

    page.goto(acme + "/accounts/login/")
    _brand_is_shown(page, "Acme Web Hosting", logo=True)
    # The primary button wears the brand colour with text that reads on it (dark on amber).
    button = page.get_by_role("button", name="Sign in")
    colours = button.evaluate(
        "b => [getComputedStyle(b).backgroundColor, getComputedStyle(b).color]"
    )
    assert colours == ["rgb(251, 191, 36)", "rgb(16, 24, 40)"]
    _photograph(page, shots, "sign-in")

    sign_in(page, acme, "customer@acme.test")
    page.goto(acme + "/portal/")
    _brand_is_shown(page, "Acme Web Hosting", logo=True)
    assert "Bluebird" not in page.content()
    _photograph(page, shots, "customer-portal")

    page.goto(acme + "/shop/")
    _brand_is_shown(page, "Acme Web Hosting", logo=True)
    _photograph(page, shots, "shop")
    page.context.close()

    staff = browser.new_context(viewport=DESKTOP).new_page()
    refused += _watch_policy(staff)
    sign_in(staff, acme, "owner@acme.test")
    staff.goto(acme + "/staff/")
    _brand_is_shown(staff, "Acme Web Hosting", logo=True)
    _photograph(staff, shots, "reseller-staff")

    # The identity screen's preview follows the colour picked, before saving.
    staff.goto(acme + "/staff/identity/")
    preview_button = staff.locator("[data-brand-preview] .btn-primary")
    staff.locator("input[name=brand_color]").fill("#1e3a8a")
    staff.wait_for_function(
        "() => getComputedStyle(document.querySelector('[data-brand-preview] .btn-primary'))"
        ".backgroundColor === 'rgb(30, 58, 138)'"
    )
    assert preview_button.evaluate("b => getComputedStyle(b).color") == "rgb(255, 255, 255)"
    staff.locator("[data-brand-preview]").scroll_into_view_if_needed()
    _photograph(staff, shots, "reseller-identity")
    staff.context.close()

    assert refused == []


def test_the_operator_sees_its_own_brand_not_a_resellers(
    browser, live_url, branded_acme, operator_apps, shots
):
    operator = live_url.format(host="upline.localhost")
    page = browser.new_context(viewport=DESKTOP).new_page()
    refused = _watch_policy(page)
    sign_in(page, operator, "owner@operator.test")
    pass_second_step(page, operator_apps["owner@operator.test"])
    page.goto(operator + "/console/")
    _brand_is_shown(page, "Upline Hosting", logo=False)
    assert "Acme Web Hosting" not in page.locator("header.topbar").inner_text()
    assert page.locator("header.topbar img.brand-logo").count() == 0
    _photograph(page, shots, "operator-console")
    page.context.close()
    assert refused == []


def _suspend(slug: str) -> bool:
    reseller_suspend(reseller=Reseller.objects.get(slug=slug), reason="browser test")
    return True


def _resume(slug: str) -> bool:
    reseller_resume(reseller=Reseller.objects.get(slug=slug))
    return True


def test_the_suspension_page_wears_the_resellers_brand(browser, live_url, branded_acme, shots):
    in_own_connection(_suspend, "acme")
    try:
        acme = live_url.format(host="acme.upline.localhost")
        page = browser.new_context(viewport=DESKTOP).new_page()
        brand_css = []
        page.on(
            "response",
            lambda r: brand_css.append(r.status) if "/brand.css" in r.url else None,
        )
        response = page.goto(acme + "/portal/")
        assert response.status == 503
        assert "temporarily unavailable" in page.content()
        _brand_is_shown(page, "Acme Web Hosting", logo=True)
        assert brand_css == [200]
        _photograph(page, shots, "suspended")
        page.context.close()
    finally:
        in_own_connection(_resume, "acme")
