"""Money that is right, as a whole (issue 9, "Must hold"): random sequences of orders, plan
changes, payments, credit notes, refunds, reversals and daily billing runs, through the real
services, keep the books balanced, give no service away and number documents without gaps.

Hypothesis draws a list of steps (`PlaceOrder`, `Pay`, `CreditNote`, `RefundPayment`,
`Advance` …) and plays them in one reseller instance (acme). Every example starts from a
clean state: it runs inside its own savepoint, rolled back when it ends, with a fake clock
(`django.utils.timezone.now`, which `tenant_apps.instance.clock.today` follows) that only
`Advance` moves — and each `Advance` runs the day's renewals and dunning, as the daily
beat does. What happens after commit in production (a settled invoice starting its service,
credit applied automatically) runs after each step; PDFs and e-mails are left out: they
move no money and rendering them would take most of the time budget.

A step a user could not take at that moment (pay a paid invoice, refund more than was
paid …) must be refused with a sentence (`ValidationError` or a `DomainError`) and write
nothing; any other exception fails the example. After every step the invariants are
checked (`check_*` below). A failure prints the steps as drawn and, step by step, what
each one did (`note`).
"""

from __future__ import annotations

import datetime
import os
import re
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from unittest import mock

import pytest
from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, Sum
from django.test import TestCase
from django_tenants.utils import schema_context
from hypothesis import HealthCheck, event, given, note
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tenant_apps.billing import services as billing
from tenant_apps.billing import settlement
from tenant_apps.billing.models import (
    CreditEntry,
    Invoice,
    InvoiceLine,
    NumberSequence,
    Payment,
    PaymentAllocation,
    Refund,
)
from tenant_apps.catalog.models import CYCLE_MONTHS, BillingCycle, Price, Product
from tenant_apps.clients.models import Customer
from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.models import AuditEvent
from tenant_apps.instance.money import ZERO, round_money
from tenant_apps.orders import services as orders
from tenant_apps.orders.models import Order, Service
from tenant_apps.recurring import services as runs
from tests.billing_fixtures import dunning_settings, make_customer, make_product, setup_issuer

# Days a service may run on an unpaid invoice past its due date before dunning suspends it
# (`dunning_settings`: suspend_after_days).
SUSPEND_AFTER_DAYS = 21
# Time moves by at most the renewal lead time, so every renewal is issued before its period
# starts, as it is when the run goes daily (a run on day T invoices what is due by T + lead;
# the next run is at most `lead` days later, still before those periods start).
RENEWAL_LEAD_DAYS = 21
STEP_DAYS = (1, 7, 14, 21)
STARTS = (
    datetime.date(2026, 3, 2),
    datetime.date(2026, 1, 31),  # month ends: Jan 31 → Feb 27
    datetime.date(2026, 12, 12),  # the numbers' year turns during the example
)
# Bugs the invariants find and that are still open each get a strict xfail test below; the
# invariants let exactly those patterns pass (marked "KNOWN BUG", guarded by this flag) so
# that the suite stays useful for everything else. MONEY_INVARIANT_STRICT=1 turns that off.
# None is open now: the three found so far (period billing) are fixed and checked for real.
KNOWN_BUGS_ALLOWED = os.environ.get("MONEY_INVARIANT_STRICT") != "1"
REFUSED = (ValidationError, DomainError)
OPEN = (Invoice.Status.ISSUED, Invoice.Status.PARTIALLY_PAID)
CENT = Decimal("0.01")
OVER = Decimal("7.50")


class FakeClock:
    """`timezone.now()` for the examples: noon (UTC, the instance's zone) of their "today",
    a microsecond later at each call so rows keep the order they were written in."""

    def __init__(self) -> None:
        self.today = STARTS[0]
        self._calls = 0

    def set(self, day: datetime.date) -> None:
        self.today, self._calls = day, 0

    def now(self) -> datetime.datetime:
        self._calls += 1
        noon = datetime.datetime.combine(self.today, datetime.time(12), tzinfo=datetime.UTC)
        return noon + datetime.timedelta(microseconds=self._calls)


@dataclass
class Stage:
    """Customers and plans every example shares (made once, outside the savepoints)."""

    clock: FakeClock
    customers: list[int]
    plans: list[int]


def _stage(clock: FakeClock) -> Stage:
    consumer = make_customer("Alice Martin")  # FR consumer: 20 % VAT
    business = make_customer(
        "Berlin Shop",
        country="DE",
        kind="company",
        company_name="Berlin Shop GmbH",
        tax_id="DE333333333",
        tax_id_status="valid",
    )  # reverse charge
    overseas = make_customer("Carol Jones", country="US", currency="USD")  # outside scope
    small = make_product("inv-small", amount="10.00", setup="5.00")
    big = make_product("inv-big", amount="40.00")
    free = make_product("inv-free", amount="0.00")  # invoices of 0: settled as issued
    for plan, amount in ((small, "11.00"), (big, "45.00"), (free, "0.00")):
        Price.objects.create(product=plan, currency="USD", cycle="monthly", amount=Decimal(amount))
    return Stage(
        clock=clock,
        customers=[consumer.pk, business.pk, overseas.pk],
        plans=[small.pk, big.pk, free.pk],
    )


def _fingerprint() -> tuple:
    """Every row a money step may write, to prove a refused step wrote nothing."""
    return (
        list(
            Invoice.objects.order_by("pk").values_list(
                "pk", "status", "number", "amount_paid", "amount_credited"
            )
        ),
        InvoiceLine.objects.count(),
        list(
            Payment.objects.order_by("pk").values_list(
                "pk", "applied_amount", "refunded_amount", "reversed_at"
            )
        ),
        list(PaymentAllocation.objects.order_by("pk").values_list("pk", "refunded")),
        Refund.objects.count(),
        CreditEntry.objects.count(),
        list(Customer.objects.order_by("pk").values_list("pk", "credit_balance")),
        list(
            Service.objects.order_by("pk").values_list(
                "pk", "status", "product_id", "next_due_date", "cancel_at_period_end"
            )
        ),
        list(Order.objects.order_by("pk").values_list("pk", "status")),
        list(NumberSequence.objects.order_by("pk").values_list("pk", "next_number")),
        AuditEvent.objects.count(),
    )


