"""Card payments with Stripe Connect (issue 11): paying invoices through localstripe, 3-D
Secure, declines, refunds with their credit notes, onboarding, and what happens without
keys. The gateway talks to a localstripe started once for the session (stripe_fixtures)."""

from __future__ import annotations

import datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
import stripe
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django_tenants.utils import schema_context

from shared_apps.stripe_webhooks.models import StripeAccountRoute
from tenant_apps.billing import services as billing
from tenant_apps.billing.models import Invoice, Payment
from tenant_apps.cards import gateway, services
from tenant_apps.cards.models import (
    CardConnection,
    CardPayment,
    CardRefund,
    SavedCard,
    StripeCustomer,
)
from tenant_apps.instance.models import AuditEvent
from tests import stripe_fixtures
from tests.billing_fixtures import make_customer, setup_issuer
from tests.conftest import client_for
from tests.stripe_fixtures import SECRET_KEY, browser_authenticate, browser_confirm_setup

# The session's localstripe and the Stripe settings (pytest finds fixtures by name here).
localstripe_url = stripe_fixtures.localstripe_url
stripe_keys = stripe_fixtures.stripe_keys
localstripe = stripe_fixtures.localstripe
fake_connect = stripe_fixtures.fake_connect

VISA = "4242424242424242"
DECLINED_ON_CHARGE = "4000000000000341"
THREE_D_SECURE = "4000002500003155"
TODAY = datetime.date(2026, 11, 26)


def _issued(customer, amount: str = "100") -> Invoice:
    draft = billing.invoice_create_draft(
        customer=customer, lines=[{"description": "Hosting", "unit_price": amount}]
    )
    return billing.invoice_issue(invoice=draft, issue_date=TODAY)


def _customer(info, name: str, email: str | None = None):
    login = get_user_model().objects.get(email=email) if email else None
    return make_customer(name, user=login, email=email or f"{name.split()[0].lower()}@x.test")


@pytest.fixture
def acme(instance_a, localstripe, fake_connect):
    """ACME with a connected account that may charge, and a customer who signs in."""
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        services.card_connection_connect(
            return_url="https://acme.test/return", refresh_url="https://acme.test/refresh"
        )
        customer = _customer(instance_a, "Carla Card", instance_a.customer)
        yield SimpleNamespace(info=instance_a, customer=customer, base=localstripe)


def _pay(acme, invoice: Invoice, number: str):
    checkout = services.card_payment_start(invoice=invoice)
    method = browser_confirm_setup(acme.base, checkout.setup_client_secret, number)
    return checkout, services.card_payment_pay(
        card_payment=checkout.card_payment, payment_method_id=method
    )


def _stripe(base_url: str) -> stripe.StripeClient:
    return stripe.StripeClient(SECRET_KEY, base_addresses={"api": base_url})


# --------------------------------------------------------------------------------------
# Paying


def test_a_card_payment_settles_the_invoice_with_one_payment_referencing_the_intent(acme):
    invoice = _issued(acme.customer)  # 120.00 with 20 % VAT
    checkout, result = _pay(acme, invoice, VISA)
    assert result.status == CardPayment.Status.SUCCEEDED
    card_payment = CardPayment.objects.get(pk=checkout.card_payment.pk)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.amount_due == 0
    [payment] = Payment.objects.filter(customer=acme.customer)
    assert payment.method == Payment.Method.CARD and payment.amount == Decimal("120.00")
    assert payment.reference == card_payment.intent_id and card_payment.payment_id == payment.pk
    # Stripe holds the same amount in cents, on the customer it knows for ours.
    intent = _stripe(acme.base).v1.payment_intents.retrieve(card_payment.intent_id)
    assert intent.amount == 12000 and intent.currency == "eur" and intent.status == "succeeded"
    assert intent.customer == StripeCustomer.objects.get(customer=acme.customer).stripe_id
    # The browser coming back, and the same news again, record nothing more.
    services.card_payment_refresh(card_payment=card_payment)
    services.card_intent_apply(intent=intent.to_dict())
    assert Payment.objects.filter(customer=acme.customer).count() == 1
    assert AuditEvent.objects.filter(action="cardpayment.succeeded").count() == 1


