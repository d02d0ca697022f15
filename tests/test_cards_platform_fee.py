"""The platform fee on card payments (issue 11): the operator sets a percentage in its
console (off by default); every PaymentIntent made on a reseller's connected account carries
it as `application_fee_amount` (localstripe keeps what it was sent), the card payment row
records it, and the operator's own instance never pays one. Resellers see the fee and have
no way to change it."""

from __future__ import annotations

from decimal import Decimal

import pytest
import stripe
from django_tenants.utils import schema_context

from shared_apps.stripe_webhooks.models import PlatformFee
from shared_apps.stripe_webhooks.platform_fee import platform_fee_get, platform_fee_set
from tenant_apps.billing import services as billing
from tenant_apps.billing.models import Invoice, Payment
from tenant_apps.cards import gateway, platform_fee, services
from tenant_apps.cards.models import AutoChargeAttempt, CardPayment
from tenant_apps.cards.ports import platform_fee_percent
from tenant_apps.instance.models import AuditEvent
from tests import stripe_fixtures, test_cards_autocharge
from tests.billing_fixtures import dunning_settings, make_customer, setup_issuer
from tests.conftest import client_for
from tests.stripe_fixtures import SECRET_KEY, browser_confirm_setup
from tests.test_cards import TODAY, VISA, _customer

localstripe_url = stripe_fixtures.localstripe_url
stripe_keys = stripe_fixtures.stripe_keys
localstripe = stripe_fixtures.localstripe
fake_connect = stripe_fixtures.fake_connect


def _intent(base_url: str, intent_id: str) -> dict:
    client = stripe.StripeClient(SECRET_KEY, base_addresses={"api": base_url})
    return client.v1.payment_intents.retrieve(intent_id).to_dict()


def _issued(customer, amount: str) -> Invoice:
    draft = billing.invoice_create_draft(
        customer=customer, lines=[{"description": "Hosting", "unit_price": amount}]
    )
    return billing.invoice_issue(invoice=draft, issue_date=TODAY)


def _pay(base_url: str, invoice: Invoice) -> CardPayment:
    checkout = services.card_payment_start(invoice=invoice)
    method = browser_confirm_setup(base_url, checkout.setup_client_secret, VISA)
    result = services.card_payment_pay(card_payment=checkout.card_payment, payment_method_id=method)
    assert result.status == CardPayment.Status.SUCCEEDED
    return CardPayment.objects.get(pk=result.card_payment.pk)


@pytest.fixture
def acme(instance_a, localstripe, fake_connect):
    """ACME with a connected account that may charge, and a customer who signs in."""
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        services.card_connection_connect(
            return_url="https://acme.test/return", refresh_url="https://acme.test/refresh"
        )
        yield instance_a, _customer(instance_a, "Carla Card", instance_a.customer), localstripe


# --------------------------------------------------------------------------------------
# The amount


@pytest.mark.parametrize(
    "amount, currency, percent, fee",
    [
        ("120.00", "EUR", "2.5", "3.00"),
        ("0.30", "EUR", "2.5", "0.01"),  # 0.75 cent: half up to 1 cent
        ("0.20", "EUR", "2.5", "0.01"),  # exactly half a cent goes up
        ("0.19", "EUR", "2.5", "0.00"),  # 0.475 cent goes down
        ("33.33", "USD", "1.75", "0.58"),  # 58.3275 cents
        ("99", "JPY", "2.5", "2"),  # 2.475 yen: no smaller unit
        ("100", "JPY", "2.5", "3"),  # 2.5 yen goes up
        ("1", "JPY", "20", "0"),
        ("1250", "KRW", "0.04", "1"),  # 0.5 won goes up
    ],
)
def test_the_fee_is_a_share_of_the_amount_rounded_half_up_in_the_currencys_smallest_unit(
    amount, currency, percent, fee
):
    with platform_fee_percent.plugged(lambda: Decimal(percent)):
        computed = platform_fee.application_fee_for(
            amount=Decimal(amount), currency=currency, account_id="acct_reseller"
        )
    assert computed == Decimal(fee)
    # What Stripe is sent: whole minor units.
    assert gateway.to_minor_units(computed, currency) == int(
        Decimal(fee).scaleb(gateway.minor_exponent(currency))
    )