def _number_pattern(number_format: str) -> re.Pattern:
    """A document number format ("{year}-{number:06d}") as a pattern that reads it back."""
    pattern, end = "", 0
    for match in re.finditer(r"\{(year|number)(?::[^}]*)?\}", number_format):
        pattern += re.escape(number_format[end : match.start()])
        pattern += r"(?P<year>\d{4})" if match.group(1) == "year" else r"(?P<number>\d+)"
        end = match.end()
    return re.compile(f"^{pattern}{re.escape(number_format[end:])}$")


def _sum(queryset, field: str) -> Decimal:
    return queryset.aggregate(total=Sum(field))["total"] or ZERO


def _cycle_end(start: datetime.date, cycle: str) -> datetime.date:
    months = CYCLE_MONTHS[BillingCycle(cycle)]
    return start + relativedelta(months=months) - datetime.timedelta(days=1)


def _line_period(line: InvoiceLine, service: Service) -> tuple | None:
    """The days a service line bills: its own dates, or — the first invoice of an order
    that starts on payment states the period's length, not its dates — the service's
    first period, from the day it started."""
    if line.period_start and line.period_end:
        return line.period_start, line.period_end
    if service.first_period_start and CYCLE_MONTHS[BillingCycle(service.cycle)]:
        return service.first_period_start, _cycle_end(service.first_period_start, service.cycle)
    return None


def _share(amount: Decimal, share: str) -> Decimal:
    if share == "part":
        return max(round_money(amount / 3, "EUR"), CENT)
    if share == "over":
        return amount + OVER
    return amount


# --------------------------------------------------------------------------------------
# The world one example plays in


class World:
    """One example: its savepoint, its clock, and the user's actions as services."""

    def __init__(self, stage: Stage, *, start: datetime.date, auto_credit: bool) -> None:
        self.stage = stage
        self.today = start
        self._savepoint = transaction.atomic()
        self._savepoint.__enter__()
        stage.clock.set(start)
        billing.billing_settings_update(apply_credit_automatically=auto_credit)
        note(f"start {start}, credit applied automatically: {auto_credit}")

    def close(self) -> None:
        transaction.set_rollback(True)
        self._savepoint.__exit__(None, None, None)

    def customer(self, pick: int) -> Customer:
        return Customer.objects.get(pk=self.stage.customers[pick % len(self.stage.customers)])

    def plan(self, pick: int) -> Product:
        return Product.objects.get(pk=self.stage.plans[pick % len(self.stage.plans)])

    @staticmethod
    def pick(queryset, pick: int):
        rows = list(queryset.order_by("pk"))
        return rows[pick % len(rows)] if rows else None

    def attempt(self, what: str, action, *, must: bool | None = None):
        """Run one user action as its own transaction would, then what its commit triggers.
        A refusal must be a sentence and write nothing; `must` says whether the action has
        to succeed (True), has to be refused (False), or may go either way (None)."""
        before = _fingerprint()
        result, acted = None, False
        try:
            with TestCase.captureOnCommitCallbacks(execute=True):
                result = action()
                acted = True
        except REFUSED as refusal:
            # What runs after commit never refuses: the action it follows stands.
            assert not acted, f"after {what} ({result}) committed, its follow-up refused"
            text = "; ".join(getattr(refusal, "messages", None) or [str(refusal)])
            note(f"{self.today} {what}: refused ({type(refusal).__name__}: {text})")
            event(f"{what.split()[0]}: refused")
            assert text.strip(), f"{what} was refused without a sentence"
            assert _fingerprint() == before, f"{what} was refused ({text}) but wrote rows"
            assert must is not True, f"{what} should have been accepted, was refused: {text}"
            return None
        note(f"{self.today} {what}: done ({result})")
        event(f"{what.split()[0]}: done")
        assert must is not False, f"{what} should have been refused, was accepted"
        return result

    def advance(self, days: int) -> None:
        """The next day the beat runs: renewals, then dunning, each its own commit."""
        self.today += datetime.timedelta(days=days)
        self.stage.clock.set(self.today)
        with TestCase.captureOnCommitCallbacks(execute=True):
            renewals = runs.renewals_run(today=self.today)
        with TestCase.captureOnCommitCallbacks(execute=True):
            dunning = runs.dunning_run(today=self.today)
        note(
            f"{self.today} runs: {renewals.invoices_created} invoice(s) issued; dunning: "
            f"{'; '.join(dunning.log) or 'nothing to do'}"
        )
        event("renewals issued invoices" if renewals.invoices_created else "renewals: none")
        if dunning.services_suspended:
            event("dunning suspended a service")


# --------------------------------------------------------------------------------------
# Steps: what a user (or the clock) does. `pick` chooses among existing rows by id order.