def test_starting_twice_reuses_the_intent_and_a_new_amount_replaces_it(acme):
    invoice = _issued(acme.customer)
    first = services.card_payment_start(invoice=invoice)
    again = services.card_payment_start(invoice=invoice)
    assert again.card_payment.pk == first.card_payment.pk
    assert again.client_secret == first.client_secret
    billing.payment_record(
        customer=acme.customer, invoice=invoice, amount="20", method="bank_transfer"
    )
    third = services.card_payment_start(invoice=Invoice.objects.get(pk=invoice.pk))
    assert third.card_payment.pk != first.card_payment.pk
    assert third.card_payment.amount == Decimal("100.00")
    assert CardPayment.objects.get(pk=first.card_payment.pk).status == "canceled"
    intent = _stripe(acme.base).v1.payment_intents.retrieve(first.card_payment.intent_id)
    assert intent.status == "canceled"


def test_a_declined_card_records_the_failure_and_another_card_pays(acme):
    invoice = _issued(acme.customer)
    checkout, result = _pay(acme, invoice, DECLINED_ON_CHARGE)
    assert result.status == CardPayment.Status.FAILED
    assert result.message == "Your card was declined."
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED
    assert not Payment.objects.filter(customer=acme.customer).exists()
    failed = CardPayment.objects.get(pk=checkout.card_payment.pk)
    assert failed.failure_message == "Your card was declined."

    # Another card on the same page: a fresh intent (one attempt per intent), then paid.
    method = browser_confirm_setup(
        acme.base, services.card_payment_start(invoice=invoice).setup_client_secret, VISA
    )
    retry = services.card_payment_pay(card_payment=failed, payment_method_id=method)
    assert retry.status == CardPayment.Status.SUCCEEDED
    assert retry.card_payment.pk != failed.pk
    assert CardPayment.objects.get(pk=failed.pk).status == CardPayment.Status.CANCELED
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert Payment.objects.filter(customer=acme.customer).count() == 1


def test_a_card_asking_for_3d_secure_is_paid_once_the_customer_authenticates(acme):
    invoice = _issued(acme.customer)
    checkout, result = _pay(acme, invoice, THREE_D_SECURE)
    assert result.status == CardPayment.Status.REQUIRES_ACTION and result.client_secret
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED

    browser_authenticate(acme.base, result.client_secret, success=True)
    card_payment = services.card_payment_refresh(card_payment=result.card_payment)
    assert card_payment.status == CardPayment.Status.SUCCEEDED
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID


def test_a_failed_3d_secure_leaves_the_invoice_unpaid_with_the_reason(acme):
    invoice = _issued(acme.customer)
    _, result = _pay(acme, invoice, THREE_D_SECURE)
    browser_authenticate(acme.base, result.client_secret, success=False)
    card_payment = services.card_payment_refresh(card_payment=result.card_payment)
    assert card_payment.status == CardPayment.Status.FAILED
    assert "authentication" in card_payment.failure_message
    assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.ISSUED


def test_a_saved_card_is_remembered_only_when_the_customer_asks(acme):
    invoice = _issued(acme.customer)
    checkout = services.card_payment_start(invoice=invoice)
    method = browser_confirm_setup(acme.base, checkout.setup_client_secret, VISA)
    services.card_payment_pay(
        card_payment=checkout.card_payment, payment_method_id=method, save_card=True
    )
    [card] = SavedCard.objects.filter(customer=acme.customer)
    assert (card.last4, card.brand, card.exp_year, card.is_default) == ("4242", "visa", 2030, True)


def test_a_payment_method_id_that_is_not_one_is_refused_before_stripe(acme):
    invoice = _issued(acme.customer)
    checkout = services.card_payment_start(invoice=invoice)
    with pytest.raises(services.CardError, match="could not be read"):
        services.card_payment_pay(
            card_payment=checkout.card_payment, payment_method_id="pm_x'; DROP"
        )


def test_coming_back_to_pay_an_invoice_whose_payment_went_through_shows_it_paid(acme):
    invoice = _issued(acme.customer)
    _, result = _pay(acme, invoice, THREE_D_SECURE)
    browser_authenticate(acme.base, result.client_secret)  # then the tab was closed
    browser = client_for(acme.info, acme.info.customer)
    response = browser.get(f"/portal/cards/invoices/{invoice.pk}/pay/")
    assert response.status_code == 302
    assert response["Location"] == f"/portal/cards/payments/{result.card_payment.pk}/"
    assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.PAID


