"""In a real browser with localstripe's fake Stripe.js: a reseller suspended for non-payment
is not locked out of paying. Its owner signs in, sees the banner, is refused a write, opens
Supplier bills, pays the overdue bill by card on the operator's (platform) Stripe account,
and the instance answers again — the banner is gone and the refused write goes through."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from shared_apps.tenancy.models import Reseller
from tenant_apps.billing.models import Invoice
from tenant_apps.cards.models import SavedCard
from tests import stripe_fixtures
from tests.browser.committed import in_own_connection
from tests.conftest import PASSWORD
from tests.supplier_fixtures import forget_debt, owe_and_hold

pytestmark = pytest.mark.browser

localstripe_url = stripe_fixtures.localstripe_url
stripe_keys = stripe_fixtures.stripe_keys
localstripe = stripe_fixtures.localstripe

NEW_HIRE = "newhire@acme.test"
BANNER = "This instance is suspended for non-payment — pay your supplier bills to resume."


def _cleanup(state: dict) -> bool:
    with schema_context("r_acme"):
        get_user_model().objects.filter(email=NEW_HIRE).delete()
    forget_debt(state)
    return True


@pytest.fixture
def acme_owes(db, localstripe):
    """Acme owes its plan bill and billing suspended it (committed; undone afterwards)."""
    state = in_own_connection(owe_and_hold, "acme")
    yield state
    in_own_connection(_cleanup, state)


def _books(state: dict) -> dict:
    reseller = Reseller.objects.get(pk=state["reseller"])
    with schema_context("public"):
        return {
            "status": reseller.status,
            "held": reseller.held_by_billing,
            "invoice": Invoice.objects.get(pk=state["invoice"]).status,
            "cards": list(
                SavedCard.objects.filter(customer_id=state["customer"]).values_list(
                    "last4", flat=True
                )
            ),
        }


def _invite(page, acme: str) -> None:
    page.goto(acme + "/staff/team/")
    page.fill("input[name=email]", NEW_HIRE)
    with page.expect_navigation():
        page.get_by_role("button", name="Send invitation").click()


def test_a_suspended_reseller_pays_its_overdue_bill_by_card_and_answers_again(
    browser, live_url, acme_owes, localstripe
):
    assert in_own_connection(_books, acme_owes)["status"] == "suspended"
    acme = live_url.format(host="acme.upline.localhost")
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(15_000)

    # Held, not locked out: the owner signs in and reads the staff area under the banner.
    page.goto(acme + "/accounts/login/")
    page.fill("input[name=username]", "owner@acme.test")
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert page.url.endswith("/staff/")
    assert BANNER in page.locator("[data-payment-hold]").inner_text()

    # Every other write is refused, politely, and nothing changes.
    _invite(page, acme)
    assert "503 · Read-only" in page.content()
    assert "suspended for non-payment" in page.content()

    # The way out: Supplier bills, "Pay by card", the card form on the platform account.
    page.goto(acme + "/staff/")
    page.get_by_role("link", name="Go to Supplier bills").click()
    page.get_by_role("link", name=re.compile("^Pay .* by card$")).click()
    form = page.locator("form[data-card-pay]")
    assert form.get_attribute("data-stripe-account") == ""
    page.wait_for_selector("[data-card-element] input")
    card = "[data-card-element] input[placeholder={}]"
    page.fill(card.format("number"), "4242424242424242")
    page.fill(card.format("exp_month"), "12")
    page.fill(card.format("exp_year"), "30")
    page.fill(card.format("cvc"), "123")
    page.fill(card.format("postal_code"), "75001")
    page.get_by_label("Remember this card for later payments").check()
    page.get_by_role("button", name=re.compile("^Pay ")).click()

    page.wait_for_url(re.compile(r".*/staff/supplier-bills/payments/\d+/$"))
    assert "was received" in page.content()
    assert "Your instance is active again" in page.content()
    assert page.locator("[data-payment-hold]").count() == 0

    books = in_own_connection(_books, acme_owes)
    assert books == {"status": "active", "held": False, "invoice": "paid", "cards": ["4242"]}

    # The instance answers again: no banner, and the write refused before goes through.
    page.goto(acme + "/staff/")
    assert page.locator("[data-payment-hold]").count() == 0
    _invite(page, acme)
    assert "503" not in page.content()

    def invited() -> bool:
        with schema_context("r_acme"):
            return get_user_model().objects.filter(email=NEW_HIRE).exists()

    assert in_own_connection(invited)