@dataclass(frozen=True)
class PlaceOrder:
    customer: int
    plan: int
    how: str  # "staff, starts now" | "staff, starts on payment" | "portal"
    pay_at_once: bool

    def apply(self, world: World) -> None:
        buyer, product = world.customer(self.customer), world.plan(self.plan)
        source = Order.Source.PORTAL if self.how == "portal" else Order.Source.STAFF

        def place_and_accept() -> Invoice:
            placed = orders.order_place(
                customer=buyer, items=[{"product": product, "cycle": "monthly"}], source=source
            )
            return orders.order_accept(order=placed, activate=self.how == "staff, starts now")

        invoice = world.attempt(
            f"order {product.code} for {buyer} ({self.how})", place_and_accept, must=True
        )
        # Fresh: account credit may have settled it already (credit applied automatically).
        invoice = Invoice.objects.get(pk=invoice.pk)
        if self.pay_at_once and invoice.amount_due > 0:
            world.attempt(
                f"pay {invoice.amount_due} on {invoice} at checkout",
                lambda: billing.payment_record(
                    customer=buyer, invoice=invoice, amount=invoice.amount_due, method="card"
                ),
                must=True,
            )


@dataclass(frozen=True)
class Pay:
    pick: int
    share: str  # "all" | "part" | "over" (of what is owed)
    how: str  # "an open invoice" | "any invoice" | "oldest first" | "allocations" | "on account"

    def apply(self, world: World) -> None:
        if self.how in ("an open invoice", "any invoice"):
            invoices = Invoice.objects.filter(kind=Invoice.Kind.INVOICE)
            if self.how == "an open invoice":
                invoices = invoices.filter(status__in=OPEN)
            invoice = world.pick(invoices, self.pick)
            if invoice is None:
                return
            owed = invoice.amount_due
            amount = _share(owed, self.share) if owed > 0 else Decimal("5.00")
            world.attempt(
                f"pay {amount} on {invoice} ({invoice.status}, owes {owed})",
                lambda: billing.payment_record(
                    customer=invoice.customer, invoice=invoice, amount=amount, method="cash"
                ),
                must=invoice.status in OPEN,
            )
            return
        customer = world.customer(self.pick)
        open_invoices = list(
            Invoice.objects.filter(
                customer=customer,
                kind=Invoice.Kind.INVOICE,
                status__in=OPEN,
                currency=customer.currency,
            ).order_by("due_date", "pk")
        )
        owed = sum((invoice.amount_due for invoice in open_invoices), ZERO)
        if self.how == "oldest first":
            amount = _share(owed, self.share) if owed > 0 else Decimal("5.00")
            world.attempt(
                f"pay {amount} oldest first for {customer} (owes {owed})",
                lambda: billing.payment_record(
                    customer=customer, amount=amount, method="bank_transfer", oldest_first=True
                ),
                must=owed > 0,
            )
        elif self.how == "allocations":
            if not open_invoices:
                return
            parts = [
                (invoice, _share(invoice.amount_due, self.share).min(invoice.amount_due))
                for invoice in open_invoices[:2]
            ]
            amount = sum((part for _, part in parts), ZERO)
            amount += OVER if self.share == "over" else ZERO
            world.attempt(
                f"pay {amount} over {', '.join(f'{p} on {i}' for i, p in parts)} for {customer}",
                lambda: billing.payment_record(
                    customer=customer, amount=amount, method="bank_transfer", allocations=parts
                ),
                must=True,
            )
        else:
            world.attempt(
                f"pay 20.00 on account for {customer}",
                lambda: billing.payment_record(customer=customer, amount="20.00", method="card"),
                must=True,
            )


@dataclass(frozen=True)
class ApplyCredit:
    pick: int

    def apply(self, world: World) -> None:
        invoices = Invoice.objects.filter(kind=Invoice.Kind.INVOICE, status__in=OPEN)
        invoice = world.pick(invoices, self.pick)
        if invoice is None:
            return
        world.attempt(
            f"apply credit to {invoice} ({invoice.status}, owes {invoice.amount_due})",
            lambda: billing.invoice_apply_credit(invoice=invoice),
        )


@dataclass(frozen=True)
class AdjustCredit:
    customer: int
    amount: str

    def apply(self, world: World) -> None:
        who = world.customer(self.customer)
        world.attempt(
            f"adjust {who}'s credit ({who.credit_balance}) by {self.amount}",
            lambda: billing.customer_credit_adjust(
                customer=who, amount=self.amount, note="Goodwill"
            ),
            must=Decimal(self.amount) + who.credit_balance >= 0,
        )


@dataclass(frozen=True)
class CreditNote:
    pick: int
    scope: str  # "whole" | "half a line" | "1.00 of a line"
    waive: bool

    def apply(self, world: World) -> None:
        invoice = world.pick(Invoice.objects.filter(kind=Invoice.Kind.INVOICE), self.pick)
        if invoice is None:
            return
        first = invoice.lines.order_by("pk").first()
        lines = {
            "whole": None,
            "half a line": [{"line_id": first.pk, "quantity": "0.5"}],
            "1.00 of a line": [{"line_id": first.pk, "amount": "1.00"}],
        }[self.scope]
        world.attempt(
            f"credit {self.scope} of {invoice} ({invoice.status})"
            + (", waiving its periods" if self.waive else ""),
            lambda: billing.credit_note_create(
                invoice=invoice, reason="Correction", lines=lines, waive_periods=self.waive
            ),
        )


@dataclass(frozen=True)
class RefundPayment:
    pick: int
    share: str  # "all" | "part" | "too much" (of what is left to refund)

    def apply(self, world: World) -> None:
        payment = world.pick(Payment.objects.all(), self.pick)
        if payment is None:
            return
        left = payment.refundable
        if self.share == "too much" or left <= 0:
            amount = left + Decimal("1.00")
        else:
            amount = left if self.share == "all" else max(round_money(left / 2, "EUR"), CENT)
        world.attempt(
            f"refund {amount} of payment #{payment.pk} ({payment.amount}, {left} refundable)",
            lambda: settlement.payment_refund(
                payment=payment, amount=amount, reason="Customer asked"
            ),
            must=False if amount > left else None,
        )


