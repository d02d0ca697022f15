"""Property (issue 12, "must hold"): over random sequences of orders, payments, partial
refunds, credit notes, payment reversals and replayed billing events, every partner's ledger
balance equals the rules applied to the net amounts paid — computed here from the billing
documents alone (paid invoices, less their credit notes, tax excluded)."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from decimal import Decimal
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django_tenants.utils import schema_context
from hypothesis import HealthCheck, given, note
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tenant_apps.billing import services as billing
from tenant_apps.billing import settlement
from tenant_apps.billing.models import Invoice, InvoiceLine, Payment
from tenant_apps.billing.selectors import line_credit_left
from tenant_apps.billing.signals import invoice_settlement_changed
from tenant_apps.catalog.models import Product
from tenant_apps.clients.models import Customer
from tenant_apps.commissions import selectors as commissions_selectors
from tenant_apps.commissions import services as commissions
from tenant_apps.commissions.models import CommissionEntry
from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.money import round_money
from tenant_apps.orders.models import Order
from tenant_apps.referrals.models import Referer
from tests.billing_fixtures import make_customer, make_product, setup_issuer
from tests.commission_fixtures import ordered, partner, percent_rule

PERCENT, SECOND_LEVEL, FIXED = Decimal("10"), Decimal("3"), Decimal("7.00")


@dataclass
class Stage:
    customers: list[int]
    products: list[int]
    partners: list[int]  # [A (referred by U), B, U]
    fixed_product: int


@pytest.fixture
def stage(instance_a):
    with (
        schema_context(instance_a.schema_name),
        mock.patch("tenant_apps.billing.tasks.documents_finalise_later"),
        mock.patch("tenant_apps.billing.tasks.payment_receipt_later"),
    ):
        setup_issuer("FR")
        billing.billing_settings_update(apply_credit_automatically=False)
        upline = partner("upline")
        a = partner("alpha", referred_by=upline)
        b = partner("bravo")
        percent_rule(str(PERCENT), second_level_rate=str(SECOND_LEVEL))
        fixed = make_product("fixed-plan", amount="59.90")
        percent_rule(
            "0",
            name="Fixed",
            kind="fixed",
            amount=str(FIXED),
            currency="EUR",
            product=fixed,
            duration="first_invoice",
        )
        yield Stage(
            customers=[
                make_customer("Carol One", email="c1@example.com").pk,
                make_customer("Dan Two", email="c2@example.com").pk,
            ],
            products=[
                make_product("plan-a", amount="100.00").pk,
                make_product("plan-b", amount="37.35").pk,
                fixed.pk,
            ],
            partners=[a.pk, b.pk, upline.pk],
            fixed_product=fixed.pk,
        )


def _pick(queryset, pick: int):
    rows = list(queryset.order_by("pk"))
    return rows[pick % len(rows)] if rows else None


def _expected() -> dict[int, Decimal]:
    """The rules applied to the net amounts paid, from the documents alone."""
    expected: dict[int, Decimal] = {}
    for invoice in Invoice.objects.filter(kind="invoice", status="paid"):
        for line in invoice.lines.select_related("service__order_item__order__referer"):
            order = line.service.order_item.order
            referer = order.referer
            if referer is None:
                continue
            credited = sum(
                (
                    note.net_amount
                    for note in InvoiceLine.objects.filter(
                        credited_line=line, invoice__kind="credit_note", invoice__status="issued"
                    )
                ),
                Decimal(0),
            )
            base = line.net_amount - credited
            if base <= 0:
                continue
            if line.service.product.code == "fixed-plan":
                amount = round_money(FIXED * base / line.net_amount, "EUR")
                second = Decimal(0)
            else:
                amount = round_money(base * PERCENT / 100, "EUR")
                second = round_money(base * SECOND_LEVEL / 100, "EUR")
            expected[referer.pk] = expected.get(referer.pk, Decimal(0)) + amount
            if referer.referred_by_id and second:
                up = referer.referred_by_id
                expected[up] = expected.get(up, Decimal(0)) + second
    return {pk: total for pk, total in expected.items() if total}


def _ledger() -> dict[int, Decimal]:
    totals: dict[int, Decimal] = {}
    for entry in CommissionEntry.objects.all():
        totals[entry.referer_id] = totals.get(entry.referer_id, Decimal(0)) + entry.amount
    return {pk: total for pk, total in totals.items() if total}


ORDER = st.tuples(st.just("order"), st.integers(0, 9), st.integers(0, 9), st.integers(0, 2))
PAY = st.tuples(st.just("pay"), st.integers(0, 9), st.sampled_from(["all", "part"]))
REFUND = st.tuples(st.just("refund"), st.integers(0, 9), st.integers(1, 100))
CREDIT = st.tuples(st.just("credit"), st.integers(0, 9), st.integers(1, 100))
REVERSE = st.tuples(st.just("reverse"), st.integers(0, 9))
REPLAY = st.tuples(st.just("replay"), st.integers(0, 9))
PAYOUT = st.tuples(st.just("payout"), st.integers(0, 2))
STEP = st.one_of(ORDER, PAY, PAY, REFUND, CREDIT, REVERSE, REPLAY, PAYOUT)


def _apply(step, stage: Stage, schema: str) -> None:
    kind = step[0]
    invoices = Invoice.objects.filter(kind="invoice")
    if kind == "order":
        _, customer, product, who = step
        referer = Referer.objects.get(pk=stage.partners[who]) if who < 2 else None
        ordered(
            Customer.objects.get(pk=stage.customers[customer % 2]),
            Product.objects.get(pk=stage.products[product % 3]),
            referer,
        )
    elif kind == "pay":
        invoice = _pick(invoices.filter(status__in=["issued", "partially_paid"]), step[1])
        if invoice is None:
            return
        amount = (
            invoice.amount_due if step[2] == "all" else round_money(invoice.amount_due / 2, "EUR")
        )
        if amount > 0:
            billing.payment_record(
                customer=invoice.customer, invoice=invoice, amount=amount, method="bank_transfer"
            )
    elif kind == "refund":
        payment = _pick(Payment.objects.filter(reversed_at__isnull=True), step[1])
        if payment is None or payment.refundable <= 0:
            return
        amount = max(round_money(payment.refundable * step[2] / 100, "EUR"), Decimal("0.01"))
        settlement.payment_refund(payment=payment, amount=amount, reason="Random refund")
    elif kind == "credit":
        invoice = _pick(invoices.exclude(status__in=["draft", "void", "credited"]), step[1])
        if invoice is None:
            return
        line = invoice.lines.get()
        left = line_credit_left(line)
        amount = round_money(left * step[2] / 100, "EUR")
        if amount > 0:
            billing.credit_note_create(
                invoice=invoice,
                reason="Random credit",
                lines=[{"line_id": line.pk, "amount": amount}],
            )
    elif kind == "reverse":
        payment = _pick(Payment.objects.filter(reversed_at__isnull=True), step[1])
        if payment is not None:
            settlement.payment_reverse(payment=payment, reason="Wrong bank line")
    elif kind == "payout":
        # The refund window of everything so far has passed; pay what is payable.
        CommissionEntry.objects.filter(payout__isnull=True).update(matures_on=datetime.date.today())
        referer = Referer.objects.get(pk=stage.partners[step[1]])
        commissions.payout_record(referer=referer, currency="EUR", method="bank_transfer")
    elif kind == "replay":
        invoice = _pick(invoices, step[1])
        if invoice is not None:
            invoice_settlement_changed.send(
                sender=Invoice, invoice_id=invoice.pk, schema_name=schema
            )


@hsettings(
    # A deeper hunt: COMMISSION_PROPERTY_EXAMPLES=500.
    max_examples=int(os.environ.get("COMMISSION_PROPERTY_EXAMPLES", "30")),
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # the stage is shared; each example rolls back
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(first=st.lists(ORDER, min_size=1, max_size=3), steps=st.lists(STEP, min_size=4, max_size=14))
def test_ledger_balance_equals_the_rules_applied_to_the_net_amounts_paid(
    stage, instance_a, django_capture_on_commit_callbacks, first, steps
):
    example = transaction.atomic()
    example.__enter__()
    try:
        for step in [*first, *steps]:
            note(repr(step))
            try:
                with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
                    _apply(step, stage, instance_a.schema_name)
            except (ValidationError, DomainError) as refused:
                note(f"refused: {refused}")
            assert _ledger() == _expected(), step
            for pk in stage.partners:
                # What is owed now plus what was paid out is all that was earned; after a
                # refund of paid-out commission what is owed is negative.
                balance = commissions_selectors.balances_for([Referer(pk=pk)]).get("EUR")
                if balance is not None:
                    assert balance.balance + balance.paid_out == _ledger().get(pk, Decimal(0))
        assert Order.objects.exists()
    finally:
        transaction.set_rollback(True)
        example.__exit__(None, None, None)
