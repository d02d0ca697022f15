"""Automatic card payment of renewal invoices (issue 11): the default saved card is charged
off-session when the renewal run issues an invoice, tried again on dunning steps before the
reminder, and a failure e-mails the customer a link to pay — through localstripe, in a
reseller's instance and in the operator's (public) instance alike."""

from __future__ import annotations

import datetime
from decimal import Decimal
from unittest import mock

import pytest
import stripe
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection
from django_tenants.utils import schema_context

from shared_apps.tenancy.models import Reseller
from tenant_apps.billing import services as billing
from tenant_apps.billing.models import Invoice, Payment
from tenant_apps.cards import autocharge, services, tasks
from tenant_apps.cards.models import AutoChargeAttempt, CardPayment, CardSettings, SavedCard
from tenant_apps.instance.models import AuditEvent, EmailTemplate
from tenant_apps.orders import services as orders
from tenant_apps.orders.models import Service
from tenant_apps.recurring import services as runs
from tests import stripe_fixtures, test_cards
from tests.billing_fixtures import dunning_settings, make_customer, make_product, setup_issuer
from tests.conftest import client_for
from tests.stripe_fixtures import SECRET_KEY
from tests.test_billing_api import Api
from tests.test_card_methods import save_card

localstripe_url = stripe_fixtures.localstripe_url
stripe_keys = stripe_fixtures.stripe_keys
localstripe = stripe_fixtures.localstripe
fake_connect = stripe_fixtures.fake_connect

VISA = test_cards.VISA
DECLINED_ON_CHARGE = "4000000000000341"  # saves fine, every charge is declined
ALWAYS_AUTHENTICATE = "4000002760003184"  # the bank asks for 3-D Secure on every payment

DAY0 = datetime.date(2026, 1, 10)  # the first month is ordered and paid
RENEWAL_DAY = datetime.date(2026, 1, 28)  # 13 days before the service is due: renewals run
RENEWAL_DUE = datetime.date(2026, 2, 11)  # due date of that renewal invoice


@pytest.fixture
def acme(instance_a, localstripe, fake_connect):
    """ACME takes cards (connected account); Carla signs in to its portal."""
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        dunning_settings()
        services.card_connection_connect(
            return_url="https://acme.test/return", refresh_url="https://acme.test/refresh"
        )
        login = get_user_model().objects.get(email=instance_a.customer)
        customer = make_customer("Carla Card", user=login, email="carla@x.test")
        yield _Shop(instance_a, customer, localstripe)


class _Shop:
    def __init__(self, info, customer, base):
        self.info, self.customer, self.base = info, customer, base


def _subscribed(customer, capture, amount: str = "10.00") -> Service:
    """A monthly service ordered and paid on DAY0 (due again on 10 February)."""
    product = make_product(f"web-{customer.pk}", amount=amount)
    order = orders.order_place(customer=customer, items=[{"product": product, "cycle": "monthly"}])
    first = orders.order_accept(order=order, activate=True, today=DAY0)
    with capture(execute=True):
        billing.payment_record(
            customer=customer, invoice=first, amount=first.amount_due, method="bank_transfer"
        )
    return Service.objects.get(order_item__order=order)


def _opted_in(shop, number: str = VISA) -> SavedCard:
    card = save_card(shop.base, shop.customer, number)
    services.card_settings_update(customer=shop.customer, auto_charge_renewals=True)
    return card


def _renew(capture, today: datetime.date = RENEWAL_DAY) -> Invoice | None:
    with capture(execute=True):
        run = runs.renewals_run(today=today)
    return Invoice.objects.filter(billing_run=run).first()


def _dun(capture, today: datetime.date):
    with capture(execute=True):
        return runs.dunning_run(today=today)