@dataclass(frozen=True)
class ReversePayment:
    pick: int

    def apply(self, world: World) -> None:
        payment = world.pick(Payment.objects.all(), self.pick)
        if payment is None:
            return
        world.attempt(
            f"reverse payment #{payment.pk} ({payment.amount}, refunded "
            f"{payment.refunded_amount}, reversed: {payment.is_reversed})",
            lambda: settlement.payment_reverse(payment=payment, reason="Wrong bank line"),
            must=False if (payment.is_reversed or payment.refunded_amount > 0) else None,
        )


@dataclass(frozen=True)
class ChangePlan:
    pick: int
    plan: int

    def apply(self, world: World) -> None:
        service = world.pick(Service.objects.all(), self.pick)
        if service is None:
            return
        product = world.plan(self.plan)
        world.attempt(
            f"change service #{service.pk} ({service.status}) from {service.product.code} "
            f"to {product.code}",
            lambda: orders.service_change_plan(service=service, product=product),
            must=False if service.status != Service.Status.ACTIVE else None,
        )


@dataclass(frozen=True)
class CancelOrder:
    pick: int

    def apply(self, world: World) -> None:
        order = world.pick(Order.objects.all(), self.pick)
        if order is None:
            return
        world.attempt(
            f"cancel order #{order.pk} ({order.status})", lambda: orders.order_cancel(order=order)
        )


@dataclass(frozen=True)
class CancelAtTerm:
    pick: int

    def apply(self, world: World) -> None:
        service = world.pick(Service.objects.all(), self.pick)
        if service is None:
            return
        world.attempt(
            f"cancel service #{service.pk} ({service.status}) at the end of its term",
            lambda: orders.service_cancel(service=service, immediately=False),
        )


@dataclass(frozen=True)
class Advance:
    days: int

    def apply(self, world: World) -> None:
        world.advance(self.days)


_pick = st.integers(0, 20)
PLACE_ORDER = st.builds(
    PlaceOrder,
    customer=st.integers(0, 2),
    plan=st.integers(0, 2),
    how=st.sampled_from(["staff, starts now", "staff, starts on payment", "portal"]),
    pay_at_once=st.booleans(),
)
ADVANCE = st.builds(Advance, days=st.sampled_from(STEP_DAYS))
PAY = st.builds(
    Pay,
    pick=_pick,
    share=st.sampled_from(["all", "part", "over"]),
    how=st.sampled_from(
        ["an open invoice", "an open invoice", "any invoice", "oldest first", "allocations"]
        + ["on account"]
    ),
)
# Each kind of step by weight (hypothesis's `one_of` leans on its first branches): the
# clock, payments and orders come up most — they are what the other steps act on.
WEIGHTED_STEPS = [
    *[ADVANCE] * 5,
    *[PAY] * 4,
    *[PLACE_ORDER] * 2,
    st.builds(ApplyCredit, pick=_pick),
    st.builds(
        AdjustCredit,
        customer=st.integers(0, 2),
        amount=st.sampled_from(["5.00", "12.00", "-2.50", "-1000.00"]),
    ),
    *[
        st.builds(
            CreditNote,
            pick=_pick,
            scope=st.sampled_from(["whole", "half a line", "1.00 of a line"]),
            waive=st.booleans(),
        )
    ]
    * 2,
    *[st.builds(RefundPayment, pick=_pick, share=st.sampled_from(["all", "part", "too much"]))] * 2,
    st.builds(ReversePayment, pick=_pick),
    *[st.builds(ChangePlan, pick=_pick, plan=st.integers(0, 2))] * 2,
    st.builds(CancelOrder, pick=_pick),
    st.builds(CancelAtTerm, pick=_pick),
]
STEP = st.sampled_from(WEIGHTED_STEPS).flatmap(lambda step: step)


# --------------------------------------------------------------------------------------
# Invariants, checked after every step


def check_the_books_balance() -> None:
    """Per customer and currency:
        invoiced − paid − credited + refunded == amount due − account credit + manual
    Sign convention (checked against the models): the left side is what the customer
    owes us, net — invoices add to it, payments and credit notes take from it, a refund
    (money going back) adds to it again. On the right, `amount_due` of open invoices is
    owed by the customer, account credit is owed *to* the customer, so it comes off.
    Manual credit adjustments (`customer_credit_adjust`) move credit with no document
    and no money, so they appear on the right only and are added back.
    Each part is also reconciled on its own (per invoice, per payment, the cached
    balance against its ledger), so a failure says where the cent went."""
    documents = list(Invoice.objects.exclude(status=Invoice.Status.DRAFT))
    payments = list(Payment.objects.all())
    refunds = list(Refund.objects.all())
    entries = list(CreditEntry.objects.all())
    allocations = list(PaymentAllocation.objects.select_related("payment"))
    books: dict[tuple[int, str], dict[str, Decimal]] = defaultdict(
        lambda: defaultdict(lambda: ZERO)
    )
    for document in documents:
        if document.status == Invoice.Status.VOID:
            continue
        key = (document.customer_id, document.currency)
        if document.kind == Invoice.Kind.INVOICE:
            books[key]["invoiced"] += document.total
            books[key]["due"] += document.amount_due
        else:
            books[key]["credited"] += document.total
    for payment in payments:
        if not payment.is_reversed:
            books[(payment.customer_id, payment.currency)]["paid"] += payment.amount
    for refund in refunds:
        books[(refund.customer_id, refund.currency)]["refunded"] += refund.amount
    for entry in entries:
        books[(entry.customer_id, entry.currency)]["ledger"] += entry.amount
        if entry.kind == CreditEntry.Kind.MANUAL:
            books[(entry.customer_id, entry.currency)]["manual"] += entry.amount
    customers = {customer.pk: customer for customer in Customer.objects.all()}
    for customer in customers.values():
        books[(customer.pk, customer.currency)]  # noqa: B018 (every balance is checked)
    for (customer_id, currency), book in sorted(books.items()):
        where = f"{customers[customer_id]} in {currency}"
        credit = billing.credit_available(customers[customer_id], currency)
        assert credit == book["ledger"], (
            f"{where}: credit balance {credit}, its ledger sums to {book['ledger']}"
        )
        assert credit >= 0, f"{where}: negative credit {credit}"
        left = book["invoiced"] - book["paid"] - book["credited"] + book["refunded"]
        right = book["due"] - credit + book["manual"]
        assert left == right, (
            f"{where}: invoiced {book['invoiced']} − paid {book['paid']} − credited "
            f"{book['credited']} + refunded {book['refunded']} = {left}, but due "
            f"{book['due']} − credit {credit} + manual {book['manual']} = {right}"
        )
    _reconcile_invoices(documents, allocations, entries)
    for payment in payments:
        allocated = sum((a.amount for a in allocations if a.payment_id == payment.pk), ZERO)
        refunded = sum((r.amount for r in refunds if r.payment_id == payment.pk), ZERO)
        assert payment.applied_amount == allocated, (
            f"payment #{payment.pk}: applied {payment.applied_amount}, allocations {allocated}"
        )
        assert payment.refunded_amount == refunded <= payment.amount, (
            f"payment #{payment.pk} of {payment.amount}: refunded "
            f"{payment.refunded_amount}, refunds {refunded}"
        )


