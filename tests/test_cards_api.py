"""Card payments API (issue 11): card payments and their filters, an invoice's card status,
refunds to the card (same service and rules as the staff screen), a customer's saved
payment methods (read; delete detaches in localstripe), roles, isolation and the schema."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from tenant_apps.accounts.models import Role
from tenant_apps.billing.models import Invoice
from tenant_apps.cards import services
from tenant_apps.cards.models import CardPayment, CardRefund, SavedCard
from tenant_apps.clients.models import Customer
from tenant_apps.instance.models import AuditEvent
from tests import stripe_fixtures, test_cards
from tests.billing_fixtures import make_customer, setup_issuer
from tests.test_billing_api import Api
from tests.test_card_methods import VISA_DEBIT, _stripe, _stripe_method, save_card
from tests.test_cards import VISA, _issued, _pay

localstripe_url = stripe_fixtures.localstripe_url
stripe_keys = stripe_fixtures.stripe_keys
localstripe = stripe_fixtures.localstripe
fake_connect = stripe_fixtures.fake_connect
acme = test_cards.acme

BILLING = "billing@acme.test"


@pytest.fixture
def billing(acme) -> Api:
    get_user_model().objects.create_user(
        email=BILLING, password="billing-pass-123456", role=Role.BILLING
    )
    return Api(acme.info, BILLING)


@pytest.fixture
def support(acme) -> Api:
    return Api(acme.info, acme.info.support)


def _in_acme(acme, func):
    with schema_context(acme.info.schema_name):
        return func()


# --------------------------------------------------------------------------------------
# Card payments and an invoice's status


def test_staff_list_card_payments_filtered_by_status_invoice_customer_and_dispute(acme, support):
    paid_invoice, open_invoice = _issued(acme.customer), _issued(acme.customer, "50")
    other = make_customer("Otto Other")
    others_invoice = _issued(other)
    _, paid = _pay(acme, paid_invoice, VISA)
    CardPayment.objects.filter(pk=paid.card_payment.pk).update(disputed=True)
    services.card_payment_start(invoice=open_invoice)
    services.card_payment_start(invoice=others_invoice)

    def ids(**params):
        response = support.get("card-payments/", **params)
        assert response.status_code == 200, response.content
        return [row["invoice"] for row in response.json()["results"]]

    assert sorted(ids()) == sorted([paid_invoice.pk, open_invoice.pk, others_invoice.pk])
    assert ids(status="succeeded") == [paid_invoice.pk]
    assert ids(invoice=open_invoice.pk) == [open_invoice.pk]
    assert ids(customer=other.pk) == [others_invoice.pk]
    assert ids(disputed="true") == [paid_invoice.pk]
    row = support.get(f"card-payments/{paid.card_payment.pk}/").json()
    assert row["amount"] == "120.00" and row["refundable"] == "120.00"
    assert row["status_label"] == "Paid" and row["intent_id"].startswith("pi_")
    bad = support.get("card-payments/", status="paid-ish")
    assert bad.status_code == 400 and "status" in bad.json()


def test_the_card_status_of_an_invoice_follows_its_card_payment(acme, support):
    invoice = _issued(acme.customer)
    before = support.get(f"invoices/{invoice.pk}/card-status/").json()
    assert before["card_status"] is None and before["card_payments"] == []
    assert before["cards_ready"] is True and before["payable_by_card"] is True
    assert before["amount_due"] == "120.00" and before["currency"] == "EUR"
    _pay(acme, invoice, VISA)
    after = support.get(f"invoices/{invoice.pk}/card-status/").json()
    assert after["card_status"] == "succeeded" and after["invoice_status"] == "paid"
    assert after["payable_by_card"] is False and after["amount_due"] == "0.00"
    assert after["invoice_number"] == Invoice.objects.get(pk=invoice.pk).number


# --------------------------------------------------------------------------------------
# Refunds


def test_billing_staff_refund_part_of_a_card_payment_and_a_credit_note_is_issued(acme, billing):
    invoice = _issued(acme.customer)
    _, result = _pay(acme, invoice, VISA)
    response = billing.post(
        f"card-payments/{result.card_payment.pk}/refund/",
        {"amount": "50.00", "reason": "Downgrade"},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["amount"] == "50.00" and body["status"] == "succeeded"
    assert body["stripe_refund_id"].startswith("re_") and body["credit_notes"][0].startswith("CN")
    charge = _stripe(acme.base).v1.charges.retrieve(result.card_payment.charge_id)
    assert charge.amount_refunded == 5000
    left = billing.get(f"card-payments/{result.card_payment.pk}/").json()
    assert left["refundable"] == "70.00" and len(left["refunds"]) == 1
    event = AuditEvent.objects.get(action="cardpayment.refunded")
    assert event.actor.email == BILLING


def test_a_refund_beyond_what_was_paid_is_a_400_and_nothing_reaches_stripe(acme, billing):
    _, result = _pay(acme, _issued(acme.customer), VISA)
    pk = result.card_payment.pk
    too_much = billing.post(f"card-payments/{pk}/refund/", {"amount": "120.01", "reason": "x"})
    assert too_much.status_code == 400
    assert too_much.json() == {"amount": ["Refund more than 0 and at most 120.00 EUR."]}
    no_reason = billing.post(f"card-payments/{pk}/refund/", {"amount": "1.00", "reason": "  "})
    assert no_reason.status_code == 400 and "reason" in no_reason.json()
    not_a_number = billing.post(f"card-payments/{pk}/refund/", {"amount": "lots", "reason": "x"})
    assert not_a_number.status_code == 400 and "amount" in not_a_number.json()
    assert not CardRefund.objects.exists()
    assert (
        _stripe(acme.base).v1.charges.retrieve(result.card_payment.charge_id).amount_refunded == 0
    )


def test_refunding_a_card_payment_that_is_not_paid_is_a_409(acme, billing):
    checkout = services.card_payment_start(invoice=_issued(acme.customer))
    response = billing.post(
        f"card-payments/{checkout.card_payment.pk}/refund/", {"amount": "1.00", "reason": "x"}
    )
    assert response.status_code == 409
    assert response.json() == {
        "detail": "Only a paid card payment can be refunded.",
        "code": "card_payment",
    }


def test_support_reads_card_payments_but_cannot_refund(acme, support):
    _, result = _pay(acme, _issued(acme.customer), VISA)
    pk = result.card_payment.pk
    assert support.get(f"card-payments/{pk}/").status_code == 200
    refused = support.post(f"card-payments/{pk}/refund/", {"amount": "1.00", "reason": "x"})
    assert refused.status_code == 403
    assert (
        refused.json()["detail"] == "Only the owner, administrators and billing staff can do this."
    )
    assert not CardRefund.objects.exists()


def test_a_customer_login_cannot_use_the_card_api(acme):
    invoice = _issued(acme.customer)
    card = SavedCard.objects.create(customer=acme.customer, payment_method_id="pm_custApi1")
    customer = Api(acme.info, acme.info.customer)
    assert customer.get("card-payments/").status_code == 403
    assert customer.get(f"invoices/{invoice.pk}/card-status/").status_code == 403
    assert customer.get(f"customers/{acme.customer.pk}/payment-methods/").status_code == 403
    path = f"customers/{acme.customer.pk}/payment-methods/{card.pk}/"
    assert customer.delete(path).status_code == 403
    assert SavedCard.objects.filter(pk=card.pk).exists()


# --------------------------------------------------------------------------------------
# Saved payment methods


def test_staff_read_a_customers_payment_methods_and_automatic_payment_choice(acme, support):
    first = save_card(acme.base, acme.customer, VISA)
    save_card(acme.base, acme.customer, VISA_DEBIT)
    services.card_settings_update(customer=acme.customer, auto_charge_renewals=True)
    body = support.get(f"customers/{acme.customer.pk}/payment-methods/").json()
    assert body["customer"] == acme.customer.pk and body["auto_charge_renewals"] is True
    assert [(m["last4"], m["is_default"]) for m in body["payment_methods"]] == [
        ("4242", True),
        ("5556", False),
    ]
    one = support.get(f"customers/{acme.customer.pk}/payment-methods/{first.pk}/").json()
    assert (one["brand"], one["exp_month"], one["exp_year"]) == ("visa", 12, 2030)
    assert "payment_method_id" not in one  # Stripe's handle stays on the server
    empty = make_customer("Nell Nocard")
    assert support.get(f"customers/{empty.pk}/payment-methods/").json() == {
        "customer": empty.pk,
        "auto_charge_renewals": False,
        "payment_methods": [],
    }


def test_deleting_a_payment_method_detaches_it_in_stripe_and_forgets_it(acme, billing):
    card = save_card(acme.base, acme.customer, VISA)
    assert _stripe_method(acme.base, card.payment_method_id).customer is not None
    response = billing.delete(f"customers/{acme.customer.pk}/payment-methods/{card.pk}/")
    assert response.status_code == 204
    assert _stripe_method(acme.base, card.payment_method_id).customer is None
    assert not SavedCard.objects.filter(pk=card.pk).exists()
    event = AuditEvent.objects.get(action="savedcard.removed")
    assert event.actor.email == BILLING and event.customer_id == acme.customer.pk
    again = billing.delete(f"customers/{acme.customer.pk}/payment-methods/{card.pk}/")
    assert again.status_code == 404


def test_support_cannot_delete_a_payment_method(acme, support):
    card = save_card(acme.base, acme.customer, VISA)
    response = support.delete(f"customers/{acme.customer.pk}/payment-methods/{card.pk}/")
    assert response.status_code == 403
    assert SavedCard.objects.filter(pk=card.pk).exists()
    assert _stripe_method(acme.base, card.payment_method_id).customer is not None


def test_another_customers_payment_method_answers_404(acme, billing):
    card = SavedCard.objects.create(customer=acme.customer, payment_method_id="pm_carlaOnly1")
    other = make_customer("Olga Other")
    path = f"customers/{other.pk}/payment-methods/{card.pk}/"
    assert billing.get(path).status_code == 404
    assert billing.delete(path).status_code == 404
    assert SavedCard.objects.filter(pk=card.pk).exists()
    missing = billing.get(f"customers/{other.pk + 1000}/payment-methods/")
    assert missing.status_code == 404 and missing.json() == {"detail": "No such customer."}


def test_deleting_without_keys_is_a_409_and_the_card_is_kept(instance_a, settings):
    settings.UPLINE_STRIPE_SECRET_KEY = ""
    with schema_context(instance_a.schema_name):
        customer = make_customer("Kim Keyless")
        card = SavedCard.objects.create(customer=customer, payment_method_id="pm_keyless1")
    owner = Api(instance_a, instance_a.owner)
    response = owner.delete(f"customers/{customer.pk}/payment-methods/{card.pk}/")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "Card payments are not set up.",
        "code": "cards_not_set_up",
    }
    with schema_context(instance_a.schema_name):
        assert SavedCard.objects.filter(pk=card.pk).exists()


# --------------------------------------------------------------------------------------
# Another instance


def test_another_instance_cannot_reach_this_instances_card_payments_or_cards(acme, instance_b):
    invoice = _issued(acme.customer)
    _, result = _pay(acme, invoice, VISA)
    card = SavedCard.objects.create(customer=acme.customer, payment_method_id="pm_acmeApi1")
    pk, customer_pk = result.card_payment.pk, acme.customer.pk
    with schema_context(instance_b.schema_name):
        setup_issuer("FR")
        # Nothing with these ids exists in Bluebird's schema: a 404 is the only answer.
        assert not CardPayment.objects.filter(pk=pk).exists()
        assert not Customer.objects.filter(pk=customer_pk).exists()
        assert not Invoice.objects.filter(pk=invoice.pk).exists()
    bluebird = Api(instance_b, instance_b.owner)
    assert bluebird.get(f"card-payments/{pk}/").status_code == 404
    assert bluebird.get("card-payments/").json()["count"] == 0
    refund = bluebird.post(f"card-payments/{pk}/refund/", {"amount": "1.00", "reason": "x"})
    assert refund.status_code == 404
    assert bluebird.get(f"invoices/{invoice.pk}/card-status/").status_code == 404
    assert bluebird.get(f"customers/{customer_pk}/payment-methods/").status_code == 404
    path = f"customers/{customer_pk}/payment-methods/{card.pk}/"
    assert bluebird.delete(path).status_code == 404
    with schema_context(acme.info.schema_name):
        assert SavedCard.objects.filter(pk=card.pk).exists()
        assert not CardRefund.objects.exists()
        assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.PAID


# --------------------------------------------------------------------------------------
# The schema


def test_the_schema_documents_the_card_routes_with_examples(acme, support):
    schema = support.client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    refund = paths["/api/card-payments/{id}/refund/"]["post"]
    assert "examples" in refund["requestBody"]["content"]["application/json"]
    for status in ("201", "400", "402", "409", "502"):
        assert "examples" in refund["responses"][status]["content"]["application/json"], status
    for path in (
        "/api/card-payments/",
        "/api/card-payments/{id}/",
        "/api/invoices/{invoice_pk}/card-status/",
        "/api/customers/{customer_pk}/payment-methods/",
        "/api/customers/{customer_pk}/payment-methods/{id}/",
    ):
        ok = paths[path]["get"]["responses"]["200"]["content"]["application/json"]
        assert "examples" in ok, path
    delete = paths["/api/customers/{customer_pk}/payment-methods/{id}/"]["delete"]
    assert {"204", "403", "404", "409"} <= set(delete["responses"])
    assert Decimal(
        refund["responses"]["201"]["content"]["application/json"]["examples"]["Refunded"]["value"][
            "amount"
        ]
    ) == Decimal("50.00")