def test_after_ten_cards_on_one_invoice_no_more_are_tried(acme):
    invoice = _issued(acme.customer)
    checkout = services.card_payment_start(invoice=invoice)
    CardPayment.objects.filter(pk=checkout.card_payment.pk).update(attempts=10)
    method = browser_confirm_setup(acme.base, checkout.setup_client_secret, VISA)
    with pytest.raises(services.TooManyCardAttempts, match="Too many cards"):
        services.card_payment_pay(card_payment=checkout.card_payment, payment_method_id=method)
    assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.ISSUED


# --------------------------------------------------------------------------------------
# Refunds


def test_a_partial_then_full_refund_refunds_the_card_and_issues_credit_notes(acme):
    invoice = _issued(acme.customer)
    _, result = _pay(acme, invoice, VISA)
    card_payment = result.card_payment
    refund = services.card_payment_refund(
        card_payment=card_payment, amount="50", reason="Downgrade"
    )
    assert refund.status == CardRefund.Status.SUCCEEDED and refund.stripe_refund_id
    [note] = refund.refund.credit_notes.all()
    assert note.kind == Invoice.Kind.CREDIT_NOTE and note.total == Decimal("50.00")
    charge = _stripe(acme.base).v1.charges.retrieve(card_payment.charge_id)
    assert charge.amount_refunded == 5000
    # Stripe's charge.refunded for our own refund adds nothing (webhook after the staff screen).
    services.card_charge_refunded(charge=charge.to_dict())
    assert CardRefund.objects.filter(card_payment=card_payment).count() == 1

    rest = services.card_payment_refund(card_payment=card_payment, amount="70", reason="Closed")
    invoice.refresh_from_db()
    payment = Payment.objects.get(pk=card_payment.payment_id)
    assert invoice.status == Invoice.Status.CREDITED
    assert payment.refunded_amount == Decimal("120.00")
    assert rest.refund.credit_notes.get().total == Decimal("70.00")
    assert _stripe(acme.base).v1.charges.retrieve(card_payment.charge_id).amount_refunded == 12000


def test_a_refund_beyond_what_was_paid_is_refused_and_nothing_is_sent(acme):
    invoice = _issued(acme.customer)
    _, result = _pay(acme, invoice, VISA)
    with pytest.raises(ValidationError, match="at most 120.00 EUR"):
        services.card_payment_refund(
            card_payment=result.card_payment, amount="120.01", reason="Too much"
        )
    assert not CardRefund.objects.exists()
    assert (
        _stripe(acme.base).v1.charges.retrieve(result.card_payment.charge_id).amount_refunded == 0
    )


def test_billing_staff_refund_from_the_invoice_page(acme):
    invoice = _issued(acme.customer)
    _, result = _pay(acme, invoice, VISA)
    owner = client_for(acme.info, acme.info.owner)
    page = owner.get(f"/staff/billing/invoices/{invoice.pk}/")
    assert "Card payments" in page.content.decode() and "Refund up to" in page.content.decode()
    response = owner.post(
        f"/staff/cards/payments/{result.card_payment.pk}/refund/",
        {"amount": "120.00", "reason": "Customer left"},
        follow=True,
    )
    assert "refunded to the card; credit note CN" in response.content.decode()
    assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.CREDITED
    support = client_for(acme.info, acme.info.support)
    refused = support.post(
        f"/staff/cards/payments/{result.card_payment.pk}/refund/",
        {"amount": "1.00", "reason": "x"},
    )
    assert refused.status_code == 403


# --------------------------------------------------------------------------------------
# The portal