def _intents_of(base_url: str, card_payment_ids) -> list:
    """The PaymentIntents localstripe holds for these card payments of the current instance
    (found by our metadata: localstripe keeps every test's intents for the session)."""
    client = stripe.StripeClient(SECRET_KEY, base_addresses={"api": base_url})
    wanted = {str(pk) for pk in card_payment_ids}
    found = []
    for intent in client.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter():
        metadata = intent.to_dict().get("metadata") or {}
        if (
            metadata.get("upline_schema") == connection.schema_name
            and metadata.get("upline_card_payment") in wanted
        ):
            found.append(intent)
    return found


def _failure_mails():
    return [m for m in mail.outbox if m.subject.startswith("We could not charge your card")]


def _reminders():
    return [m for m in mail.outbox if m.subject.startswith("Reminder")]


# --------------------------------------------------------------------------------------
# Charged when the renewal invoice is issued


def test_a_renewal_invoice_is_charged_to_the_default_card_and_the_service_renewed(
    acme, django_capture_on_commit_callbacks
):
    service = _subscribed(acme.customer, django_capture_on_commit_callbacks)
    card = _opted_in(acme)
    invoice = _renew(django_capture_on_commit_callbacks)

    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.amount_due == 0
    service.refresh_from_db()
    assert service.next_due_date == datetime.date(2026, 3, 10)  # renewed for March
    [attempt] = AutoChargeAttempt.objects.filter(invoice=invoice)
    assert attempt.status == AutoChargeAttempt.Status.SUCCEEDED and attempt.number == 1
    assert attempt.trigger == "renewal" and attempt.charge_date == RENEWAL_DAY
    card_payment = attempt.card_payment
    assert card_payment.status == CardPayment.Status.SUCCEEDED
    [payment] = Payment.objects.filter(customer=acme.customer, method=Payment.Method.CARD)
    assert payment.amount == Decimal("12.00") and payment.reference == card_payment.intent_id
    # Stripe charged the saved card on the customer's Stripe account, for 12.00 EUR.
    [intent] = _intents_of(acme.base, [card_payment.pk])
    assert intent.status == "succeeded" and intent.amount == 1200
    assert intent.payment_method == card.payment_method_id
    assert intent.metadata["upline_auto_charge"] == "1"
    assert AuditEvent.objects.filter(
        action="autochargeattempt.succeeded", object_id=str(attempt.pk)
    ).exists()
    assert not _failure_mails()
    assert any(m.subject.startswith("Payment received") for m in mail.outbox)


def test_a_declined_card_emails_a_pay_link_and_leaves_the_invoice_unpaid(
    acme, django_capture_on_commit_callbacks
):
    _subscribed(acme.customer, django_capture_on_commit_callbacks)
    _opted_in(acme, DECLINED_ON_CHARGE)
    invoice = _renew(django_capture_on_commit_callbacks)

    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED and invoice.amount_due == Decimal("12.00")
    assert not Payment.objects.filter(customer=acme.customer, method=Payment.Method.CARD)
    [attempt] = AutoChargeAttempt.objects.filter(invoice=invoice)
    assert attempt.status == AutoChargeAttempt.Status.FAILED
    assert attempt.failure_message and attempt.notified_at is not None
    assert attempt.card_payment.status == CardPayment.Status.FAILED
    [message] = _failure_mails()
    assert message.subject == f"We could not charge your card for invoice {invoice.number}"
    assert message.to == ["carla@x.test"]
    pay_link = f"http://{acme.info.host}/portal/cards/invoices/{invoice.pk}/pay/"
    assert pay_link in message.body
    assert "Visa •••• 0341" in message.body and "€12.00" in message.body
    event = AuditEvent.objects.get(action="autochargeattempt.failed")
    assert event.customer_id == acme.customer.pk and event.detail["invoice"] == invoice.number

    # The link works: the customer pays with another card on the portal's card page.
    browser = client_for(acme.info, acme.info.customer)
    assert browser.get(f"/portal/cards/invoices/{invoice.pk}/pay/").status_code == 200
    page = browser.get(f"/portal/billing/invoices/{invoice.pk}/").content.decode()
    assert "Automatic card payment" in page and "Declined" in page
    assert "Your card could not be charged." in page


