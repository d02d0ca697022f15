"""Stripe webhooks (issue 11): events built and signed in the test with the endpoint's
secret, posted to the platform and Connect endpoints on the base domain, routed by
`event.account` to the instance that owns the account and applied there once."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from shared_apps.stripe_webhooks.models import StripeEvent
from tenant_apps.billing import services as billing
from tenant_apps.billing.models import Invoice, Payment
from tenant_apps.cards.models import CardConnection, CardDispute, CardPayment, CardRefund
from tenant_apps.cards.ports import account_connected
from tenant_apps.instance.models import AuditEvent
from tests import stripe_fixtures
from tests.billing_fixtures import make_customer, setup_issuer
from tests.conftest import OPERATOR_HOST
from tests.stripe_fixtures import CONNECT_SECRET, PLATFORM_SECRET, signed_event

stripe_keys = stripe_fixtures.stripe_keys  # the fixture, found by name

CONNECT = "/stripe/webhooks/connect/"
PLATFORM = "/stripe/webhooks/platform/"
INTENT = "pi_hook_0001"
CHARGE = "ch_hook_0001"


def _connected(info, account_id: str) -> None:
    with schema_context(info.schema_name):
        CardConnection.objects.create(account_id=account_id, charges_enabled=True)
        account_connected.send(
            sender=CardConnection, schema_name=info.schema_name, account_id=account_id
        )


def _awaiting_card(schema_name: str, intent_id: str = INTENT) -> tuple[int, int]:
    """An issued invoice of 120.00 and a card payment on `intent_id` in that schema."""
    with schema_context(schema_name):
        setup_issuer("FR")
        customer = make_customer("Hook Customer")
        draft = billing.invoice_create_draft(
            customer=customer, lines=[{"description": "Hosting", "unit_price": "100"}]
        )
        invoice = billing.invoice_issue(invoice=draft)
        card_payment = CardPayment.objects.create(
            invoice=invoice,
            customer=customer,
            amount=invoice.total,
            currency="EUR",
            intent_id=intent_id,
        )
        return invoice.pk, card_payment.pk


def _intent(status: str = "succeeded", **extra) -> dict:
    return {
        "id": INTENT,
        "object": "payment_intent",
        "amount": 12000,
        "amount_received": 12000 if status == "succeeded" else 0,
        "currency": "eur",
        "status": status,
        "latest_charge": CHARGE,
        **extra,
    }


def _charge(**extra) -> dict:
    return {
        "id": CHARGE,
        "object": "charge",
        "payment_intent": INTENT,
        "amount": 12000,
        "amount_captured": 12000,
        "amount_refunded": 0,
        "currency": "eur",
        "paid": True,
        "status": "succeeded",
        **extra,
    }


def _post(path: str, body: bytes, signature: str):
    return Client(HTTP_HOST=OPERATOR_HOST).post(
        path, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )


@pytest.fixture
def routed(instance_a, instance_b, stripe_keys, django_capture_on_commit_callbacks):
    """ACME and Bluebird each own a connected account; each (and the operator) has a card
    payment on the same intent id, so a misrouted event would show."""
    _connected(instance_a, "acct_acme")
    _connected(instance_b, "acct_bluebird")
    invoices = {schema: _awaiting_card(schema)[0] for schema in ("r_acme", "r_bluebird", "public")}

    def deliver(path, event_type, obj, *, secret=CONNECT_SECRET, **kwargs):
        body, signature = signed_event(event_type, obj, secret=secret, **kwargs)
        with django_capture_on_commit_callbacks(execute=True):
            return _post(path, body, signature)

    return deliver, invoices


def _payments(schema_name: str) -> list[Payment]:
    with schema_context(schema_name):
        return list(Payment.objects.all())


def _invoice(schema_name: str, pk: int) -> Invoice:
    with schema_context(schema_name):
        return Invoice.objects.get(pk=pk)


def test_a_connect_event_pays_the_invoice_of_the_accounts_instance_and_nowhere_else(routed):
    deliver, invoices = routed
    response = deliver(CONNECT, "payment_intent.succeeded", _intent(), account="acct_acme")
    assert response.status_code == 200
    [payment] = _payments("r_acme")
    assert payment.method == "card" and payment.reference == INTENT
    assert payment.amount == Decimal("120.00")
    assert _invoice("r_acme", invoices["r_acme"]).status == Invoice.Status.PAID
    assert _payments("r_bluebird") == [] and _payments("public") == []
    event = StripeEvent.objects.get()
    assert (event.schema_name, event.outcome) == ("r_acme", "applied")
    assert event.processed_at is not None


def test_a_platform_event_without_account_pays_in_the_operators_instance(routed):
    deliver, invoices = routed
    response = deliver(PLATFORM, "payment_intent.succeeded", _intent(), secret=PLATFORM_SECRET)
    assert response.status_code == 200
    assert len(_payments("public")) == 1
    assert _payments("r_acme") == [] and _payments("r_bluebird") == []
    assert _invoice("public", invoices["public"]).status == Invoice.Status.PAID


def test_the_same_event_delivered_three_times_records_one_payment(routed):
    deliver, _ = routed
    for _ in range(3):
        answer = deliver(
            CONNECT, "payment_intent.succeeded", _intent(), account="acct_acme", event_id="evt_1"
        )
        assert answer.status_code == 200
    assert len(_payments("r_acme")) == 1
    assert StripeEvent.objects.count() == 1
    # The same news under another event id (Stripe retries the intent's news) adds nothing.
    deliver(CONNECT, "payment_intent.succeeded", _intent(), account="acct_acme", event_id="e2")
    assert len(_payments("r_acme")) == 1 and StripeEvent.objects.count() == 2


def test_a_bad_signature_is_refused_and_nothing_is_written(routed):
    body, signature = signed_event(
        "payment_intent.succeeded", _intent(), secret="whsec_wrong", account="acct_acme"
    )
    response = _post(CONNECT, body, signature)
    assert response.status_code == 400
    # The platform secret does not sign Connect events either, nor a body changed after.
    body, signature = signed_event(
        "payment_intent.succeeded", _intent(), secret=PLATFORM_SECRET, account="acct_acme"
    )
    assert _post(CONNECT, body, signature).status_code == 400
    body, signature = signed_event(
        "payment_intent.succeeded", _intent(), secret=CONNECT_SECRET, account="acct_acme"
    )
    assert _post(CONNECT, body.replace(b"12000", b"99999"), signature).status_code == 400
    assert _post(CONNECT, body, "").status_code == 400
    assert not StripeEvent.objects.exists() and _payments("r_acme") == []


def test_an_event_for_an_unknown_account_is_acknowledged_and_nothing_is_written(routed):
    deliver, _ = routed
    response = deliver(CONNECT, "payment_intent.succeeded", _intent(), account="acct_stranger")
    assert response.status_code == 200
    assert "Unknown account" in response.json()["detail"]
    assert not StripeEvent.objects.exists()
    assert _payments("r_acme") == _payments("r_bluebird") == _payments("public") == []


def test_an_event_in_the_other_mode_than_our_keys_is_refused(routed):
    deliver, _ = routed
    response = deliver(
        CONNECT, "payment_intent.succeeded", _intent(), account="acct_acme", livemode=True
    )
    assert response.status_code == 400
    assert not StripeEvent.objects.exists() and _payments("r_acme") == []


def test_endpoints_refuse_everything_while_no_secret_is_configured(routed, settings):
    settings.UPLINE_STRIPE_CONNECT_WEBHOOK_SECRET = ""
    deliver, _ = routed
    assert (
        deliver(CONNECT, "payment_intent.succeeded", _intent(), account="acct_acme").status_code
        == 400
    )
    assert not StripeEvent.objects.exists()


def _end_state(schema_name: str, invoice_pk: int) -> dict:
    with schema_context(schema_name):
        invoice = Invoice.objects.get(pk=invoice_pk)
        [payment] = Payment.objects.all()
        return {
            "invoice": invoice.status,
            "paid": invoice.amount_paid,
            "credited": invoice.amount_credited,
            "payment": payment.amount,
            "refunded": payment.refunded_amount,
            "credit_notes": [
                n.total for n in Invoice.objects.filter(kind=Invoice.Kind.CREDIT_NOTE)
            ],
            "card": CardPayment.objects.get().status,
            "card_refunds": [(r.amount, r.status) for r in CardRefund.objects.all()],
        }


def test_a_refund_delivered_before_the_payments_success_ends_as_in_order(routed):
    deliver, invoices = routed
    refunded = _charge(amount_refunded=12000, refunded=True)
    # Bluebird hears it in order, ACME the other way round.
    deliver(CONNECT, "payment_intent.succeeded", _intent(), account="acct_bluebird")
    deliver(CONNECT, "charge.refunded", refunded, account="acct_bluebird")
    deliver(CONNECT, "charge.refunded", refunded, account="acct_acme")
    deliver(CONNECT, "payment_intent.succeeded", _intent(), account="acct_acme")
    in_order = _end_state("r_bluebird", invoices["r_bluebird"])
    reversed_order = _end_state("r_acme", invoices["r_acme"])
    assert in_order == reversed_order
    assert reversed_order["invoice"] == Invoice.Status.CREDITED
    assert reversed_order["credit_notes"] == [Decimal("120.00")]
    assert reversed_order["card_refunds"] == [(Decimal("120.00"), "succeeded")]


def test_a_late_failure_after_the_success_changes_nothing(routed):
    deliver, invoices = routed
    deliver(CONNECT, "payment_intent.succeeded", _intent(), account="acct_acme")
    failed = _intent(
        "requires_payment_method", last_payment_error={"message": "Your card was declined."}
    )
    deliver(CONNECT, "payment_intent.payment_failed", failed, account="acct_acme")
    with schema_context("r_acme"):
        assert CardPayment.objects.get().status == CardPayment.Status.SUCCEEDED
    assert _invoice("r_acme", invoices["r_acme"]).status == Invoice.Status.PAID


def test_a_failed_payment_event_records_the_reason(routed):
    deliver, invoices = routed
    failed = _intent(
        "requires_payment_method", last_payment_error={"message": "Insufficient funds."}
    )
    deliver(CONNECT, "payment_intent.payment_failed", failed, account="acct_acme")
    with schema_context("r_acme"):
        card_payment = CardPayment.objects.get()
        assert card_payment.status == CardPayment.Status.FAILED
        assert card_payment.failure_message == "Insufficient funds."
        assert AuditEvent.objects.filter(action="cardpayment.failed").count() == 1
    assert _invoice("r_acme", invoices["r_acme"]).status == Invoice.Status.ISSUED


def test_a_dispute_is_recorded_once_and_flagged_on_the_invoice(routed, instance_a):
    deliver, invoices = routed
    deliver(CONNECT, "payment_intent.succeeded", _intent(), account="acct_acme")
    dispute = {
        "id": "dp_0001",
        "object": "dispute",
        "charge": CHARGE,
        "payment_intent": INTENT,
        "amount": 12000,
        "currency": "eur",
        "reason": "fraudulent",
        "status": "needs_response",
    }
    for _ in range(2):
        deliver(CONNECT, "charge.dispute.created", dispute, account="acct_acme", event_id="evt_d")
    deliver(CONNECT, "charge.dispute.created", dispute, account="acct_acme", event_id="evt_d2")
    with schema_context("r_acme"):
        [row] = CardDispute.objects.all()
        assert row.amount == Decimal("120.00") and row.reason == "fraudulent"
        assert CardPayment.objects.get().disputed
        [event] = AuditEvent.objects.filter(action="invoice.card_disputed")
        assert event.object_id == str(invoices["r_acme"])
    from tests.conftest import client_for

    page = client_for(instance_a, instance_a.owner).get(
        f"/staff/billing/invoices/{invoices['r_acme']}/"
    )
    assert "Disputed" in page.content.decode() and "fraudulent" in page.content.decode()


def test_account_updated_keeps_the_connection_status_current(routed):
    deliver, _ = routed
    account = {
        "id": "acct_acme",
        "object": "account",
        "charges_enabled": False,
        "payouts_enabled": False,
        "details_submitted": True,
        "requirements": {
            "currently_due": ["individual.verification.document"],
            "past_due": ["external_account"],
            "disabled_reason": "requirements.past_due",
        },
    }
    deliver(CONNECT, "account.updated", account, account="acct_acme")
    with schema_context("r_acme"):
        row = CardConnection.objects.get()
        assert not row.charges_enabled and row.details_submitted
        assert row.requirements_due == ["external_account", "individual.verification.document"]
        assert row.disabled_reason == "requirements.past_due"
        assert AuditEvent.objects.filter(action="cardconnection.updated").exists()
    with schema_context("r_bluebird"):
        assert CardConnection.objects.get().charges_enabled


def test_the_webhook_endpoints_exist_only_on_the_base_domain(routed, instance_a):
    body, signature = signed_event(
        "payment_intent.succeeded", _intent(), secret=CONNECT_SECRET, account="acct_acme"
    )
    response = Client(HTTP_HOST=instance_a.host).post(
        CONNECT, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )
    assert response.status_code == 404
    assert Client(HTTP_HOST=OPERATOR_HOST).get(CONNECT).status_code == 405


def test_processing_a_stored_event_twice_applies_it_once(routed):
    from shared_apps.stripe_webhooks.services import event_process

    deliver, _ = routed
    deliver(CONNECT, "payment_intent.succeeded", _intent(), account="acct_acme")
    event = StripeEvent.objects.get()
    assert event_process(event_pk=event.pk) == "applied"  # a redelivered task, the sweep
    assert len(_payments("r_acme")) == 1


def test_an_event_whose_instance_is_gone_is_closed_without_touching_another(routed):
    from shared_apps.stripe_webhooks.services import event_process

    body, _ = signed_event("payment_intent.succeeded", _intent(), secret=CONNECT_SECRET)
    event = StripeEvent.objects.create(
        event_id="evt_gone",
        type="payment_intent.succeeded",
        endpoint="connect",
        account_id="acct_gone",
        schema_name="r_deleted_meanwhile",
        payload=json.loads(body),
    )
    assert event_process(event_pk=event.pk) == "instance gone"
    event.refresh_from_db()
    assert event.processed_at is not None
    assert _payments("public") == [] and _payments("r_acme") == []