def test_the_customer_pays_from_the_portal_and_sees_the_result(acme):
    invoice = _issued(acme.customer)
    browser = client_for(acme.info, acme.info.customer)
    page = browser.get(f"/portal/billing/invoices/{invoice.pk}/").content.decode()
    assert f"/portal/cards/invoices/{invoice.pk}/pay/" in page and "Pay by card" in page
    pay = browser.get(f"/portal/cards/invoices/{invoice.pk}/pay/")
    html = pay.content.decode()
    assert pay.status_code == 200 and 'data-setup-secret="seti_' in html
    assert f'src="{acme.base}/js.stripe.com/v3/"' in html and "<script>" not in html
    # Only this page lets Stripe.js in (and its frames and API calls); the invoice page not.
    policy = pay["Content-Security-Policy"]
    assert f"script-src 'self' {acme.base}" in policy and f"frame-src 'self' {acme.base}" in policy
    assert (
        acme.base
        not in browser.get(f"/portal/billing/invoices/{invoice.pk}/")["Content-Security-Policy"]
    )
    card_payment = CardPayment.objects.get(invoice=invoice)
    setup_secret = html.split('data-setup-secret="')[1].split('"')[0]
    method = browser_confirm_setup(acme.base, setup_secret, VISA)
    answer = browser.post(
        f"/portal/cards/payments/{card_payment.pk}/pay/", {"payment_method": method}
    ).json()
    assert answer["status"] == "succeeded"
    result = browser.get(answer["result_url"]).content.decode()
    assert "your payment of €120.00 was received" in result
    assert f"Invoice {invoice.number} is paid" in result


def test_the_return_page_applies_a_3d_secure_payment_the_webhook_has_not_told_yet(acme):
    invoice = _issued(acme.customer)
    _, result = _pay(acme, invoice, THREE_D_SECURE)
    browser_authenticate(acme.base, result.client_secret)
    browser = client_for(acme.info, acme.info.customer)
    status = browser.get(f"/portal/cards/payments/{result.card_payment.pk}/status/").json()
    assert status == {"status": "succeeded", "label": "Paid", "message": "", "final": True}
    assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.PAID


def test_another_customers_invoice_and_card_payment_are_unreachable(acme):
    invoice = _issued(acme.customer)
    checkout = services.card_payment_start(invoice=invoice)
    other_login = get_user_model().objects.create_user(
        email="other@acme.test", password="x-pass-123456", role="customer"
    )
    make_customer("Olga Other", user=other_login, email="other@acme.test")
    other = client_for(acme.info, "other@acme.test")
    pk = checkout.card_payment.pk
    assert other.get(f"/portal/cards/invoices/{invoice.pk}/pay/").status_code == 404
    assert other.get(f"/portal/cards/payments/{pk}/").status_code == 404
    assert other.get(f"/portal/cards/payments/{pk}/status/").status_code == 404
    response = other.post(f"/portal/cards/payments/{pk}/pay/", {"payment_method": "pm_card_visa"})
    assert response.status_code == 404
    assert CardPayment.objects.get(pk=pk).attempts == 0
    # Staff use the staff screens, not the portal's pay page.
    staff = client_for(acme.info, acme.info.owner)
    assert staff.get(f"/portal/cards/invoices/{invoice.pk}/pay/").status_code == 403


def test_another_instance_cannot_pay_or_see_this_instances_invoice(acme, instance_b):
    invoice = _issued(acme.customer)
    checkout = services.card_payment_start(invoice=invoice)
    with schema_context(instance_b.schema_name):
        setup_issuer("FR")
        _customer(instance_b, "Bea Blue", instance_b.customer)
    bluebird = client_for(instance_b, instance_b.customer)
    assert bluebird.get(f"/portal/cards/invoices/{invoice.pk}/pay/").status_code == 404
    assert bluebird.get(f"/portal/cards/payments/{checkout.card_payment.pk}/").status_code == 404
    with schema_context(instance_b.schema_name):
        assert not CardPayment.objects.exists()


# --------------------------------------------------------------------------------------
# No keys: card payments are not set up, manual payments carry on