def _reconcile_invoices(documents, allocations, entries) -> None:
    """What an invoice says was paid and credited is what its payments, applied credit
    and credit notes add up to, and its status follows from those amounts."""
    paid: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for allocation in allocations:
        if not allocation.payment.is_reversed:
            paid[allocation.invoice_id] += allocation.amount - allocation.refunded
    from_credit: dict[int, Decimal] = defaultdict(lambda: ZERO)
    to_credit: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for entry in entries:
        if entry.kind == CreditEntry.Kind.APPLIED:
            from_credit[entry.invoice_id] -= entry.amount
        elif entry.kind == CreditEntry.Kind.CREDIT_NOTE:
            to_credit[entry.invoice_id] += entry.amount
    credited: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for document in documents:
        if document.kind == Invoice.Kind.CREDIT_NOTE and document.status != Invoice.Status.VOID:
            credited[document.credited_invoice_id] += document.total - to_credit[document.pk]
    for invoice in documents:
        if invoice.kind != Invoice.Kind.INVOICE:
            continue
        assert invoice.amount_paid == paid[invoice.pk] + from_credit[invoice.pk], (
            f"{invoice}: amount_paid {invoice.amount_paid}, but payments give "
            f"{paid[invoice.pk]} and applied credit {from_credit[invoice.pk]}"
        )
        assert invoice.amount_credited == credited[invoice.pk], (
            f"{invoice}: amount_credited {invoice.amount_credited}, but its credit notes "
            f"reduce it by {credited[invoice.pk]}"
        )
        settled = invoice.amount_paid + invoice.amount_credited
        assert settled <= invoice.total, f"{invoice}: settled {settled} of {invoice.total}"
        if invoice.status == Invoice.Status.VOID:
            continue
        if settled < invoice.total:
            expected = Invoice.Status.PARTIALLY_PAID if settled > 0 else Invoice.Status.ISSUED
        elif invoice.amount_paid == 0 and invoice.amount_credited > 0:
            expected = Invoice.Status.CREDITED
        else:
            expected = Invoice.Status.PAID
        assert invoice.status == expected, (
            f"{invoice}: {invoice.status}, but paid {invoice.amount_paid} and credited "
            f"{invoice.amount_credited} of {invoice.total} make it {expected}"
        )


def check_numbers_run_from_one_without_gaps() -> None:
    """Per series (invoices, credit notes) and year: the issued numbers are 1..N, each
    once, in the year they were issued, and the counter stands at N + 1."""
    settings_row = billing.billing_settings_get()
    formats = {
        Invoice.Kind.INVOICE: settings_row.invoice_number_format,
        Invoice.Kind.CREDIT_NOTE: settings_row.credit_note_number_format,
    }
    for series, number_format in formats.items():
        pattern = _number_pattern(number_format)
        by_year: dict[int, list[int]] = defaultdict(list)
        for number, issued in Invoice.objects.filter(kind=series, number__isnull=False).values_list(
            "number", "issue_date"
        ):
            match = pattern.match(number)
            assert match, f"{number} does not read as {number_format}"
            assert int(match["year"]) == issued.year, f"{number} issued on {issued}"
            by_year[issued.year].append(int(match["number"]))
        for year, numbers in by_year.items():
            assert sorted(numbers) == list(range(1, len(numbers) + 1)), (
                f"{series} numbers of {year}: {sorted(numbers)}"
            )
            counter = NumberSequence.objects.get(series=series, period=str(year))
            assert counter.next_number == len(numbers) + 1, (
                f"{series} {year}: {len(numbers)} issued, counter at {counter.next_number}"
            )
        assert (
            Invoice.objects.filter(kind=series, status=Invoice.Status.DRAFT)
            .exclude(number=None)
            .count()
            == 0
        ), "a draft holds a number"


