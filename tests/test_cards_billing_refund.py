"""A card payment refunded from billing's own screens or API goes back to the card through
Stripe (issue 11): billing asks its `gateway_refund` port, card payments answer with their
one refund service — the Stripe refund (localstripe), then the credit note. A payment no
card payment produced (a bank transfer) is refunded in the books only, as before."""

from __future__ import annotations

from decimal import Decimal

import pytest
import stripe
from django_tenants.utils import schema_context

from tenant_apps.billing import services as billing
from tenant_apps.billing import settlement
from tenant_apps.billing.models import Invoice, Payment, Refund
from tenant_apps.cards import services
from tenant_apps.cards.models import CardPayment, CardRefund
from tests import stripe_fixtures
from tests.billing_fixtures import setup_issuer
from tests.conftest import client_for
from tests.stripe_fixtures import SECRET_KEY, browser_confirm_setup
from tests.test_billing_api import Api
from tests.test_cards import TODAY, VISA, _customer

localstripe_url = stripe_fixtures.localstripe_url
stripe_keys = stripe_fixtures.stripe_keys
localstripe = stripe_fixtures.localstripe
fake_connect = stripe_fixtures.fake_connect


def _charge(base_url: str, charge_id: str):
    client = stripe.StripeClient(SECRET_KEY, base_addresses={"api": base_url})
    return client.v1.charges.retrieve(charge_id)


def _issued(customer, amount: str = "100") -> Invoice:
    draft = billing.invoice_create_draft(
        customer=customer, lines=[{"description": "Hosting", "unit_price": amount}]
    )
    return billing.invoice_issue(invoice=draft, issue_date=TODAY)


@pytest.fixture
def paid(instance_a, localstripe, fake_connect):
    """ACME (connected account) with a 120.00 EUR invoice its customer paid by card."""
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        services.card_connection_connect(
            return_url="https://acme.test/return", refresh_url="https://acme.test/refresh"
        )
        customer = _customer(instance_a, "Carla Card", instance_a.customer)
        invoice = _issued(customer)
        checkout = services.card_payment_start(invoice=invoice)
        method = browser_confirm_setup(localstripe, checkout.setup_client_secret, VISA)
        result = services.card_payment_pay(
            card_payment=checkout.card_payment, payment_method_id=method
        )
        card_payment = CardPayment.objects.get(pk=result.card_payment.pk)
        assert card_payment.status == CardPayment.Status.SUCCEEDED
        yield _Paid(instance_a, customer, invoice, card_payment, localstripe)


class _Paid:
    def __init__(self, info, customer, invoice, card_payment, base):
        self.info, self.customer, self.invoice = info, customer, invoice
        self.card_payment, self.base = card_payment, base
        self.payment = Payment.objects.get(pk=card_payment.payment_id)

    def refund_page(self, client, **fields):
        data = {"action": "refund", "refund-method": "card", "refund-reference": ""}
        data.update({f"refund-{name}": value for name, value in fields.items()})
        return client.post(f"/staff/billing/payments/{self.payment.pk}/", data, follow=True)


def test_a_refund_from_the_billing_payment_page_refunds_the_card_at_stripe(paid):
    owner = client_for(paid.info, paid.info.owner)
    page = owner.get(f"/staff/billing/payments/{paid.payment.pk}/").content.decode()
    assert "goes back to the card through Stripe" in page

    response = paid.refund_page(owner, amount="50.00", reason="Downgrade")
    assert response.status_code == 200
    [card_refund] = CardRefund.objects.filter(card_payment=paid.card_payment)
    assert card_refund.status == CardRefund.Status.SUCCEEDED
    assert card_refund.stripe_refund_id.startswith("re_")
    assert card_refund.origin == CardRefund.Origin.STAFF and card_refund.amount == Decimal("50")
    assert _charge(paid.base, paid.card_payment.charge_id).amount_refunded == 5000
    # The books: one refund, by card, Stripe's refund id as its reference, a credit note.
    [refund] = Refund.objects.filter(payment=paid.payment)
    assert card_refund.refund_id == refund.pk
    assert refund.method == Payment.Method.CARD and refund.reference == card_refund.stripe_refund_id
    [note] = refund.credit_notes.all()
    assert note.kind == Invoice.Kind.CREDIT_NOTE and note.total == Decimal("50.00")
    assert f"credit note {note.number} issued" in response.content.decode()
    paid.payment.refresh_from_db()
    assert paid.payment.refunded_amount == Decimal("50.00")