def test_an_off_session_charge_the_bank_wants_authenticated_emails_the_customer(
    acme, django_capture_on_commit_callbacks
):
    _subscribed(acme.customer, django_capture_on_commit_callbacks)
    _opted_in(acme, ALWAYS_AUTHENTICATE)
    invoice = _renew(django_capture_on_commit_callbacks)

    assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.ISSUED
    [attempt] = AutoChargeAttempt.objects.filter(invoice=invoice)
    assert attempt.status == AutoChargeAttempt.Status.REQUIRES_ACTION
    [message] = _failure_mails()
    assert "your bank wants you to confirm this payment yourself" in message.body
    assert f"/portal/cards/invoices/{invoice.pk}/pay/" in message.body
    assert AuditEvent.objects.filter(action="autochargeattempt.failed").count() == 1


def test_a_saved_card_stripe_no_longer_knows_fails_the_attempt_and_tells_the_customer(
    acme, django_capture_on_commit_callbacks
):
    _subscribed(acme.customer, django_capture_on_commit_callbacks)
    SavedCard.objects.create(
        customer=acme.customer, payment_method_id="pm_goneFromStripe1", is_default=True
    )
    services.card_settings_update(customer=acme.customer, auto_charge_renewals=True)
    invoice = _renew(django_capture_on_commit_callbacks)
    [attempt] = AutoChargeAttempt.objects.filter(invoice=invoice)
    assert attempt.status == AutoChargeAttempt.Status.FAILED and attempt.failure_message
    assert attempt.card_payment.status == CardPayment.Status.CANCELED
    assert attempt.card_payment.intent_id is None
    assert len(_failure_mails()) == 1
    assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.ISSUED


def test_staff_edit_the_failure_email_and_the_customer_gets_their_wording(
    acme, django_capture_on_commit_callbacks
):
    EmailTemplate.objects.create(
        key=EmailTemplate.Key.CARD_CHARGE_FAILED,
        subject="Card refused for {{ invoice.number }}",
        body="Pay here: {{ pay_url }} ({{ charge.amount }})",
    )
    _subscribed(acme.customer, django_capture_on_commit_callbacks)
    _opted_in(acme, DECLINED_ON_CHARGE)
    invoice = _renew(django_capture_on_commit_callbacks)
    [message] = [m for m in mail.outbox if m.subject.startswith("Card refused")]
    assert message.subject == f"Card refused for {invoice.number}"
    wording, signature = message.body.split("\n-- \n")
    assert wording.strip() == (
        f"Pay here: http://{acme.info.host}/portal/cards/invoices/{invoice.pk}/pay/ (€12.00)"
    )
    assert signature.startswith("Acme")  # who sends it, under the usual "-- " line
    owner = client_for(acme.info, acme.info.owner)
    page = owner.get("/staff/billing/settings/emails/card_charge_failed/")
    assert page.status_code == 200 and "{{ pay_url }}" in page.content.decode()


# --------------------------------------------------------------------------------------
# Retries on the dunning schedule


def test_the_card_is_tried_again_on_the_dunning_step_and_no_reminder_goes_when_it_pays(
    acme, django_capture_on_commit_callbacks
):
    _subscribed(acme.customer, django_capture_on_commit_callbacks)
    _opted_in(acme, DECLINED_ON_CHARGE)
    invoice = _renew(django_capture_on_commit_callbacks)
    # The customer saves a card that works and makes it the default.
    working = save_card(acme.base, acme.customer, VISA)
    services.saved_card_set_default(card=working)
    mail.outbox.clear()

    run = _dun(django_capture_on_commit_callbacks, RENEWAL_DUE + datetime.timedelta(days=3))

    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert run.reminders_sent == 0 and not _reminders() and not _failure_mails()
    retry = AutoChargeAttempt.objects.get(invoice=invoice, number=2)
    assert retry.trigger == "dunning" and retry.dunning_step == 1
    assert retry.status == AutoChargeAttempt.Status.SUCCEEDED and "4242" in retry.card_label
    assert any("tried again" in line and "paid" in line for line in run.log)
    # The first attempt's declined intent was cancelled: one open card payment at most.
    assert AutoChargeAttempt.objects.get(invoice=invoice, number=1).card_payment.status == (
        CardPayment.Status.CANCELED
    )


