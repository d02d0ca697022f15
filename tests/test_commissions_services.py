"""Commission ledger (issue 12, points 4–5): accrual on payment net of tax, reversal by credit
notes and refunds (also after payout), maturity, first-invoice vs N months, volume tiers,
the second level, and replays that accrue once."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django_tenants.utils import schema_context

from tenant_apps.billing import services as billing
from tenant_apps.billing import settlement
from tenant_apps.billing.models import Invoice
from tenant_apps.commissions import selectors, services
from tenant_apps.commissions.models import CommissionEntry, Payout
from tenant_apps.instance import clock
from tenant_apps.instance.models import AuditEvent
from tenant_apps.orders.models import Order
from tenant_apps.referrals import services as referrals
from tests.billing_fixtures import make_customer, make_product, setup_issuer
from tests.commission_fixtures import earned, ordered, partner, pay, percent_rule


@pytest.fixture
def acme(instance_a):
    with schema_context(instance_a.schema_name):
        setup_issuer("FR")
        yield instance_a


def test_commission_accrues_on_the_net_amount_when_the_invoice_is_paid(
    acme, django_capture_on_commit_callbacks
):
    percent_rule("10")
    referer = partner()
    invoice = ordered(make_customer("Bob Buyer"), make_product(amount="100.00"), referer)
    assert invoice.total == Decimal("120.00")  # 20 % VAT
    assert earned(referer) == 0  # issued, not paid: nothing yet
    pay(invoice, django_capture_on_commit_callbacks)
    entry = CommissionEntry.objects.get(referer=referer)
    assert (entry.amount, entry.base, entry.kind) == (
        Decimal("10.00"),
        Decimal("100.00"),
        "accrual",
    )


def test_a_partial_payment_accrues_nothing_until_the_invoice_is_paid(
    acme, django_capture_on_commit_callbacks
):
    percent_rule("10")
    referer = partner()
    invoice = ordered(make_customer("Bob Buyer"), make_product(amount="100.00"), referer)
    pay(invoice, django_capture_on_commit_callbacks, amount="60")
    assert earned(referer) == 0
    pay(invoice, django_capture_on_commit_callbacks)
    assert earned(referer) == Decimal("10.00")


def test_replaying_the_settlement_accrues_once(acme, django_capture_on_commit_callbacks):
    percent_rule("10")
    referer = partner()
    invoice = ordered(make_customer("Bob Buyer"), make_product(amount="100.00"), referer)
    pay(invoice, django_capture_on_commit_callbacks)
    from tenant_apps.billing.signals import invoice_settlement_changed

    for _ in range(3):  # a webhook delivered again, a billing run re-run, a sweep
        invoice_settlement_changed.send(
            sender=Invoice, invoice_id=invoice.pk, schema_name=acme.schema_name
        )
        assert services.commission_sync_invoice(invoice_id=invoice.pk) == []
    assert CommissionEntry.objects.filter(referer=referer).count() == 1
    assert earned(referer) == Decimal("10.00")


def test_a_credit_note_reverses_its_share_with_a_negative_entry(
    acme, django_capture_on_commit_callbacks
):
    percent_rule("10")
    referer = partner()
    invoice = ordered(make_customer("Bob Buyer"), make_product(amount="100.00"), referer)
    pay(invoice, django_capture_on_commit_callbacks)
    line = invoice.lines.get()
    with django_capture_on_commit_callbacks(execute=True):
        billing.credit_note_create(
            invoice=invoice, reason="Goodwill", lines=[{"line_id": line.pk, "amount": "40"}]
        )
    kinds = list(CommissionEntry.objects.filter(referer=referer).order_by("revision"))
    assert [(e.kind, e.amount) for e in kinds] == [
        ("accrual", Decimal("10.00")),
        ("reversal", Decimal("-4.00")),
    ]
    assert earned(referer) == Decimal("6.00")


def test_a_refund_after_payout_leaves_a_negative_balance(acme, django_capture_on_commit_callbacks):
    percent_rule("10")
    referer = partner()
    invoice = ordered(make_customer("Bob Buyer"), make_product(amount="100.00"), referer)
    payment = pay(invoice, django_capture_on_commit_callbacks)
    CommissionEntry.objects.update(matures_on=clock.today())  # the refund window has passed
    payout = services.payout_record(referer=referer, currency="EUR", method="bank_transfer")
    assert payout.amount == Decimal("10.00")
    with django_capture_on_commit_callbacks(execute=True):
        settlement.payment_refund(payment=payment, amount="60", reason="Unhappy")
    balance = selectors.balances_for([referer], today=clock.today())["EUR"]
    assert balance.payable == Decimal("-5.00")  # half the net amount went back
    assert balance.paid_out == Decimal("10.00")
    with pytest.raises(ValidationError):
        services.payout_record(referer=referer, currency="EUR", method="bank_transfer")


def test_commission_is_pending_until_the_refund_window_ends(
    acme, django_capture_on_commit_callbacks
):
    referrals.programme_settings_update(maturity_days=14)
    percent_rule("10")
    referer = partner()
    invoice = ordered(make_customer("Bob Buyer"), make_product(amount="100.00"), referer)
    pay(invoice, django_capture_on_commit_callbacks)
    entry = CommissionEntry.objects.get(referer=referer)
    assert entry.matures_on == clock.today() + datetime.timedelta(days=14)
    now = selectors.balances_for([referer], today=clock.today())["EUR"]
    assert (now.pending, now.payable) == (Decimal("10.00"), Decimal("0"))
    later = selectors.balances_for([referer], today=entry.matures_on)["EUR"]
    assert (later.pending, later.payable) == (Decimal("0"), Decimal("10.00"))
    with pytest.raises(ValidationError):  # nothing payable yet
        services.payout_record(referer=referer, currency="EUR", method="bank_transfer")


def test_a_reversal_of_pending_commission_stays_pending_with_it(
    acme, django_capture_on_commit_callbacks
):
    percent_rule("10")
    referer = partner()
    invoice = ordered(make_customer("Bob Buyer"), make_product(amount="100.00"), referer)
    payment = pay(invoice, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        settlement.payment_refund(payment=payment, amount="120", reason="Cancelled")
    balance = selectors.balances_for([referer], today=clock.today())["EUR"]
    assert (balance.pending, balance.payable) == (Decimal("0"), Decimal("0"))


def _renew(invoice_of_service, today, capture):
    from tenant_apps.recurring.services import renewals_run

    renewals_run(today=today)
    return (
        Invoice.objects.filter(lines__service=invoice_of_service.lines.get().service)
        .exclude(pk=invoice_of_service.pk)
        .order_by("-issue_date", "-id")
        .first()
    )


def test_a_first_invoice_rule_pays_on_the_first_invoice_only(
    acme, django_capture_on_commit_callbacks
):
    percent_rule("10", duration="first_invoice")
    referer = partner()
    day0 = clock.today() - datetime.timedelta(days=40)
    first = ordered(make_customer("Bob Buyer"), make_product(amount="100.00"), referer, today=day0)
    pay(first, django_capture_on_commit_callbacks)
    second = _renew(first, clock.today(), django_capture_on_commit_callbacks)
    assert second is not None
    pay(second, django_capture_on_commit_callbacks)
    assert earned(referer) == Decimal("10.00")


def test_a_recurring_rule_pays_within_its_months_only(acme, django_capture_on_commit_callbacks):
    percent_rule("10", duration="recurring", months=1)
    referer = partner()
    product = make_product(amount="100.00")
    first = ordered(
        make_customer("Bob Buyer"),
        product,
        referer,
        today=clock.today() - datetime.timedelta(days=70),
    )
    pay(first, django_capture_on_commit_callbacks)
    # Renewed 70 days later: past the month the rule pays for.
    later = _renew(first, clock.today(), django_capture_on_commit_callbacks)
    pay(later, django_capture_on_commit_callbacks)
    assert earned(referer) == Decimal("10.00")

    percent_rule("10", product=make_product("web-m", amount="50.00"), months=3)
    second_order = ordered(
        make_customer("Cy Client"),
        product.__class__.objects.get(code="web-m"),
        referer,
        today=clock.today() - datetime.timedelta(days=40),
    )
    pay(second_order, django_capture_on_commit_callbacks)
    renewal = _renew(second_order, clock.today(), django_capture_on_commit_callbacks)
    pay(renewal, django_capture_on_commit_callbacks)
    assert earned(referer) == Decimal("20.00")  # 10 + 5 + 5


def test_volume_tiers_raise_the_rate_from_the_nth_order(acme, django_capture_on_commit_callbacks):
    percent_rule("10", tiers=[{"min_conversions": 3, "value": "20"}])
    referer = partner()
    product = make_product(amount="100.00")
    amounts = []
    for n in range(4):
        invoice = ordered(make_customer(f"Buyer{n} X", email=f"b{n}@example.com"), product, referer)
        pay(invoice, django_capture_on_commit_callbacks)
        amounts.append(CommissionEntry.objects.get(invoice=invoice).amount)
    assert amounts == [Decimal("10.00"), Decimal("10.00"), Decimal("20.00"), Decimal("20.00")]


def test_the_partners_own_referer_earns_the_second_level(acme, django_capture_on_commit_callbacks):
    percent_rule("10", second_level_rate="2.5")
    upline = partner("upline")
    referer = partner("partner", referred_by=upline)
    invoice = ordered(make_customer("Bob Buyer"), make_product(amount="100.00"), referer)
    pay(invoice, django_capture_on_commit_callbacks)
    assert earned(referer, level=1) == Decimal("10.00")
    assert earned(upline, level=2) == Decimal("2.50")
    assert earned(upline, level=1) == 0


def test_an_invoice_in_another_currency_keeps_its_currency(
    acme, django_capture_on_commit_callbacks
):
    from tenant_apps.catalog.models import Price

    percent_rule("10")
    referer = partner()
    product = make_product(amount="100.00")
    Price.objects.create(product=product, currency="USD", cycle="monthly", amount=Decimal("200"))
    invoice = ordered(make_customer("Sam Usd", currency="USD"), product, referer)
    pay(invoice, django_capture_on_commit_callbacks)
    balances = selectors.balances_for([referer], today=clock.today() + datetime.timedelta(days=365))
    assert set(balances) == {"USD"}
    assert balances["USD"].payable == Decimal("20.00")


def test_an_account_credit_payout_credits_the_partners_customer_account(
    acme, django_capture_on_commit_callbacks
):
    percent_rule("10")
    partner_customer = make_customer("Pat Partner")
    referer = partner(customer=partner_customer)
    invoice = ordered(make_customer("Bob Buyer"), make_product(amount="100.00"), referer)
    pay(invoice, django_capture_on_commit_callbacks)
    CommissionEntry.objects.update(matures_on=clock.today())
    payout = services.payout_record(referer=referer, currency="EUR", method="account_credit")
    partner_customer.refresh_from_db()
    assert partner_customer.credit_balance == Decimal("10.00")
    assert list(payout.entries.values_list("amount", flat=True)) == [Decimal("10.00")]
    assert Payout.objects.count() == 1
    # A payout is a payment by the instance, never an invoice in the partner's name.
    assert not Invoice.objects.filter(customer=partner_customer).exists()


def test_correcting_the_referer_of_an_order_moves_its_commission_and_is_audited(
    acme, django_capture_on_commit_callbacks
):
    percent_rule("10")
    wrong, right = partner("wrong"), partner("right")
    invoice = ordered(make_customer("Bob Buyer"), make_product(amount="100.00"), wrong)
    pay(invoice, django_capture_on_commit_callbacks)
    order = Order.objects.get(items__service__invoice_lines__invoice=invoice)
    services.order_referer_correct(order=order, referer=right, reason="Typed the wrong code")
    assert (earned(wrong), earned(right)) == (Decimal("0"), Decimal("10.00"))
    event = AuditEvent.objects.get(action="order.referer_corrected", object_id=str(order.pk))
    assert event.changes["referer"] == ["wrong", "right"]
    assert event.changes["referer_source"] == ["link", "staff"]
    assert event.detail["reason"] == "Typed the wrong code"
    with pytest.raises(ValidationError):
        services.order_referer_correct(order=order, referer=wrong, reason="")


def test_a_customer_signed_up_by_a_partner_credits_it_on_later_orders(
    acme, django_capture_on_commit_callbacks
):
    percent_rule("10")
    referer = partner()
    customer = make_customer("Bob Buyer")
    referrals.signup_attribute(customer=customer, referer=referer, source="link")
    invoice = ordered(customer, make_product(amount="100.00"), None)
    pay(invoice, django_capture_on_commit_callbacks)
    assert earned(referer) == Decimal("10.00")


def test_no_rule_means_no_commission(acme, django_capture_on_commit_callbacks):
    referer = partner()
    invoice = ordered(make_customer("Bob Buyer"), make_product(amount="100.00"), referer)
    pay(invoice, django_capture_on_commit_callbacks)
    assert not CommissionEntry.objects.exists()


def test_a_rule_with_bad_terms_is_refused_with_field_errors(acme):
    with pytest.raises(ValidationError) as caught:
        services.commission_rule_create(
            name="", kind="fixed", amount="-1", currency="", duration="recurring"
        )
    assert {"name", "amount", "currency"} <= set(caught.value.message_dict)
    percent_rule("10")
    with pytest.raises(ValidationError) as caught:
        percent_rule("12")  # a second default rule
    assert "product" in caught.value.message_dict


def test_the_sweep_posts_what_a_lost_announcement_left_out_once(acme):
    from tenant_apps.commissions.tasks import commissions_sweep

    percent_rule("10")
    referer = partner()
    invoice = ordered(make_customer("Bob Buyer"), make_product(amount="100.00"), referer)
    # Paid, but the after-commit announcement never ran (a crash between commit and handler).
    billing.payment_record(
        customer=invoice.customer, invoice=invoice, amount=invoice.total, method="bank_transfer"
    )
    assert earned(referer) == 0
    assert commissions_sweep(schema_name=acme.schema_name) == 1
    assert commissions_sweep(schema_name=acme.schema_name) == 0
    assert earned(referer) == Decimal("10.00")


def test_a_failing_sync_never_fails_the_payment_that_announced_it(
    acme, django_capture_on_commit_callbacks, monkeypatch
):
    percent_rule("10")
    referer = partner()
    invoice = ordered(make_customer("Bob Buyer"), make_product(amount="100.00"), referer)

    def broken(**kwargs):
        raise RuntimeError("ledger down")

    monkeypatch.setattr(services, "commission_sync_invoice", broken)
    pay(invoice, django_capture_on_commit_callbacks)
    invoice.refresh_from_db()
    assert invoice.status == "paid" and earned(referer) == 0