def test_without_keys_every_card_screen_says_not_set_up_and_manual_payments_work(
    instance_a, settings
):
    settings.UPLINE_STRIPE_SECRET_KEY = ""
    settings.UPLINE_STRIPE_PUBLISHABLE_KEY = ""
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        customer = _customer(instance_a, "Nora Nokeys", instance_a.customer)
        invoice = _issued(customer)
    browser = client_for(instance_a, instance_a.customer)
    portal_page = browser.get(f"/portal/billing/invoices/{invoice.pk}/").content.decode()
    assert "Card payments are not set up." in portal_page and "Pay by card" not in portal_page
    pay_page = browser.get(f"/portal/cards/invoices/{invoice.pk}/pay/").content.decode()
    assert "Card payments are not set up." in pay_page and "data-card-pay" not in pay_page
    owner = client_for(instance_a, instance_a.owner)
    assert "Card payments are not set up." in owner.get("/staff/cards/").content.decode()
    staff_invoice = owner.get(f"/staff/billing/invoices/{invoice.pk}/").content.decode()
    assert "Card payments are not set up." in staff_invoice
    refused = owner.post("/staff/cards/", follow=True).content.decode()
    assert "Card payments are not set up." in refused
    owner.post(
        f"/staff/billing/invoices/{invoice.pk}/payments/",
        {
            "payment-amount": "120.00",
            "payment-method": "bank_transfer",
            "payment-received_on": "2026-11-27",
            "payment-reference": "VIR-9",
        },
    )
    with schema_context(instance_a.schema_name):
        assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.PAID
        assert not CardConnection.objects.exclude(account_id="").exists()
        with pytest.raises(services.CardsNotSetUp, match="not set up"):
            services.card_payment_start(invoice=invoice)


# --------------------------------------------------------------------------------------
# Onboarding


def test_the_owner_connects_a_stripe_account_and_its_events_route_to_this_instance(
    instance_a, stripe_keys, fake_connect
):
    owner = client_for(instance_a, instance_a.owner)
    page = owner.get("/staff/cards/").content.decode()
    assert "Connect with Stripe" in page
    response = owner.post("/staff/cards/")
    assert response.status_code == 302
    assert response["Location"].startswith("https://connect.stripe.test/setup/acct_fake")
    [link] = fake_connect.links
    assert link["return_url"] == f"http://{instance_a.host}/staff/cards/connect/return/"
    with schema_context(instance_a.schema_name):
        connection_row = CardConnection.objects.get()
        assert connection_row.account_id == link["account"]
        assert AuditEvent.objects.filter(action="cardconnection.connected").exists()
    route = StripeAccountRoute.objects.get(account_id=link["account"])
    assert route.reseller.schema_name == instance_a.schema_name
    # Connecting again sends staff back to Stripe for the same account.
    owner.post("/staff/cards/")
    assert len({item["account"] for item in fake_connect.links}) == 1

    fake_connect.accounts[link["account"]].update(
        charges_enabled=True, payouts_enabled=True, requirements={"currently_due": []}
    )
    back = owner.get("/staff/cards/connect/return/", follow=True).content.decode()
    assert "Your Stripe account takes card payments." in back
    with schema_context(instance_a.schema_name):
        connection_row.refresh_from_db()
        assert connection_row.payouts_enabled and connection_row.requirements_due == []


def test_only_the_owner_and_administrators_reach_the_card_settings(instance_a, stripe_keys):
    support = client_for(instance_a, instance_a.support)
    assert support.get("/staff/cards/").status_code == 403
    assert support.post("/staff/cards/").status_code == 403
    customer = client_for(instance_a, instance_a.customer)
    assert customer.get("/staff/cards/").status_code == 403


def test_the_operators_instance_charges_on_the_platform_account(operator, stripe_keys):
    owner = client_for(operator, operator.owner)
    page = owner.get("/staff/cards/").content.decode()
    assert "platform&#x27;s own Stripe account" in page or "platform's own Stripe account" in page
    with pytest.raises(services.CardError, match="nothing to connect"):
        services.card_connection_connect(return_url="https://x/r", refresh_url="https://x/f")


# --------------------------------------------------------------------------------------
# Amounts


@pytest.mark.parametrize(
    "amount, currency, minor",
    [("12.34", "EUR", 1234), ("500", "JPY", 500), ("0.10", "USD", 10), ("1", "KRW", 1)],
)
def test_amounts_cross_to_stripe_in_the_currencys_minor_unit(amount, currency, minor):
    assert gateway.to_minor_units(Decimal(amount), currency) == minor
    assert gateway.from_minor_units(minor, currency) == Decimal(amount)


def test_an_amount_finer_than_the_currency_unit_is_refused():
    with pytest.raises(ValueError, match="finer than"):
        gateway.to_minor_units(Decimal("0.005"), "EUR")
    with pytest.raises(ValueError, match="finer than"):
        gateway.to_minor_units(Decimal("10.5"), "JPY")