def test_a_retry_that_fails_sends_the_reminder_once_per_step_and_attempts_are_bounded(
    acme, django_capture_on_commit_callbacks
):
    _subscribed(acme.customer, django_capture_on_commit_callbacks)
    _opted_in(acme, DECLINED_ON_CHARGE)
    invoice = _renew(django_capture_on_commit_callbacks)
    mail.outbox.clear()

    first = _dun(django_capture_on_commit_callbacks, RENEWAL_DUE + datetime.timedelta(days=3))
    assert first.reminders_sent == 1 and len(_reminders()) == 1 and len(_failure_mails()) == 1
    assert "We tried again to charge €12.00" in _failure_mails()[0].body
    assert AutoChargeAttempt.objects.filter(invoice=invoice).count() == 2
    # The same day again, and another day of the same step: no new charge, no new reminder.
    again = _dun(django_capture_on_commit_callbacks, RENEWAL_DUE + datetime.timedelta(days=3))
    later = _dun(django_capture_on_commit_callbacks, RENEWAL_DUE + datetime.timedelta(days=5))
    assert again.reminders_sent == later.reminders_sent == 0
    assert AutoChargeAttempt.objects.filter(invoice=invoice).count() == 2
    # Each new step (reminder 2 on day 10, late fee on day 14) tries once more; then the
    # bound (4 attempts) holds through the suspension on day 21.
    for days in (10, 14, 21, 60):
        _dun(django_capture_on_commit_callbacks, RENEWAL_DUE + datetime.timedelta(days=days))
    attempts = list(AutoChargeAttempt.objects.filter(invoice=invoice).order_by("number"))
    assert [a.dunning_step for a in attempts] == [0, 1, 2, 3]
    assert len(attempts) == autocharge.MAX_ATTEMPTS_PER_INVOICE
    assert all(a.status == AutoChargeAttempt.Status.FAILED for a in attempts)
    assert len({a.charge_date for a in attempts}) == 4  # never twice on one day
    assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.ISSUED
    # Each failed charge made one intent at Stripe, no more.
    assert len(_intents_of(acme.base, [a.card_payment_id for a in attempts])) == 4