def test_the_fee_is_never_above_the_amount_and_never_on_the_platform_account():
    assert platform_fee.fee_minor_units(5, Decimal("150")) == 5
    assert platform_fee.fee_minor_units(0, Decimal("10")) == 0
    with platform_fee_percent.plugged(lambda: Decimal("10")):
        assert (
            platform_fee.application_fee_for(amount=Decimal("50"), currency="EUR", account_id=None)
            == 0
        )


def test_the_gateway_refuses_a_fee_on_the_platform_account_or_above_the_amount(stripe_keys):
    platform = gateway.Gateway(account_id=None, schema_name="public")
    with pytest.raises(ValueError, match="platform's own account"):
        platform._fee(Decimal("1.00"), Decimal("10.00"), "EUR")
    connected = gateway.Gateway(account_id="acct_x", schema_name="r_acme")
    with pytest.raises(ValueError, match="does not fit"):
        connected._fee(Decimal("10.01"), Decimal("10.00"), "EUR")
    assert connected._fee(Decimal("0.25"), Decimal("10.00"), "EUR") == {
        "application_fee_amount": 25
    }
    assert connected._fee(Decimal("0"), Decimal("10.00"), "EUR") == {}


# --------------------------------------------------------------------------------------
# Sent to Stripe


def test_no_fee_is_taken_until_the_operator_sets_one(acme):
    _, customer, base = acme
    assert platform_fee_get().percent == 0 and not PlatformFee.objects.exists()
    card_payment = _pay(base, _issued(customer, "100"))
    assert card_payment.application_fee == 0
    intent = _intent(base, card_payment.intent_id)
    assert intent["amount"] == 12000 and intent.get("application_fee_amount") is None


def test_a_payment_on_a_resellers_account_sends_the_fee_and_keeps_it_on_its_row(acme):
    _, customer, base = acme
    platform_fee_set(percent="2.5")
    invoice = _issued(customer, "100")  # 120.00 with 20 % VAT
    card_payment = _pay(base, invoice)

    assert card_payment.application_fee == Decimal("3.00")
    intent = _intent(base, card_payment.intent_id)
    assert intent["amount"] == 12000 and intent["application_fee_amount"] == 300
    # The customer pays the invoice in full: the fee is the platform's share of the
    # reseller's takings, not a surcharge.
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert Payment.objects.get(pk=card_payment.payment_id).amount == Decimal("120.00")
    started = AuditEvent.objects.get(action="cardpayment.started", object_id=str(card_payment.pk))
    assert Decimal(str(started.detail["platform_fee"])) == Decimal("3.00")
    # The reseller's staff see it on the invoice's card payments.
    info = acme[0]
    page = client_for(info, info.owner).get(f"/staff/billing/invoices/{invoice.pk}/")
    assert "Platform fee €3.00" in page.content.decode()


def test_a_zero_decimal_currency_sends_the_fee_in_whole_units(acme):
    _, _, base = acme
    platform_fee_set(percent="2.5")
    yen = make_customer("Yoko Yen", currency="JPY", email="yoko@x.test")
    invoice = _issued(yen, "1000")  # 1200 JPY with 20 % VAT
    card_payment = _pay(base, invoice)
    assert card_payment.currency == "JPY" and card_payment.application_fee == Decimal("30")
    intent = _intent(base, card_payment.intent_id)
    assert intent["currency"] == "jpy" and intent["amount"] == 1200
    assert intent["application_fee_amount"] == 30


def test_an_open_payment_keeps_the_fee_it_was_made_with(acme):
    _, customer, base = acme
    platform_fee_set(percent="1")
    invoice = _issued(customer, "100")
    first = services.card_payment_start(invoice=invoice)
    platform_fee_set(percent="5")
    again = services.card_payment_start(invoice=invoice)
    assert again.card_payment.pk == first.card_payment.pk
    assert again.card_payment.application_fee == Decimal("1.20")
    assert _intent(base, first.card_payment.intent_id)["application_fee_amount"] == 120


def test_the_operators_own_instance_takes_cards_without_a_fee(operator, localstripe):
    platform_fee_set(percent="10")
    with schema_context(operator.schema_name):
        setup_issuer("FR")
        customer = make_customer("Opal Operator-Client", email="opal@x.test")
        card_payment = _pay(localstripe, _issued(customer, "100"))
    assert card_payment.application_fee == 0
    assert _intent(localstripe, card_payment.intent_id).get("application_fee_amount") is None