def check_no_period_is_billed_twice() -> None:
    """A service period still charged (its line not wholly credited) is on one invoice."""
    charged: dict[int, list[tuple]] = defaultdict(list)
    lines = (
        InvoiceLine.objects.filter(
            kind=InvoiceLine.Kind.SERVICE,
            service__isnull=False,
            invoice__kind=Invoice.Kind.INVOICE,
        )
        .exclude(
            invoice__status__in=[
                Invoice.Status.DRAFT,
                Invoice.Status.VOID,
                Invoice.Status.CREDITED,
            ]
        )
        .select_related("invoice", "service")
    )
    for line in lines.annotate(
        taken=Sum(
            "credited_by__gross_amount",
            filter=~Q(credited_by__invoice__status__in=[Invoice.Status.DRAFT, Invoice.Status.VOID]),
        )
    ):
        if (line.taken or ZERO) >= line.gross_amount:
            continue  # credited in full, or a free period (a line of 0 charges nothing)
        period = _line_period(line, line.service)
        if period is not None:
            charged[line.service_id].append((*period, str(line.invoice)))
    for service_id, periods in charged.items():
        periods.sort()
        for (_, end, first), (start, _, second) in zip(periods, periods[1:], strict=False):
            assert start > end, (
                f"service #{service_id} is billed twice for {start}..{end}: on {first} and {second}"
            )


def check_no_service_runs_unpaid(today: datetime.date) -> None:
    """Right after the day's runs, every active service has a service line covering the
    period it is in, on an invoice that is paid or totals 0 — with these documented
    exceptions, each what the product decided:
    - dunning's grace: the invoice is still open, but less than `suspend_after_days` past
      its due date (a renewal is due when its period starts; an order staff started at
      once is due after the payment terms). The daily dunning run ends the grace: it
      suspends the service. So this is checked right after the runs — between two runs a
      reversal or a credit note may reopen a period, as it would in production until the
      next daily run.
    - a free period: its line charges 0 (nothing to pay).
    - a period waived on record: its unpaid line credited with `waive_periods`, which
      writes a `service.period_waived` audit row naming that line.
    "The period it is in" is the one covering today, or — for a service behind on
    payment — the period starting on its `next_due_date` (≤ today): renewals bill one
    period at a time and the next only once that one is paid, so a period billed again
    late (its first invoice credited or refunded) is due after the payment terms and its
    grace may run past its last day; the service is then still "in" that unpaid period.
    And no active service is billed by any line (an upgrade's too) of an invoice past
    the grace."""
    for service in Service.objects.filter(status=Service.Status.ACTIVE).order_by("pk"):
        lines = (
            InvoiceLine.objects.filter(
                service=service,
                kind=InvoiceLine.Kind.SERVICE,
                invoice__kind=Invoice.Kind.INVOICE,
            )
            .exclude(invoice__status__in=[Invoice.Status.DRAFT, Invoice.Status.VOID])
            .select_related("invoice")
            .order_by("pk")
        )
        behind = service.next_due_date is not None and service.next_due_date <= today
        covering = []
        for line in lines:
            period = _line_period(line, service)
            if period is None:
                continue
            if period[0] <= today <= period[1] or (behind and period[0] == service.next_due_date):
                covering.append(line)
        waived = AuditEvent.objects.filter(
            action="service.period_waived", object_id=str(service.pk)
        )
        reasons = []
        for line in covering:
            invoice = line.invoice
            if invoice.status == Invoice.Status.PAID or invoice.total == 0:
                reasons.append("paid")
            elif line.gross_amount == 0:
                reasons.append("free")  # a period billed at 0 owes nothing
            elif invoice.status in OPEN and today < invoice.due_date + datetime.timedelta(
                days=SUSPEND_AFTER_DAYS
            ):
                reasons.append("in grace")
            elif waived.filter(detail__invoice_line=line.pk).exists():
                reasons.append("waived")
        event(f"active service covered: {reasons[0] if reasons else 'not'}")
        assert reasons, (
            f"service #{service.pk} ({service.product.code}) is active on {today} with no "
            f"paid document covering the period it is in; its lines: "
            + "; ".join(
                f"{line.invoice} {line.invoice.status} {_line_period(line, service)} "
                f"due {line.invoice.due_date}"
                for line in lines
            )
            + f"; next due {service.next_due_date}, first period {service.first_period_start}"
        )
    past_grace = Invoice.objects.filter(
        kind=Invoice.Kind.INVOICE,
        status__in=OPEN,
        due_date__lte=today - datetime.timedelta(days=SUSPEND_AFTER_DAYS),
    )
    still_active = Service.objects.filter(
        status=Service.Status.ACTIVE, invoice_lines__invoice__in=past_grace
    ).distinct()
    assert not still_active.exists(), (
        f"services {[s.pk for s in still_active]} are active on {today} while billed by "
        f"invoices past the {SUSPEND_AFTER_DAYS}-day grace: "
        f"{[(str(i), i.due_date) for i in past_grace]}"
    )


def check_all(world: World, *, after_runs: bool) -> None:
    check_the_books_balance()
    check_numbers_run_from_one_without_gaps()
    check_no_period_is_billed_twice()
    if after_runs:
        check_no_service_runs_unpaid(world.today)


# --------------------------------------------------------------------------------------
# The test


@pytest.fixture
def money_stage(instance_a):
    """acme with an issuer, dunning settings, three customers and three plans; a fake
    clock; no PDFs or mails (side effects that move no money)."""
    clock = FakeClock()
    with (
        schema_context(instance_a.schema_name),
        mock.patch("django.utils.timezone.now", clock.now),
        mock.patch("tenant_apps.billing.tasks.documents_finalise_later"),
        mock.patch("tenant_apps.billing.tasks.payment_receipt_later"),
        mock.patch("tenant_apps.billing.notifications.invoice_reminder_notify"),
        mock.patch("tenant_apps.orders.notifications.service_suspended_notify"),
    ):
        setup_issuer("FR")
        dunning_settings(suspend_after_days=SUSPEND_AFTER_DAYS, renewal_lead_days=RENEWAL_LEAD_DAYS)
        yield _stage(clock)


