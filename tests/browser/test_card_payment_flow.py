"""In a real browser with localstripe's fake Stripe.js: a customer pays an invoice by card
with a card that asks for 3-D Secure, completes the bank's step, and lands on a result page
that shows the invoice paid (the server asked Stripe: no webhook is needed)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from tenant_apps.billing import services as billing
from tenant_apps.billing.models import (
    CreditEntry,
    Invoice,
    InvoiceLine,
    NumberSequence,
    Payment,
    PaymentAllocation,
    TaxRate,
)
from tenant_apps.cards.models import CardConnection, CardPayment
from tenant_apps.catalog.models import TaxClass
from tenant_apps.clients.models import Customer
from tests import stripe_fixtures
from tests.browser.committed import in_own_connection
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

localstripe_url = stripe_fixtures.localstripe_url  # the session's fake Stripe (by name)
stripe_keys = stripe_fixtures.stripe_keys
localstripe = stripe_fixtures.localstripe
CUSTOMER_NAME = "Browser Card Customer"


def _prepare() -> dict:
    with schema_context("r_acme"):
        state = {
            "sequences": dict(NumberSequence.objects.values_list("pk", "next_number")),
            "tax_rates": set(TaxRate.objects.values_list("pk", flat=True)),
        }
        TaxRate.objects.get_or_create(
            country="FR",
            tax_class=TaxClass.objects.get(code="standard"),
            defaults={"rate": Decimal("20")},
        )
        CardConnection.objects.create(account_id="acct_browser_acme", charges_enabled=True)
        customer = Customer.objects.create(
            kind="person",
            name=CUSTOMER_NAME,
            email="customer@acme.test",
            country="FR",
            currency="EUR",
            user=get_user_model().objects.get(email="customer@acme.test"),
        )
        draft = billing.invoice_create_draft(
            customer=customer, lines=[{"description": "Hosting", "unit_price": "100"}]
        )
        invoice = billing.invoice_issue(invoice=draft)
        state.update(customer=customer.pk, invoice=invoice.pk)
        return state


def _cleanup(state: dict) -> bool:
    with schema_context("r_acme"):
        customer = state["customer"]
        CardPayment.objects.filter(customer_id=customer).delete()
        PaymentAllocation.objects.filter(payment__customer_id=customer).delete()
        CreditEntry.objects.filter(customer_id=customer).delete()
        Payment.objects.filter(customer_id=customer).delete()
        InvoiceLine.objects.filter(invoice__customer_id=customer).delete()
        Invoice.objects.filter(customer_id=customer).delete()
        Customer.objects.filter(pk=customer).delete()
        CardConnection.objects.filter(account_id="acct_browser_acme").delete()
        TaxRate.objects.exclude(pk__in=state["tax_rates"]).delete()
        # Gap-free counters go back to where they were: later tests read the numbers.
        NumberSequence.objects.exclude(pk__in=state["sequences"]).delete()
        for pk, next_number in state["sequences"].items():
            NumberSequence.objects.filter(pk=pk).update(next_number=next_number)
    return True


@pytest.fixture
def card_invoice(db, localstripe):
    state = in_own_connection(_prepare)
    yield state
    in_own_connection(_cleanup, state)


def _complete_3d_secure(page) -> None:
    """localstripe's Stripe.js asks as a bank would: confirm or fail the authentication."""
    page.get_by_role("button", name="Complete authentication").click()


def test_a_customer_pays_an_invoice_by_card_through_3d_secure(
    browser, live_url, card_invoice, localstripe
):
    acme = live_url.format(host="acme.upline.localhost")
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(15_000)
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.goto(acme + "/accounts/login/")
    page.fill("input[name=username]", "customer@acme.test")
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()

    page.goto(f"{acme}/portal/billing/invoices/{card_invoice['invoice']}/")
    page.get_by_role("link", name="Pay by card").click()
    page.wait_for_selector("[data-card-element] input")
    card = "[data-card-element] input[placeholder={}]"
    page.fill(card.format("number"), "4000002500003155")  # asks for 3-D Secure
    page.fill(card.format("exp_month"), "12")
    page.fill(card.format("exp_year"), "30")
    page.fill(card.format("cvc"), "123")
    page.fill(card.format("postal_code"), "75001")
    page.get_by_role("button", name=re.compile("^Pay ")).click()
    _complete_3d_secure(page)  # the card's set-up
    _complete_3d_secure(page)  # the payment itself
    page.wait_for_url(re.compile(r".*/portal/cards/payments/\d+/$"))
    assert "was received" in page.content()
    assert "is paid" in page.content()
    assert refused == []

    def paid() -> str:
        with schema_context("r_acme"):
            return Invoice.objects.get(pk=card_invoice["invoice"]).status

    assert in_own_connection(paid) == Invoice.Status.PAID