def test_an_automatic_renewal_charge_carries_the_fee_too(
    instance_a, localstripe, fake_connect, django_capture_on_commit_callbacks
):
    platform_fee_set(percent="2.5")
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        dunning_settings()
        services.card_connection_connect(
            return_url="https://acme.test/return", refresh_url="https://acme.test/refresh"
        )
        customer = make_customer("Renata Renewal", email="renata@x.test")
        shop = test_cards_autocharge._Shop(instance_a, customer, localstripe)
        test_cards_autocharge._subscribed(customer, django_capture_on_commit_callbacks)
        test_cards_autocharge._opted_in(shop)
        invoice = test_cards_autocharge._renew(django_capture_on_commit_callbacks)
        [attempt] = AutoChargeAttempt.objects.filter(invoice=invoice)
        card_payment = attempt.card_payment
        assert attempt.status == AutoChargeAttempt.Status.SUCCEEDED
        assert card_payment.application_fee == Decimal("0.30")  # 2.5 % of 12.00
        [intent] = test_cards_autocharge._intents_of(localstripe, [card_payment.pk])
        assert intent.amount == 1200 and intent.application_fee_amount == 30


# --------------------------------------------------------------------------------------
# The console, and what resellers see


@pytest.fixture
def console(operator):
    return client_for(operator, operator.owner)


@pytest.mark.parametrize(
    "typed, error",
    [
        ("-1", "greater than or equal to 0"),
        ("20.01", "less than or equal to 20"),
        ("abc", "Enter a number."),
        ("2.555", "no more than 2 decimal places"),
        ("", "This field is required."),
    ],
)
def test_the_console_refuses_a_fee_out_of_bounds_or_not_a_number(console, typed, error):
    platform_fee_set(percent="3")
    page = console.post("/console/platform-fee/", {"percent": typed})
    assert page.status_code == 200
    assert error in page.content.decode()
    assert platform_fee_get().percent == Decimal("3.00")
    assert AuditEvent.objects.filter(action="platformfee.updated").count() == 1


def test_the_operator_sets_the_fee_and_the_audit_trail_records_the_change(console):
    page = console.get("/console/platform-fee/").content.decode()
    assert "No platform fee" in page and 'name="percent"' in page

    response = console.post("/console/platform-fee/", {"percent": "2.5"}, follow=True)
    html = response.content.decode()
    assert "The platform now takes 2.50 % of each card payment" in html
    assert "on a payment of €100.00, €2.50" in html
    assert platform_fee_get().percent == Decimal("2.50")
    event = AuditEvent.objects.get(action="platformfee.updated")
    assert event.changes == {"percent": ["0", "2.50"]}
    assert event.actor_label and "operator.test" in event.actor_label
    activity = console.get("/console/activity/").content.decode()
    assert "Platform fee on card payments changed" in activity

    # Saving the same value again records nothing; 0 turns the fee off.
    console.post("/console/platform-fee/", {"percent": "2.50"})
    assert AuditEvent.objects.filter(action="platformfee.updated").count() == 1
    off = console.post("/console/platform-fee/", {"percent": "0"}, follow=True)
    assert "The platform takes no fee on card payments." in off.content.decode()
    assert platform_fee_get().percent == 0


def test_operator_support_staff_read_the_fee_but_cannot_change_it(operator):
    support = client_for(operator, operator.support)
    page = support.get("/console/platform-fee/")
    assert page.status_code == 200
    assert "Only the operator's owner or administrators can change this." in (page.content.decode())
    assert support.post("/console/platform-fee/", {"percent": "5"}).status_code == 403
    assert platform_fee_get().percent == 0


def test_resellers_have_no_route_to_the_fee(instance_a):
    owner = client_for(instance_a, instance_a.owner)
    assert owner.get("/console/platform-fee/").status_code == 404
    assert owner.post("/console/platform-fee/", {"percent": "0"}).status_code == 404
    customer = client_for(instance_a, instance_a.customer)
    assert customer.post("/console/platform-fee/", {"percent": "0"}).status_code == 404
    assert platform_fee_get().percent == 0


def test_the_resellers_card_settings_page_tells_staff_the_fee(acme):
    info, _, _ = acme
    owner = client_for(info, info.owner)
    assert "<dt>Platform fee</dt><dd data-platform-fee>None</dd>" in (
        owner.get("/staff/cards/").content.decode()
    )
    platform_fee_set(percent="4")
    page = owner.get("/staff/cards/").content.decode()
    assert "4.00 % of each card payment, which Stripe passes to the platform" in page