@hsettings(
    # A deeper hunt: MONEY_INVARIANT_EXAMPLES=1000 (the suite keeps to about half a minute).
    max_examples=int(os.environ.get("MONEY_INVARIANT_EXAMPLES", "50")),
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # the stage is shared; each example rolls back
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(
    start=st.sampled_from(STARTS),
    auto_credit=st.booleans(),
    first_orders=st.lists(PLACE_ORDER, min_size=1, max_size=3),
    steps=st.lists(STEP, min_size=8, max_size=12),
)
def test_money_stays_right_over_random_sequences_of_billing_steps(
    money_stage, start, auto_credit, first_orders, steps
):
    world = World(money_stage, start=start, auto_credit=auto_credit)
    try:
        check_all(world, after_runs=False)
        for step in [*first_orders, *steps]:
            step.apply(world)
            check_all(world, after_runs=isinstance(step, Advance))
    finally:
        world.close()


# --------------------------------------------------------------------------------------
# What the invariants found, one plain test each (a strict xfail is a bug still open:
# an XPASS says it was fixed — then drop the marker)


def test_a_refunded_first_period_of_an_order_started_on_payment_is_billed_again(money_stage):
    day = datetime.date(2026, 3, 2)
    money_stage.clock.set(day)
    customer = Customer.objects.get(pk=money_stage.customers[0])
    plan = Product.objects.get(pk=money_stage.plans[0])
    order = orders.order_place(
        customer=customer,
        items=[{"product": plan, "cycle": "monthly"}],
        source=Order.Source.PORTAL,
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        invoice = orders.order_accept(order=order, activate=False)
    with TestCase.captureOnCommitCallbacks(execute=True):
        payment = billing.payment_record(
            customer=customer, invoice=invoice, amount=invoice.amount_due, method="card"
        )
    service = Service.objects.get(order_item__order=order)
    assert service.status == Service.Status.ACTIVE

    with TestCase.captureOnCommitCallbacks(execute=True):
        settlement.payment_refund(payment=payment, amount=payment.amount, reason="Changed mind")

    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.CREDITED and invoice.amount_paid == 0
    money_stage.clock.set(day + datetime.timedelta(days=1))
    with TestCase.captureOnCommitCallbacks(execute=True):
        runs.renewals_run(today=day + datetime.timedelta(days=1))
    billed_again = InvoiceLine.objects.filter(
        service=service,
        kind=InvoiceLine.Kind.SERVICE,
        invoice__kind=Invoice.Kind.INVOICE,
        invoice__status=Invoice.Status.ISSUED,
    )
    assert billed_again.exists(), "the refunded period was not billed again"


def test_cancelling_an_order_credits_only_that_orders_lines(money_stage):
    day = datetime.date(2026, 3, 2)
    money_stage.clock.set(day)
    customer = Customer.objects.get(pk=money_stage.customers[0])
    placed = []
    for pk in money_stage.plans[:2]:
        order = orders.order_place(
            customer=customer, items=[{"product": Product.objects.get(pk=pk), "cycle": "monthly"}]
        )
        with TestCase.captureOnCommitCallbacks(execute=True):
            orders.order_accept(order=order, activate=True)
        placed.append(order)
    renewal_day = day + datetime.timedelta(days=14)
    money_stage.clock.set(renewal_day)
    runs.renewals_run(today=renewal_day)  # one renewal invoice bills both services
    kept = Service.objects.get(order_item__order=placed[1])

    with TestCase.captureOnCommitCallbacks(execute=True):
        orders.order_cancel(order=placed[0])

    credited = InvoiceLine.objects.filter(
        invoice__kind=Invoice.Kind.CREDIT_NOTE, credited_line__service=kept
    )
    assert not credited.exists(), [line.description for line in credited]


@pytest.mark.parametrize("later", ["paid", "waived"])
def test_a_period_owed_again_is_not_skipped_by_a_later_period(money_stage, later):
    day = datetime.date(2026, 3, 2)
    money_stage.clock.set(day)
    customer = Customer.objects.get(pk=money_stage.customers[0])
    order = orders.order_place(
        customer=customer,
        items=[{"product": Product.objects.get(pk=money_stage.plans[0]), "cycle": "monthly"}],
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        first = orders.order_accept(order=order, activate=True)  # Mar 2 – Apr 1, unpaid
    service = Service.objects.get(order_item__order=order)
    renewal_day = datetime.date(2026, 3, 23)
    money_stage.clock.set(renewal_day)
    runs.renewals_run(today=renewal_day)  # Apr 2 – May 1
    renewal = Invoice.objects.get(lines__service=service, billing_run__isnull=False)
    with TestCase.captureOnCommitCallbacks(execute=True):
        billing.credit_note_create(invoice=first, reason="Wrong price")  # to be billed again
    with TestCase.captureOnCommitCallbacks(execute=True):
        if later == "paid":
            billing.payment_record(
                customer=customer, invoice=renewal, amount=renewal.amount_due, method="card"
            )
        else:
            billing.credit_note_create(invoice=renewal, reason="Outage", waive_periods=True)

    next_day = renewal_day + datetime.timedelta(days=1)
    money_stage.clock.set(next_day)
    runs.renewals_run(today=next_day)

    billed_again = InvoiceLine.objects.filter(
        service=service,
        period_start=day,
        invoice__kind=Invoice.Kind.INVOICE,
        invoice__status=Invoice.Status.ISSUED,
    )
    assert billed_again.exists(), (
        f"March is neither billed again nor waived; next due {service.next_due_date}"
    )


def test_paying_a_period_billed_again_does_not_bill_the_next_period_twice(money_stage):
    day = datetime.date(2026, 3, 2)
    money_stage.clock.set(day)
    customer = Customer.objects.get(pk=money_stage.customers[0])
    order = orders.order_place(
        customer=customer,
        items=[{"product": Product.objects.get(pk=money_stage.plans[0]), "cycle": "monthly"}],
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        first = orders.order_accept(order=order, activate=True)  # Mar 2 – Apr 1
        payment = billing.payment_record(
            customer=customer, invoice=first, amount=first.amount_due, method="card"
        )
    service = Service.objects.get(order_item__order=order)

    def run_renewals(on: datetime.date) -> None:
        money_stage.clock.set(on)
        with TestCase.captureOnCommitCallbacks(execute=True):
            runs.renewals_run(today=on)

    run_renewals(datetime.date(2026, 3, 17))  # April's renewal invoice
    with TestCase.captureOnCommitCallbacks(execute=True):
        settlement.payment_refund(payment=payment, amount=payment.amount, reason="Mistake")
    run_renewals(datetime.date(2026, 3, 18))  # March billed again
    again = Invoice.objects.get(
        kind=Invoice.Kind.INVOICE,
        lines__service=service,
        lines__period_start=day,
        status=Invoice.Status.ISSUED,
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        billing.payment_record(
            customer=customer, invoice=again, amount=again.amount_due, method="card"
        )
    run_renewals(datetime.date(2026, 3, 19))

    april = InvoiceLine.objects.filter(
        service=service,
        period_start=datetime.date(2026, 4, 2),
        invoice__kind=Invoice.Kind.INVOICE,
    )
    assert [line.invoice.number for line in april] == ["2026-000002"]


@pytest.mark.parametrize("later", ["paid", "waived"])
def test_paying_a_period_owed_again_moves_past_the_later_period_already_paid_or_waived(
    money_stage, later
):
    day = datetime.date(2026, 3, 2)
    money_stage.clock.set(day)
    customer = Customer.objects.get(pk=money_stage.customers[0])
    order = orders.order_place(
        customer=customer,
        items=[{"product": Product.objects.get(pk=money_stage.plans[0]), "cycle": "monthly"}],
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        first = orders.order_accept(order=order, activate=True)  # Mar 2 – Apr 1, unpaid
    service = Service.objects.get(order_item__order=order)

    def run_renewals(on: datetime.date) -> None:
        money_stage.clock.set(on)
        with TestCase.captureOnCommitCallbacks(execute=True):
            runs.renewals_run(today=on)

    run_renewals(datetime.date(2026, 3, 23))  # Apr 2 – May 1
    renewal = Invoice.objects.get(lines__service=service, billing_run__isnull=False)
    with TestCase.captureOnCommitCallbacks(execute=True):
        billing.credit_note_create(invoice=first, reason="Wrong price")  # March owed again
        if later == "paid":
            billing.payment_record(
                customer=customer, invoice=renewal, amount=renewal.amount_due, method="card"
            )
        else:
            billing.credit_note_create(invoice=renewal, reason="Outage", waive_periods=True)
    run_renewals(datetime.date(2026, 3, 24))  # March billed again
    again = Invoice.objects.get(
        kind=Invoice.Kind.INVOICE,
        lines__service=service,
        lines__period_start=day,
        status=Invoice.Status.ISSUED,
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        billing.payment_record(
            customer=customer, invoice=again, amount=again.amount_due, method="card"
        )

    service.refresh_from_db()
    assert service.next_due_date == datetime.date(2026, 5, 2)
    run_renewals(datetime.date(2026, 4, 11))  # May's renewal is due within the lead time
    billed = InvoiceLine.objects.filter(
        service=service, invoice__kind=Invoice.Kind.INVOICE, period_start__gte=day
    ).order_by("period_start", "pk")
    assert [(line.period_start, line.invoice.status) for line in billed] == [
        (day, Invoice.Status.CREDITED),
        (day, Invoice.Status.PAID),
        # April, paid or waived (its invoice credited), is not billed again.
        (datetime.date(2026, 4, 2), "paid" if later == "paid" else "credited"),
        (datetime.date(2026, 5, 2), Invoice.Status.ISSUED),
    ]


def test_paying_the_rest_of_a_renewal_does_not_pay_a_line_credited_in_full(money_stage):
    day = datetime.date(2026, 3, 2)
    money_stage.clock.set(day)
    customer = Customer.objects.get(pk=money_stage.customers[0])
    for pk in money_stage.plans[:2]:
        order = orders.order_place(
            customer=customer, items=[{"product": Product.objects.get(pk=pk), "cycle": "monthly"}]
        )
        with TestCase.captureOnCommitCallbacks(execute=True):
            orders.order_accept(order=order, activate=True)
    renewal_day = day + datetime.timedelta(days=14)
    money_stage.clock.set(renewal_day)
    runs.renewals_run(today=renewal_day)  # one renewal invoice bills both services
    renewal = Invoice.objects.get(billing_run__isnull=False)
    credited_line, paid_line = renewal.lines.order_by("pk")
    with TestCase.captureOnCommitCallbacks(execute=True):
        billing.credit_note_create(
            invoice=renewal, reason="Not wanted in April", lines=[{"line_id": credited_line.pk}]
        )
    renewal.refresh_from_db()
    with TestCase.captureOnCommitCallbacks(execute=True):
        billing.payment_record(
            customer=customer, invoice=renewal, amount=renewal.amount_due, method="card"
        )

    renewal.refresh_from_db()
    assert renewal.status == Invoice.Status.PAID
    assert Service.objects.get(pk=paid_line.service_id).next_due_date == datetime.date(2026, 5, 2)
    assert (
        Service.objects.get(pk=credited_line.service_id).next_due_date == credited_line.period_start
    )
    next_day = renewal_day + datetime.timedelta(days=1)
    money_stage.clock.set(next_day)
    runs.renewals_run(today=next_day)
    billed_again = InvoiceLine.objects.filter(
        service_id=credited_line.service_id,
        period_start=credited_line.period_start,
        invoice__status=Invoice.Status.ISSUED,
    )
    assert billed_again.exists(), "the credited April period was given away by paying the rest"