def test_no_retry_once_the_invoice_is_paid_or_credited(acme, django_capture_on_commit_callbacks):
    _subscribed(acme.customer, django_capture_on_commit_callbacks)
    _opted_in(acme, DECLINED_ON_CHARGE)
    invoice = _renew(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        billing.payment_record(
            customer=acme.customer, invoice=invoice, amount="12.00", method="bank_transfer"
        )
    _dun(django_capture_on_commit_callbacks, RENEWAL_DUE + datetime.timedelta(days=3))
    assert AutoChargeAttempt.objects.filter(invoice=invoice).count() == 1
    # A scheduled attempt that finds the invoice paid is skipped, not charged.
    late = AutoChargeAttempt.objects.create(
        invoice=invoice,
        customer=acme.customer,
        number=2,
        trigger="dunning",
        dunning_step=1,
        charge_date=RENEWAL_DUE + datetime.timedelta(days=4),
    )
    assert autocharge.auto_charge_attempt_run(attempt_id=late.pk).status == "skipped"
    assert CardPayment.objects.filter(invoice=invoice).count() == 1


# --------------------------------------------------------------------------------------
# One charge per attempt, whatever runs it


def test_running_the_task_again_for_an_attempt_never_charges_twice(
    acme, django_capture_on_commit_callbacks
):
    _subscribed(acme.customer, django_capture_on_commit_callbacks)
    _opted_in(acme)
    invoice = _renew(django_capture_on_commit_callbacks)
    [attempt] = AutoChargeAttempt.objects.filter(invoice=invoice)
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            tasks.auto_charge_run.apply(
                kwargs={"attempt_id": attempt.pk, "schema_name": acme.info.schema_name}
            )
    # A worker that died after Stripe answered (the attempt still says charging) asks Stripe
    # how the intent stands instead of charging again.
    AutoChargeAttempt.objects.filter(pk=attempt.pk).update(status="charging")
    with django_capture_on_commit_callbacks(execute=True):
        autocharge.auto_charge_attempt_run(attempt_id=attempt.pk)
    assert CardPayment.objects.filter(invoice=invoice).count() == 1
    assert Payment.objects.filter(customer=acme.customer, method="card").count() == 1
    assert len(_intents_of(acme.base, [attempt.card_payment_id])) == 1
    assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.PAID


def test_a_charge_whose_answer_was_lost_is_asked_again_with_the_same_key(
    acme, django_capture_on_commit_callbacks
):
    """Stripe answers a repeated idempotency key with its first answer (localstripe does
    not keep keys, so the double here does as Stripe documents): the retry gets the intent
    the lost answer carried, and the card is charged once."""
    _subscribed(acme.customer, django_capture_on_commit_callbacks)
    _opted_in(acme)
    real_create = stripe.PaymentIntentService.create
    answers: dict[str, object] = {}
    keys: list[str] = []

    def create(self, params=None, options=None):
        key = (options or {}).get("idempotency_key")
        keys.append(key)
        if key in answers:
            return answers[key]
        answers[key] = real_create(self, params=params, options=options)
        if (params or {}).get("off_session") and len(keys) == 1:
            raise stripe.APIConnectionError("The connection dropped before the answer came.")
        return answers[key]

    with mock.patch.object(stripe.PaymentIntentService, "create", create):
        invoice = _renew(django_capture_on_commit_callbacks)
        [attempt] = AutoChargeAttempt.objects.filter(invoice=invoice)
        # Charged at Stripe, but we do not know it: the attempt waits, the invoice is open.
        assert attempt.status == AutoChargeAttempt.Status.CHARGING
        assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.ISSUED
        with django_capture_on_commit_callbacks(execute=True):
            swept = autocharge.auto_charges_sweep(
                now=attempt.charging_at + datetime.timedelta(hours=1)
            )
    assert swept["charged"] == 1
    attempt.refresh_from_db()
    assert attempt.status == AutoChargeAttempt.Status.SUCCEEDED
    assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.PAID
    assert keys == [f"r_acme:cardpayment:{attempt.card_payment_id}:offsession-1"] * 2
    assert len(_intents_of(acme.base, [attempt.card_payment_id])) == 1
    assert Payment.objects.filter(customer=acme.customer, method="card").count() == 1


def test_a_charge_stripe_never_answered_is_given_up_after_its_key_expires(
    acme, django_capture_on_commit_callbacks
):
    _subscribed(acme.customer, django_capture_on_commit_callbacks)
    _opted_in(acme)
    with mock.patch.object(
        stripe.PaymentIntentService,
        "create",
        side_effect=stripe.APIConnectionError("Stripe is unreachable."),
    ) as unreachable:
        invoice = _renew(django_capture_on_commit_callbacks)
        [attempt] = AutoChargeAttempt.objects.filter(invoice=invoice)
        assert attempt.status == AutoChargeAttempt.Status.CHARGING
        calls = unreachable.call_count
        mail.outbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            done = autocharge.auto_charges_sweep(
                now=attempt.charging_at + datetime.timedelta(hours=24)
            )
        # Asking again after Stripe forgot the key could charge twice: it is not asked.
        assert unreachable.call_count == calls
    assert done["given_up"] == 1
    attempt.refresh_from_db()
    assert attempt.status == AutoChargeAttempt.Status.FAILED
    assert "check it in the Stripe dashboard" in attempt.failure_message
    assert attempt.card_payment.status == CardPayment.Status.CANCELED
    assert not _failure_mails()  # nothing known to tell the customer


def test_the_sweep_runs_an_attempt_whose_task_was_lost(acme, django_capture_on_commit_callbacks):
    _subscribed(acme.customer, django_capture_on_commit_callbacks)
    _opted_in(acme)
    with mock.patch.object(tasks, "auto_charges_later") as broker_down:
        invoice = _renew(django_capture_on_commit_callbacks)
    assert broker_down.called
    [attempt] = AutoChargeAttempt.objects.filter(invoice=invoice)
    assert attempt.status == AutoChargeAttempt.Status.SCHEDULED
    # Too fresh: its task may still be in the queue.
    assert autocharge.auto_charges_sweep(now=attempt.created_at)["charged"] == 0
    done = autocharge.auto_charges_sweep(now=attempt.created_at + datetime.timedelta(minutes=11))
    assert done["charged"] == 1
    assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.PAID


# --------------------------------------------------------------------------------------
# When nothing is charged


def test_nothing_is_charged_when_the_customer_did_not_opt_in(
    acme, django_capture_on_commit_callbacks
):
    _subscribed(acme.customer, django_capture_on_commit_callbacks)
    save_card(acme.base, acme.customer, VISA)
    invoice = _renew(django_capture_on_commit_callbacks)
    _dun(django_capture_on_commit_callbacks, RENEWAL_DUE + datetime.timedelta(days=3))
    assert not AutoChargeAttempt.objects.exists() and not CardPayment.objects.exists()
    assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.ISSUED


def test_nothing_is_charged_without_a_card_and_opting_in_asks_for_one_first(
    acme, django_capture_on_commit_callbacks
):
    with pytest.raises(services.CardError, match="Save a card first"):
        services.card_settings_update(customer=acme.customer, auto_charge_renewals=True)
    browser = client_for(acme.info, acme.info.customer)
    page = browser.post("/portal/cards/methods/", {"auto_charge_renewals": "on"})
    assert page.status_code == 400 and "Save a card first" in page.content.decode()
    assert not CardSettings.objects.filter(customer=acme.customer, auto_charge_renewals=True)
    # A choice stored before the rule (or by hand) charges nothing without a card.
    CardSettings.objects.update_or_create(
        customer=acme.customer, defaults={"auto_charge_renewals": True}
    )
    _subscribed(acme.customer, django_capture_on_commit_callbacks)
    _renew(django_capture_on_commit_callbacks)
    _dun(django_capture_on_commit_callbacks, RENEWAL_DUE + datetime.timedelta(days=3))
    assert not AutoChargeAttempt.objects.exists() and not CardPayment.objects.exists()


def test_removing_the_last_card_turns_automatic_payment_off_and_says_so(acme):
    card = _opted_in(acme)
    browser = client_for(acme.info, acme.info.customer)
    page = browser.post(f"/portal/cards/methods/{card.pk}/remove/", follow=True)
    html = page.content.decode()
    assert "Automatic payment of renewal invoices is now off" in html
    assert CardSettings.objects.get(customer=acme.customer).auto_charge_renewals is False
    event = AuditEvent.objects.filter(action="cardsettings.updated").latest("id")
    assert event.changes == {"auto_charge_renewals": [True, False]}


def test_nothing_is_charged_when_cards_are_not_set_up(
    instance_a, stripe_keys, django_capture_on_commit_callbacks
):
    """Keys on the platform, but no Stripe account connected to this reseller yet."""
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        dunning_settings()
        customer = make_customer("Nico Noconnect")
        SavedCard.objects.create(customer=customer, payment_method_id="pm_x1", is_default=True)
        CardSettings.objects.create(customer=customer, auto_charge_renewals=True)
        _subscribed(customer, django_capture_on_commit_callbacks)
        invoice = _renew(django_capture_on_commit_callbacks)
        _dun(django_capture_on_commit_callbacks, RENEWAL_DUE + datetime.timedelta(days=3))
        assert invoice is not None and invoice.customer_id == customer.pk
        assert not AutoChargeAttempt.objects.exists() and not CardPayment.objects.exists()
        html = client_for(instance_a, instance_a.owner).get(
            f"/staff/billing/invoices/{invoice.pk}/"
        )
        assert "No Stripe account is connected yet. Nothing is charged automatically." in (
            html.content.decode()
        )


# --------------------------------------------------------------------------------------
# What staff and the customer see


def test_staff_see_the_attempts_on_the_invoice_and_the_api_exposes_them(
    acme, django_capture_on_commit_callbacks
):
    _subscribed(acme.customer, django_capture_on_commit_callbacks)
    _opted_in(acme, DECLINED_ON_CHARGE)
    invoice = _renew(django_capture_on_commit_callbacks)
    [attempt] = AutoChargeAttempt.objects.filter(invoice=invoice)
    owner = client_for(acme.info, acme.info.owner)
    html = owner.get(f"/staff/billing/invoices/{invoice.pk}/").content.decode()
    section = html.split('id="auto-charges-title"')[1].split("</section>")[0]
    assert "Renewal invoice issued" in section and "Declined" in section
    assert "Visa •••• 0341" in section and attempt.failure_message in section
    customer_page = owner.get(f"/staff/customers/{acme.customer.pk}/").content.decode()
    assert 'Automatic payment of renewal invoices: <span class="badge badge-success">On' in (
        customer_page
    )

    api = Api(acme.info, acme.info.support)
    status = api.get(f"invoices/{invoice.pk}/card-status/").json()
    [shown] = status["auto_charge_attempts"]
    assert shown["status"] == "failed" and shown["amount"] == "12.00"
    assert shown["trigger"] == "renewal" and shown["card_label"].startswith("Visa")
    listed = api.get("auto-charge-attempts/", status="failed", customer=acme.customer.pk).json()
    assert [row["id"] for row in listed["results"]] == [attempt.pk]
    assert api.get(f"auto-charge-attempts/{attempt.pk}/").json()["invoice"] == invoice.pk
    assert api.get("auto-charge-attempts/", status="bogus").status_code == 400
    schema = api.client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    for path in ("/api/auto-charge-attempts/", "/api/auto-charge-attempts/{id}/"):
        assert (
            "examples" in schema[path]["get"]["responses"]["200"]["content"]["application/json"]
        ), path
    # The customer's portal login is not an API user; staff of another instance see none.
    assert Api(acme.info, acme.info.customer).get("auto-charge-attempts/").status_code == 403


def test_the_payment_methods_page_explains_when_cards_are_charged(acme):
    _opted_in(acme)
    html = client_for(acme.info, acme.info.customer).get("/portal/cards/methods/").content
    text = html.decode()
    assert "is charged as soon as a renewal invoice is issued" in text
    # The first dunning steps (reminders on days 3 and 10, the late fee on day 14): as many
    # retries as the bound leaves after the charge at issue.
    assert "try the card again 3, 10, 14 days after the due date" in text
    assert f"at most {autocharge.MAX_ATTEMPTS_PER_INVOICE} times per invoice" in text
    assert "Visa •••• 4242" in text  # the card that will be charged
    assert "Other invoices are never charged automatically." in text


# --------------------------------------------------------------------------------------
# Instances


def test_another_instances_run_and_tasks_never_charge_this_instances_customers(
    acme, instance_b, django_capture_on_commit_callbacks
):
    with schema_context(instance_b.schema_name):
        setup_issuer("FR")
        dunning_settings()
        services.card_connection_connect(
            return_url="https://bluebird.test/r", refresh_url="https://bluebird.test/f"
        )
        bea = make_customer("Bea Blue", email="bea@x.test")
        _subscribed(bea, django_capture_on_commit_callbacks)
        save_card(acme.base, bea, VISA)
        services.card_settings_update(customer=bea, auto_charge_renewals=True)
    _subscribed(acme.customer, django_capture_on_commit_callbacks)
    _opted_in(acme)

    with schema_context(acme.info.schema_name):
        invoice = _renew(django_capture_on_commit_callbacks)
        [acme_attempt] = AutoChargeAttempt.objects.all()
    assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.PAID
    with schema_context(instance_b.schema_name):
        # Bluebird's customer was not touched by ACME's run.
        assert not AutoChargeAttempt.objects.exists() and not CardPayment.objects.exists()
        run = runs.renewals_run(today=RENEWAL_DAY)
        bea_invoice = Invoice.objects.get(billing_run=run)
        [bea_attempt] = AutoChargeAttempt.objects.all()
    # A task sent with ACME's schema and Bluebird's attempt id works on ACME's rows only:
    # the id means nothing there (or names ACME's own attempt, already paid).
    result = tasks.auto_charge_run.apply(
        kwargs={"attempt_id": bea_attempt.pk, "schema_name": acme.info.schema_name}
    )
    assert result.result in ("not found", "succeeded")
    assert CardPayment.objects.filter(customer=acme.customer).count() == 1
    assert acme_attempt.status == "succeeded"
    with schema_context(instance_b.schema_name):
        assert AutoChargeAttempt.objects.get(pk=bea_attempt.pk).status == "scheduled"
        assert Invoice.objects.get(pk=bea_invoice.pk).status == Invoice.Status.ISSUED
        assert not CardPayment.objects.exists()
    # Bluebird's staff reach none of ACME's attempts.
    bluebird = Api(instance_b, instance_b.owner)
    assert all(
        row["invoice"] != invoice.pk
        for row in bluebird.get("auto-charge-attempts/").json()["results"]
    )


def test_the_operator_charges_a_resellers_card_in_the_public_schema(
    operator, localstripe, django_capture_on_commit_callbacks
):
    setup_issuer("FR")
    dunning_settings()
    reseller = make_customer(
        "Acme Ltd",
        kind="company",
        company_name="Acme Ltd",
        email="boss@acme.test",
        reseller_id=Reseller.objects.get(slug="acme").pk,
    )
    _subscribed(reseller, django_capture_on_commit_callbacks, amount="200.00")
    card = save_card(localstripe, reseller, VISA)  # on the platform account (no connection)
    services.card_settings_update(customer=reseller, auto_charge_renewals=True)

    invoice = _renew(django_capture_on_commit_callbacks)

    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    [attempt] = AutoChargeAttempt.objects.filter(invoice=invoice)
    assert attempt.status == "succeeded" and attempt.payment_method_id == card.payment_method_id
    [intent] = _intents_of(localstripe, [attempt.card_payment_id])
    assert intent.metadata["upline_schema"] == "public" and intent.amount == 24000
    with schema_context("r_acme"):
        assert not AutoChargeAttempt.objects.exists()


def test_a_resellers_failed_charge_links_to_its_own_supplier_bill_page(
    operator, instance_a, localstripe, django_capture_on_commit_callbacks
):
    setup_issuer("FR")
    dunning_settings()
    reseller = make_customer(
        "Acme Ltd",
        kind="company",
        company_name="Acme Ltd",
        email="boss@acme.test",
        reseller_id=Reseller.objects.get(slug="acme").pk,
    )
    _subscribed(reseller, django_capture_on_commit_callbacks, amount="200.00")
    save_card(localstripe, reseller, DECLINED_ON_CHARGE)
    services.card_settings_update(customer=reseller, auto_charge_renewals=True)

    invoice = _renew(django_capture_on_commit_callbacks)

    assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.ISSUED
    [message] = _failure_mails()
    assert message.to == ["boss@acme.test"]
    # The reseller pays the operator's bill in its own staff area, not the operator's portal.
    assert f"http://{instance_a.host}/staff/supplier-bills/{invoice.pk}/pay/" in message.body
    assert f"http://{instance_a.host}/staff/supplier-bills/cards/" in message.body
    assert "/portal/" not in message.body