def test_partial_refunds_from_the_billing_page_add_up_to_the_whole_payment(paid):
    owner = client_for(paid.info, paid.info.owner)
    paid.refund_page(owner, amount="20.00", reason="Goodwill")
    paid.refund_page(owner, amount="100.00", reason="Closed the account")
    assert _charge(paid.base, paid.card_payment.charge_id).amount_refunded == 12000
    assert sorted(r.amount for r in CardRefund.objects.all()) == [Decimal("20"), Decimal("100")]
    assert Refund.objects.filter(payment=paid.payment).count() == 2
    assert Invoice.objects.get(pk=paid.invoice.pk).status == Invoice.Status.CREDITED
    assert CardPayment.objects.get(pk=paid.card_payment.pk).refundable == 0


def test_a_refund_beyond_what_is_left_is_refused_with_a_message_and_nothing_is_sent(paid):
    owner = client_for(paid.info, paid.info.owner)
    paid.refund_page(owner, amount="50.00", reason="Downgrade")
    response = paid.refund_page(owner, amount="70.01", reason="Too much")
    assert response.status_code == 400
    assert "Refund more than 0 and at most 70.00 EUR." in response.content.decode()
    assert CardRefund.objects.count() == 1 and Refund.objects.count() == 1
    assert _charge(paid.base, paid.card_payment.charge_id).amount_refunded == 5000


def test_the_billing_api_refunds_a_card_payment_through_stripe(paid):
    api = Api(paid.info, paid.info.owner)
    response = api.post(
        f"payments/{paid.payment.pk}/refund/",
        {"amount": "30.00", "reason": "Service outage", "waive_periods": True},
    )
    assert response.status_code == 201, response.content
    [card_refund] = CardRefund.objects.all()
    assert card_refund.waive_periods is True
    assert response.json()["reference"] == card_refund.stripe_refund_id
    assert _charge(paid.base, paid.card_payment.charge_id).amount_refunded == 3000

    over = api.post(f"payments/{paid.payment.pk}/refund/", {"amount": "90.01", "reason": "x"})
    assert over.status_code == 400
    assert "at most 90.00 EUR" in over.content.decode()
    assert CardRefund.objects.count() == 1


def test_without_stripe_a_card_payment_refund_is_refused_with_a_message(paid, settings):
    settings.UPLINE_STRIPE_SECRET_KEY = ""
    owner = client_for(paid.info, paid.info.owner)
    response = paid.refund_page(owner, amount="10.00", reason="Goodwill")
    assert response.status_code == 409
    assert "Card payments are not set up." in response.content.decode()
    assert not Refund.objects.exists() and not CardRefund.objects.exists()


def test_staff_paying_a_card_payment_back_by_bank_transfer_book_it_without_stripe(paid):
    owner = client_for(paid.info, paid.info.owner)
    paid.refund_page(owner, amount="40.00", reason="Card expired", method="bank_transfer")
    [refund] = Refund.objects.all()
    assert refund.method == Payment.Method.BANK_TRANSFER and refund.amount == Decimal("40.00")
    assert not CardRefund.objects.exists()
    assert _charge(paid.base, paid.card_payment.charge_id).amount_refunded == 0
    # What is left to give back to the card counts the bank transfer.
    assert CardPayment.objects.get(pk=paid.card_payment.pk).refundable == Decimal("80.00")


def test_a_bank_transfer_payment_is_refunded_in_the_books_without_calling_stripe(
    instance_a, stripe_keys
):
    # Keys are set, but the API base points where nothing listens: a call would fail.
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        customer = _customer(instance_a, "Bernard Bank")
        invoice = _issued(customer)
        payment = billing.payment_record(
            customer=customer, invoice=invoice, amount="120.00", method="bank_transfer"
        )
    owner = client_for(instance_a, instance_a.owner)
    response = owner.post(
        f"/staff/billing/payments/{payment.pk}/",
        {
            "action": "refund",
            "refund-amount": "120.00",
            "refund-reason": "Cancelled",
            "refund-method": "bank_transfer",
            "refund-reference": "VIR-77",
        },
        follow=True,
    )
    assert "Refund of €120.00 recorded; credit note" in response.content.decode()
    with schema_context(instance_a.schema_name):
        [refund] = Refund.objects.all()
        assert refund.reference == "VIR-77" and refund.method == Payment.Method.BANK_TRANSFER
        assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.CREDITED
        assert not CardRefund.objects.exists()


def test_the_book_only_refund_is_what_stripe_refunds_are_booked_with(paid):
    # `payment_refund_book` never asks the gateway (card payments call it once Stripe has
    # refunded); `payment_refund` does.
    refund = settlement.payment_refund_book(
        payment=paid.payment, amount="5", reason="Booked by hand", method="cash"
    )
    assert refund.method == Payment.Method.CASH and not CardRefund.objects.exists()
    through = settlement.payment_refund(payment=paid.payment, amount="5", reason="To the card")
    assert through.method == Payment.Method.CARD
    assert CardRefund.objects.get().refund_id == through.pk
    assert _charge(paid.base, paid.card_payment.charge_id).amount_refunded == 500
