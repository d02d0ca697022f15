"""In a real browser: the language switch is a visible control in the top bar and on the
sign-in page, at desktop and phone widths; choosing French or German turns the page's own
text, dates and money into that language and keeps the choice for the next visit.

Screenshots go to $UPLINE_SCREENSHOT_DIR when set (to look at them), else a temporary
folder."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from tests.browser.committed import in_own_connection
from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


def _languages_reset() -> bool:
    with schema_context("r_acme"):
        get_user_model().objects.filter(email__in=["customer@acme.test", "owner@acme.test"]).update(
            language=""
        )
    return True


@pytest.fixture
def chosen_languages_undone(db):
    in_own_connection(_languages_reset)
    yield
    in_own_connection(_languages_reset)


def _wider_than(page, width: int) -> list[str]:
    """What sticks out past `width` (tag.class and right edge), for the failure message."""
    return page.evaluate(
        "w => Array.from(document.querySelectorAll('body *')).filter(e => "
        "e.getBoundingClientRect().right > w + 1).slice(0, 8).map(e => "
        "e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))",
        width,
    )


def _switch_visible(page) -> None:
    select = page.locator("select[name=language]").first
    assert select.is_visible()
    box = select.bounding_box()
    width = page.viewport_size["width"]
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box
    # Nothing sticks out sideways: the page does not scroll horizontally.
    assert page.evaluate("document.documentElement.scrollWidth") <= width, _wider_than(page, width)


def _choose(page, label: str) -> None:
    with page.expect_navigation():
        page.locator("select[name=language]").first.select_option(label=label)


def test_a_customer_switches_the_sign_in_page_and_the_portal_on_a_phone(
    browser, live_url, chosen_languages_undone, shots
):
    acme = live_url.format(host="acme.upline.localhost")
    page = browser.new_context(viewport=PHONE, locale="en-GB").new_page()
    page.goto(acme + "/accounts/login/")
    _switch_visible(page)
    _choose(page, "Français")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.get_by_role("button", name="Se connecter").is_visible()
    page.screenshot(path=str(shots / "sign-in-fr-390.png"), full_page=True)

    page.fill("input[name=username]", "customer@acme.test")
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Se connecter").click()
    page.goto(acme + "/portal/")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert "Factures" in page.locator("body").inner_text()
    page.screenshot(path=str(shots / "portal-fr-390.png"), full_page=True)
    _switch_visible(page)
    # Signed in, a choice is kept on the login.
    _choose(page, "Deutsch")
    assert page.locator("html").get_attribute("lang") == "de"
    assert "Rechnungen" in page.locator("body").inner_text()
    page.context.close()

    # A new browser that says English gets the login's choice once signed in.
    again = browser.new_context(viewport=DESKTOP, locale="en-GB").new_page()
    sign_in(again, acme, "customer@acme.test")
    again.goto(acme + "/portal/")
    assert again.locator("html").get_attribute("lang") == "de"
    again.context.close()


def test_staff_switch_their_screens_to_german_at_desktop_width(
    browser, live_url, chosen_languages_undone, shots
):
    acme = live_url.format(host="acme.upline.localhost")
    page = browser.new_context(viewport=DESKTOP, locale="en-GB").new_page()
    sign_in(page, acme, "owner@acme.test")
    page.goto(acme + "/staff/")
    _switch_visible(page)
    _choose(page, "Deutsch")
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.get_by_role("button", name="Abmelden").is_visible()
    page.screenshot(path=str(shots / "staff-de-1366.png"), full_page=True)
    page.set_viewport_size(PHONE)
    _switch_visible(page)
    page.screenshot(path=str(shots / "staff-de-390.png"), full_page=True)
    page.context.close()
