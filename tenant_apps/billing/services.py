"""Every write to billing data: settings, tax rates, drafts, issue, void, credit notes, payments.

Lock order: `tenant_apps.instance.locking` — billing takes Customer → Invoice →
PendingCharge → NumberSequence (the number last, held until commit), never the reverse.
Issued documents are never edited; lines are priced by `pricing` (each amount rounded once);
every status move goes through `Invoice.pipeline`; every write records one audit event
(`tenant_apps.instance.audit`) naming its actor: a user, an `audit.ApiActor`, a label such as
"billing" or "schedule", or None for the system.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from tenant_apps.catalog.models import TaxClass
from tenant_apps.clients.models import Customer
from tenant_apps.instance import audit, clock
from tenant_apps.instance.models import IssuerIdentity
from tenant_apps.instance.money import ZERO, round_money, to_decimal, validate_currency
from tenant_apps.instance.pipelines import transition

from . import pricing
from .issuer import require_complete_issuer
from .models import (
    BillingError,
    BillingSettings,
    CreditEntry,
    InvalidInvoiceState,
    Invoice,
    InvoiceLine,
    NumberSequence,
    Payment,
    PaymentAllocation,
    TaxRate,
)
from .number_formats import render_number
from .selectors import credited_per_line, customer_credit_balances
from .signals import invoice_settled, invoice_settlement_changed, service_periods_cancelled
from .tax_evidence import EVIDENCE_KEY, place_of_supply_evidence, vat_id_reconfirm_if_stale
from .taxes import TaxContext, late_fee_outside_scope, tax_context

SETTINGS_CHANGED = audit.event_type(
    "billingsettings.changed", gettext_noop("Billing settings changed")
)
TAX_RATE_SET = audit.event_type("taxrate.set", gettext_noop("Tax rate set"))
TAX_RATE_DELETED = audit.event_type("taxrate.deleted", gettext_noop("Tax rate deleted"))
DRAFT_CREATED = audit.event_type("invoice.draft_created", gettext_noop("Invoice draft created"))
LINE_ADDED = audit.event_type("invoice.line_added", gettext_noop("Invoice line added"))
LINE_REMOVED = audit.event_type("invoice.line_removed", gettext_noop("Invoice line removed"))
DRAFT_DELETED = audit.event_type("invoice.draft_deleted", gettext_noop("Invoice draft deleted"))
INVOICE_ISSUED = audit.event_type("invoice.issued", gettext_noop("Invoice issued"))
INVOICE_VOIDED = audit.event_type("invoice.voided", gettext_noop("Invoice voided"))
INVOICE_PAYMENT_RECORDED = audit.event_type(
    "invoice.payment_recorded", gettext_noop("Payment recorded")
)
CUSTOMER_PAYMENT_RECORDED = audit.event_type(
    "customer.payment_recorded", gettext_noop("Payment recorded as account credit")
)
INVOICE_CREDIT_APPLIED = audit.event_type(
    "invoice.credit_applied", gettext_noop("Account credit applied")
)
CUSTOMER_CREDIT_ADJUSTED = audit.event_type(
    "customer.credit_adjusted", gettext_noop("Account credit adjusted")
)
INVOICE_CREDITED = audit.event_type(
    "invoice.credited", gettext_noop("Credit note issued against it")
)

SETTINGS_FIELDS = [
    f.name for f in BillingSettings._meta.concrete_fields if f.name not in ("id", "singleton")
]
TAX_RATE_FIELDS = ["country", "tax_class", "rate", "name"]


class InvoiceNotEditable(BillingError):
    code = "invoice_not_editable"
    status_code = 409


_KIND_LABELS = dict(Invoice.Kind.choices)


def _noun(invoice: Invoice) -> str:
    """How a refused move names the document ("Invoice 2026-000042", "Credit note CN…")."""
    return f"{_KIND_LABELS[invoice.kind]} {invoice}"


def _status_change(before: str, invoice: Invoice) -> dict[str, list]:
    return {"status": [before, invoice.status]} if before != invoice.status else {}


# --------------------------------------------------------------------------------------
# Identity and settings


def billing_settings_get() -> BillingSettings:
    settings_row = BillingSettings.objects.first()
    if settings_row is None:
        settings_row, _ = BillingSettings.objects.get_or_create(singleton=True)
    return settings_row


@transaction.atomic
def billing_settings_update(*, actor=None, **fields) -> BillingSettings:
    row = (
        BillingSettings.objects.select_for_update().filter(singleton=True).first()
        or BillingSettings()
    )
    before = audit.snapshot(row, SETTINGS_FIELDS)
    for name, value in fields.items():
        setattr(row, name, value)
    errors = {}
    for name in ("invoice_number_format", "credit_note_number_format"):
        try:
            format_number(getattr(row, name), year=2026, number=1)
        except ValidationError as exc:
            errors[name] = exc.messages
    days = row.reminder_days or []
    if not isinstance(days, list) or not all(isinstance(d, int) and d >= 0 for d in days):
        errors["reminder_days"] = [
            gettext("Give reminder days as whole numbers of days, e.g. 3, 10.")
        ]
    if (
        row.suspend_after_days is not None
        and row.terminate_after_days is not None
        and row.terminate_after_days < row.suspend_after_days
    ):
        errors["terminate_after_days"] = [gettext("Termination must come after suspension.")]
    if errors:
        raise ValidationError(errors)
    row.full_clean()
    created = row.pk is None
    row.save()
    # Compare stored values (a form's Decimal("5") is stored as 5.00: no change to record).
    row.refresh_from_db(fields=SETTINGS_FIELDS)
    audit.audit_record(
        SETTINGS_CHANGED,
        actor=actor,
        obj=row,
        changes=audit.diff(before, audit.snapshot(row, SETTINGS_FIELDS), created=created),
    )
    return row


@transaction.atomic
def tax_rate_set(
    *,
    country: str,
    tax_class,
    rate,
    name: str = "VAT",
    tax_rate: TaxRate | None = None,
    actor=None,
) -> TaxRate:
    """Create or change the rate of one tax class in one country (new drafts use it)."""
    row = tax_rate or TaxRate()
    created = row.pk is None
    before = audit.snapshot(row, TAX_RATE_FIELDS)
    row.country, row.tax_class, row.name = country, tax_class, name or "VAT"
    row.rate = to_decimal(rate, field="rate")
    clash = TaxRate.objects.filter(country=country, tax_class=tax_class).exclude(pk=row.pk)
    if clash.exists():
        raise ValidationError(
            {
                "tax_class": [
                    gettext("%(country)s already has a %(tax_class)s rate; edit that one.")
                    % {"country": country, "tax_class": tax_class}
                ]
            }
        )
    row.full_clean()
    row.save()
    row.refresh_from_db(fields=["rate"])  # compare the stored rate (20 is stored as 20.000)
    audit.audit_record(
        TAX_RATE_SET,
        actor=actor,
        obj=row,
        changes=audit.diff(before, audit.snapshot(row, TAX_RATE_FIELDS), created=created),
    )
    return row


@transaction.atomic
def tax_rate_delete(*, tax_rate: TaxRate, actor=None) -> None:
    """Issued invoices keep the rate they were issued with; only new drafts change."""
    # Recorded before the delete, while the row still has its id and label.
    audit.audit_record(
        TAX_RATE_DELETED,
        actor=actor,
        obj=tax_rate,
        detail=audit.snapshot(tax_rate, TAX_RATE_FIELDS),
    )
    tax_rate.delete()


# --------------------------------------------------------------------------------------
# Numbering


def format_number(number_format: str, *, year: int, number: int) -> str:
    """Render a document number; the format is parsed by a grammar, never executed."""
    return render_number(number_format, year=year, number=number)


def numbers_take(
    *, series: str, number_format: str, on_date: datetime.date, count: int = 1
) -> list[str]:
    """Take the next `count` consecutive numbers of a series, under its row lock.

    Must run inside the transaction that stores the numbered documents: the lock is held
    until commit, so concurrent issuers queue and a rollback gives the numbers back —
    numbering stays gap-free and without duplicates.
    """
    period = str(on_date.year) if "{year" in number_format else ""
    with connection.cursor() as cursor:
        # A new counter continues the series it replaces when the number format changed
        # this year (yearly ↔ running): numbers go on, they never restart at 1 mid-year.
        cursor.execute(
            "INSERT INTO billing_numbersequence (series, period, next_number) "
            "SELECT %s, %s, COALESCE(MAX(next_number), 1) FROM billing_numbersequence "
            "WHERE series = %s AND period IN ('', %s) "
            "ON CONFLICT (series, period) DO NOTHING",
            [series, period, series, str(on_date.year)],
        )
    # The running counter ("") and this year's move together, locked in one order, so a
    # format switched back and forth within a year never hands out a number twice.
    counters = list(
        NumberSequence.objects.select_for_update()
        .filter(series=series, period__in=["", str(on_date.year)])
        .order_by("period")
    )
    first = max(counter.next_number for counter in counters)
    for counter in counters:
        counter.next_number = first + count
    NumberSequence.objects.bulk_update(counters, ["next_number"])
    return [
        format_number(number_format, year=on_date.year, number=n)
        for n in range(first, first + count)
    ]


# --------------------------------------------------------------------------------------
# Drafts


@dataclass
class LineSpec:
    description: str
    unit_price: Decimal
    quantity: Decimal = Decimal("1")
    tax_class_code: str = "standard"
    kind: str = InvoiceLine.Kind.ADJUSTMENT
    service_id: int | None = None
    period_start: datetime.date | None = None
    period_end: datetime.date | None = None

    @classmethod
    def parse(cls, data: Mapping | LineSpec) -> LineSpec:
        if isinstance(data, LineSpec):
            spec = data
        else:
            description = str(data.get("description", "")).strip()
            if not description:
                raise ValidationError({"description": [gettext("Describe the line.")]})
            spec = cls(
                description=description[:300],
                unit_price=to_decimal(data.get("unit_price"), field="unit_price"),
                quantity=to_decimal(data.get("quantity", "1"), field="quantity"),
                tax_class_code=data.get("tax_class_code") or "standard",
                kind=data.get("kind") or InvoiceLine.Kind.ADJUSTMENT,
                service_id=data.get("service_id"),
                period_start=data.get("period_start"),
                period_end=data.get("period_end"),
            )
            # Typed lines name their tax class; an unknown one would silently tax at 0 %.
            if not TaxClass.objects.filter(code=spec.tax_class_code).exists():
                raise ValidationError(
                    {
                        "tax_class_code": [
                            gettext("There is no tax class “%(tax_class_code)s”.")
                            % {"tax_class_code": spec.tax_class_code}
                        ]
                    }
                )
        if spec.quantity <= 0:
            raise ValidationError({"quantity": [gettext("The quantity must be more than 0.")]})
        if spec.unit_price < 0:
            raise ValidationError(
                {
                    "unit_price": [
                        gettext(
                            "Prices cannot be negative; issue a credit note to give money back."
                        )
                    ]
                }
            )
        return spec


def _lock_draft(invoice: Invoice) -> Invoice:
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if not locked.is_editable:
        raise InvoiceNotEditable(
            gettext(
                "Invoice %(locked)s is %(status)s: issued invoices never change. Issue a "
                "credit note to correct it."
            )
            % {"locked": locked, "status": locked.get_status_display().lower()}
        )
    return locked


@transaction.atomic
def invoice_create_draft(
    *,
    customer: Customer,
    lines: Iterable[Mapping | LineSpec] = (),
    currency: str | None = None,
    notes: str = "",
    created_by=None,
    actor=None,
) -> Invoice:
    if customer.status != Customer.Status.ACTIVE:
        raise BillingError(
            gettext("%(customer)s is closed: reopen the customer before invoicing.")
            % {"customer": customer}
        )
    currency = validate_currency(currency or customer.currency)
    specs = [LineSpec.parse(line) for line in lines]
    invoice = Invoice.objects.create(
        customer=customer,
        currency=currency,
        prices_include_tax=billing_settings_get().prices_include_tax,
        notes=notes,
        created_by=created_by,
    )
    _add_lines(invoice, specs)
    _reprice(invoice)
    audit.audit_record(
        DRAFT_CREATED,
        actor=actor or created_by,
        obj=invoice,
        detail={"lines": len(specs), "total": invoice.total, "currency": currency},
    )
    return invoice


def _add_lines(invoice: Invoice, specs: list[LineSpec]) -> None:
    """Store lines unpriced; the caller reprices the whole draft (`_reprice`)."""
    start = invoice.lines.count()
    InvoiceLine.objects.bulk_create(
        pricing.line_from(spec, position=start + offset, invoice=invoice)
        for offset, spec in enumerate(specs)
    )


@transaction.atomic
def invoice_line_add(*, invoice: Invoice, line: Mapping | LineSpec, actor=None) -> Invoice:
    locked = _lock_draft(invoice)
    spec = LineSpec.parse(line)
    total_before = locked.total
    _add_lines(locked, [spec])
    _reprice(locked)
    audit.audit_record(
        LINE_ADDED,
        actor=actor,
        obj=locked,
        changes={"total": [total_before, locked.total]},
        detail={
            "description": spec.description,
            "quantity": spec.quantity,
            "unit_price": spec.unit_price,
        },
    )
    return locked


@transaction.atomic
def invoice_line_remove(*, invoice: Invoice, line_id: int, actor=None) -> Invoice:
    locked = _lock_draft(invoice)
    line = locked.lines.filter(pk=line_id).first()
    if line is None:
        raise ValidationError({"line": [gettext("That line is not on this invoice.")]})
    total_before = locked.total
    line.delete()
    _reprice(locked)
    audit.audit_record(
        LINE_REMOVED,
        actor=actor,
        obj=locked,
        changes={"total": [total_before, locked.total]},
        detail={
            "description": line.description,
            "quantity": line.quantity,
            "unit_price": line.unit_price,
        },
    )
    return locked


@transaction.atomic
def invoice_draft_delete(*, invoice: Invoice, actor=None) -> None:
    locked = _lock_draft(invoice)
    # Recorded before the delete, while the draft still has its id.
    audit.audit_record(
        DRAFT_DELETED,
        actor=actor,
        obj=locked,
        detail={"total": locked.total, "currency": locked.currency},
    )
    locked.delete()


def _issuer_country() -> str:
    identity = IssuerIdentity.objects.first()
    return identity.country if identity else ""


def _document_tax_context(invoice: Invoice, lines: Sequence[InvoiceLine]) -> TaxContext:
    """The customer's tax treatment; a document of late fees alone is outside the scope of
    VAT unless the instance taxes late fees like the late invoice (billing settings)."""
    if (
        lines
        and all(line.kind == InvoiceLine.Kind.LATE_FEE for line in lines)
        and billing_settings_get().late_fee_vat == BillingSettings.LateFeeVat.OUTSIDE_SCOPE
    ):
        return late_fee_outside_scope(customer=invoice.customer)
    return tax_context(customer=invoice.customer, issuer_country=_issuer_country())


def _reprice(invoice: Invoice) -> Invoice:
    """Reprice a draft with today's tax treatment and rates (its amounts follow its lines)."""
    drafted = list(invoice.lines.all())
    context = _document_tax_context(invoice, drafted)
    lines = [
        pricing.price_line(
            line,
            currency=invoice.currency,
            prices_include_tax=invoice.prices_include_tax,
            tax_context=context,
        )
        for line in drafted
    ]
    pricing.balance_vat(
        lines, currency=invoice.currency, prices_include_tax=invoice.prices_include_tax
    )
    pricing.set_totals(invoice, lines)  # refuses amounts too large to store, before any write
    InvoiceLine.objects.bulk_update(lines, ["tax_rate", "net_amount", "tax_amount", "gross_amount"])
    invoice.tax_treatment = context.treatment
    invoice.legal_notes = context.note
    invoice.save(update_fields=["tax_treatment", "legal_notes", "subtotal", "tax_total", "total"])
    return invoice


def invoice_recalculate(*, invoice: Invoice, actor=None) -> Invoice:
    """Recompute a draft's tax treatment, line amounts and totals.

    A derived refresh, not a change anyone decides (every service that changes a draft calls
    it), so it records no event of its own; `actor` is accepted for symmetry with the writes.
    """
    if not invoice.is_editable:
        raise InvoiceNotEditable(
            gettext("Invoice %(invoice)s is issued; its amounts are final.") % {"invoice": invoice}
        )
    return _reprice(invoice)


# --------------------------------------------------------------------------------------
# Issue, void


def _issuer_snapshot() -> dict:
    # Every document is issued with what Art. 226 requires of its issuer, or not at all.
    identity = require_complete_issuer()
    return {
        "legal_name": identity.legal_name,
        "trading_name": identity.trading_name,
        "address_line1": identity.address_line1,
        "address_line2": identity.address_line2,
        "postal_code": identity.postal_code,
        "city": identity.city,
        "country": str(identity.country),
        "tax_id": identity.tax_id,
        "registration_number": identity.registration_number,
        "email": identity.email,
        "phone": identity.phone,
        "bank_details": identity.bank_details,
        "invoice_footer": identity.invoice_footer,
        "logo": identity.logo.name if identity.logo else "",
    }


def _mark_issued(
    invoice: Invoice,
    *,
    number: str,
    on_date: datetime.date,
    terms_days: int,
    issuer: dict,
    now: datetime.datetime,
    not_due_before: datetime.date | None = None,
) -> str:
    """Freeze a draft in memory (no save); returns the status it left.

    The due date is the issue date plus the payment terms, and never before
    `not_due_before` (a renewal is due when its period starts, not while the paid period
    still runs). An invoice of zero is settled as it is issued (issued → paid).
    """
    before = transition(invoice, Invoice.Status.ISSUED, noun=_noun(invoice))
    invoice.number = number
    invoice.issue_date = on_date
    invoice.due_date = on_date + datetime.timedelta(days=terms_days)
    if not_due_before is not None and not_due_before > invoice.due_date:
        invoice.due_date = not_due_before
    invoice.issuer_snapshot = issuer
    invoice.customer_snapshot = invoice.customer.billing_snapshot()
    invoice.customer_snapshot[EVIDENCE_KEY] = place_of_supply_evidence(
        invoice.customer, treatment=invoice.tax_treatment, legal_notes=invoice.legal_notes
    )
    invoice.issued_at = now
    if invoice.kind == Invoice.Kind.INVOICE and invoice.total == ZERO:
        transition(invoice, Invoice.Status.PAID, noun=_noun(invoice))
        invoice.paid_at = now
    return before


def invoice_issue(
    *,
    invoice: Invoice,
    issue_date: datetime.date | None = None,
    reconfirm_vat_id: bool = True,
    actor=None,
) -> Invoice:
    """Freeze a draft: tax treatment, identities, amounts, and the next gap-free number.

    Refused while the issuer identity lacks what an invoice must show. A reverse charge on
    an old VIES confirmation is confirmed again first (`tax_evidence`), before the draft is
    locked, its answer kept even if the issue is then refused. A caller already holding an
    invoice lock re-confirms before taking it and passes `reconfirm_vat_id=False` (the
    customer's row comes before invoices in the lock order).
    """
    require_complete_issuer()
    if reconfirm_vat_id:
        drafted = list(invoice.lines.all())
        treatment = _document_tax_context(invoice, drafted).treatment
        if treatment == Invoice.TaxTreatment.REVERSE_CHARGE:
            vat_id_reconfirm_if_stale(
                customer=invoice.customer, issuer_country=_issuer_country(), actor=actor
            )
    return _invoice_issue(invoice=invoice, issue_date=issue_date, actor=actor)


@transaction.atomic
def _invoice_issue(*, invoice: Invoice, issue_date: datetime.date | None, actor) -> Invoice:
    locked = _lock_draft(invoice)
    drafted = list(locked.lines.all())
    if not drafted:
        raise BillingError(gettext("Add at least one line before issuing the invoice."))
    _document_tax_context(locked, drafted).require_rates(line.tax_class_code for line in drafted)
    _reprice(locked)
    settings_row = billing_settings_get()
    on_date = issue_date or clock.today()
    [number] = numbers_take(
        series=locked.kind, number_format=settings_row.invoice_number_format, on_date=on_date
    )
    # As for renewals: a document that only bills periods still to come is not due before
    # the first of them starts (a late fee must never land before the period it pays).
    periods = [line.period_start for line in drafted if line.period_start is not None]
    before = _mark_issued(
        locked,
        number=number,
        on_date=on_date,
        terms_days=settings_row.payment_terms_days,
        issuer=_issuer_snapshot(),
        now=timezone.now(),
        not_due_before=min(periods) if periods and len(periods) == len(drafted) else None,
    )
    locked.save()
    audit.audit_record(
        INVOICE_ISSUED,
        actor=actor,
        obj=locked,
        changes={**_status_change(before, locked), "number": [None, number]},
        detail={"total": locked.total, "currency": locked.currency},
    )
    _after_issue([locked.pk])
    return locked


def _after_issue(invoice_ids: list[int]) -> None:
    """Render and store each PDF once, then mail it — after commit, in the background.

    Documents issued already settled (a zero total) are announced as settled too.
    """
    from . import tasks

    schema = connection.schema_name
    transaction.on_commit(lambda: tasks.documents_finalise_later(invoice_ids, schema))
    settled = list(
        Invoice.objects.filter(
            pk__in=invoice_ids, kind=Invoice.Kind.INVOICE, status=Invoice.Status.PAID
        ).values_list("pk", flat=True)
    )
    for invoice_id in settled:
        transaction.on_commit(
            lambda i=invoice_id: invoice_settled.send(
                sender=Invoice, invoice_id=i, schema_name=schema
            )
        )
    _credit_auto_apply_later(
        Customer.objects.filter(
            credit_balance__gt=0,
            invoices__pk__in=invoice_ids,
            invoices__kind=Invoice.Kind.INVOICE,
            invoices__status__in=[Invoice.Status.ISSUED, Invoice.Status.PARTIALLY_PAID],
        )
        .distinct()
        .values_list("pk", flat=True)
    )


@transaction.atomic
def invoice_void(
    *, invoice: Invoice, reason: str = "", waive_periods: bool = False, actor=None
) -> Invoice:
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if locked.status == Invoice.Status.DRAFT:
        raise InvalidInvoiceState(gettext("Drafts are deleted, not voided."))
    if not billing_settings_get().void_issued_invoices:
        raise InvalidInvoiceState(
            gettext(
                "Invoice %(locked)s is issued: correct it with a credit note. (Voiding "
                "issued invoices is off, as EU invoicing rules require.)"
            )
            % {"locked": locked}
        )
    if locked.status == Invoice.Status.VOID:
        raise InvalidInvoiceState(
            gettext("Invoice %(locked)s is already void.") % {"locked": locked}
        )
    if locked.amount_paid > 0 or locked.amount_credited > 0 or locked.kind != Invoice.Kind.INVOICE:
        raise InvalidInvoiceState(
            gettext(
                "Invoice %(locked)s has payments or credits: issue a credit note instead "
                "of voiding it."
            )
            % {"locked": locked}
        )
    before = transition(locked, Invoice.Status.VOID, noun=_noun(locked))
    locked.voided_at = timezone.now()
    locked.void_reason = reason.strip()[:300]  # internal: never printed for the customer
    locked.save(update_fields=["status", "voided_at", "void_reason"])
    audit.audit_record(
        INVOICE_VOIDED,
        actor=actor,
        obj=locked,
        changes=_status_change(before, locked),
        detail={"reason": locked.void_reason, "total": locked.total},
    )
    _announce_cancelled_periods(
        locked,
        list(
            locked.lines.filter(kind=InvoiceLine.Kind.SERVICE, service__isnull=False).values_list(
                "pk", flat=True
            )
        ),
        waive=waive_periods,
        actor=actor,
    )
    return locked


# --------------------------------------------------------------------------------------
# Settlement: payments, credit, credit notes


def _settle(invoice: Invoice, now: datetime.datetime) -> str:
    """Derive the status of an issued invoice from what was paid and credited; returns the
    status it left. A status that stays as it was is no move (a credit note on a paid
    invoice leaves it paid). Only a payment settles an invoice (`invoice_settled`, which
    starts and renews services): a credit note that covers an unpaid invoice credits it."""
    before = invoice.status
    settled = invoice.amount_paid + invoice.amount_credited
    if settled >= invoice.total and invoice.amount_paid == 0 and invoice.amount_credited > 0:
        # Cancelled by a credit note, never paid: nothing was bought, nothing starts.
        target = Invoice.Status.CREDITED
    elif settled >= invoice.total:
        target = Invoice.Status.PAID
    elif settled > 0:
        target = Invoice.Status.PARTIALLY_PAID
    else:
        target = Invoice.Status.ISSUED
    if target != before:
        transition(invoice, target, noun=_noun(invoice))
    if target != Invoice.Status.PAID:
        invoice.paid_at = None  # a reversal or refund took the payment back
    schema = connection.schema_name
    invoice_id = invoice.pk
    if target == Invoice.Status.PAID:
        invoice.paid_at = invoice.paid_at or now
        if before != Invoice.Status.PAID:
            transaction.on_commit(
                lambda: invoice_settled.send(
                    sender=Invoice, invoice_id=invoice_id, schema_name=schema
                )
            )
    transaction.on_commit(
        lambda: invoice_settlement_changed.send(
            sender=Invoice, invoice_id=invoice_id, schema_name=schema
        )
    )
    return before


def _lock_customer(customer_id: int) -> Customer:
    return Customer.objects.select_for_update().get(pk=customer_id)


def _credit(
    customer: Customer, amount: Decimal, kind: str, *, currency: str | None = None, **links
) -> None:
    """Add to (or take from) the customer's credit in one currency. `credit_balance` caches
    the balance in the customer's own currency; credit in a former currency (a credit note
    on an old invoice) stays apart, in its own entries."""
    currency = currency or customer.currency
    CreditEntry.objects.create(
        customer=customer, kind=kind, amount=amount, currency=currency, **links
    )
    if currency == customer.currency:
        Customer.objects.filter(pk=customer.pk).update(credit_balance=F("credit_balance") + amount)
        customer.refresh_from_db(fields=["credit_balance"])


def credit_change(customer: Customer, before: Decimal) -> dict[str, list]:
    """The audit row's credit balance change, when there is one."""
    if customer.credit_balance == before:
        return {}
    return {"credit_balance": [before, customer.credit_balance]}


def credit_available(customer: Customer, currency: str) -> Decimal:
    """The customer's account credit in one currency (the cached balance for its own)."""
    if currency == customer.currency:
        return customer.credit_balance
    return customer_credit_balances(customer.pk).get(currency, ZERO)


def _payable(invoice: Invoice) -> None:
    if invoice.kind != Invoice.Kind.INVOICE:
        raise InvalidInvoiceState(gettext("Credit notes are not paid; they settle invoices."))
    if invoice.status == Invoice.Status.DRAFT:
        raise InvalidInvoiceState(
            gettext("Invoice %(invoice)s is a draft: issue it before recording payments.")
            % {"invoice": invoice}
        )
    if invoice.status == Invoice.Status.VOID:
        raise InvalidInvoiceState(
            gettext("Invoice %(invoice)s is void and cannot be paid.") % {"invoice": invoice}
        )
    if invoice.status == Invoice.Status.PAID:
        raise InvalidInvoiceState(
            gettext(
                "Invoice %(invoice)s is already paid. Record the payment without an "
                "invoice to add it to the customer's credit."
            )
            % {"invoice": invoice}
        )
    if invoice.status == Invoice.Status.CREDITED:
        raise InvalidInvoiceState(
            gettext("Invoice %(invoice)s was cancelled by a credit note: nothing is owed on it.")
            % {"invoice": invoice}
        )


def _open_invoices(customer: Customer, currency: str):
    return Invoice.objects.filter(
        customer=customer,
        kind=Invoice.Kind.INVOICE,
        currency=currency,
        status__in=[Invoice.Status.ISSUED, Invoice.Status.PARTIALLY_PAID],
    ).order_by("due_date", "id")


def _allocation_plan(
    customer: Customer,
    *,
    invoice: Invoice | None,
    allocations: Sequence[tuple[Invoice, object]] | None,
    oldest_first: bool,
) -> list[tuple[Invoice, Decimal | None]]:
    """Lock the invoices a payment settles (by id, whatever order they settle in) and return
    them in settling order, each with the amount asked for (None: up to what it owes)."""
    if sum(bool(x) for x in (invoice is not None, allocations, oldest_first)) > 1:
        raise ValidationError(
            {
                "invoice": [
                    gettext("Choose one invoice, a list of invoices, or oldest first — not two.")
                ]
            }
        )
    if invoice is not None:
        wanted: list[tuple[int, Decimal | None]] = [(invoice.pk, None)]
    elif allocations:
        wanted = [(inv.pk, to_decimal(amount, field="amount")) for inv, amount in allocations]
        if len({pk for pk, _ in wanted}) != len(wanted):
            raise ValidationError({"allocations": [gettext("Each invoice may appear once.")]})
    elif oldest_first:
        wanted = [
            (pk, None)
            for pk in _open_invoices(customer, customer.currency).values_list("pk", flat=True)
        ]
        if not wanted:
            raise ValidationError(
                {
                    "invoice": [
                        gettext("%(customer)s has no open invoice in %(currency)s.")
                        % {"customer": customer, "currency": customer.currency}
                    ]
                }
            )
    else:
        return []
    locked = {
        inv.pk: inv
        for inv in Invoice.objects.select_for_update()
        .filter(pk__in=[pk for pk, _ in wanted])
        .order_by("pk")
    }
    plan = []
    for pk, amount in wanted:
        inv = locked.get(pk)
        if inv is None or inv.customer_id != customer.pk:
            raise ValidationError(
                {"invoice": [gettext("That invoice belongs to another customer.")]}
            )
        _payable(inv)
        plan.append((inv, amount))
    if len({inv.currency for inv, _ in plan}) > 1:
        raise ValidationError({"allocations": [gettext("One payment is in one currency.")]})
    return plan


@transaction.atomic
def payment_record(
    *,
    customer: Customer,
    amount,
    method: str,
    received_on: datetime.date | None = None,
    invoice: Invoice | None = None,
    allocations: Sequence[tuple[Invoice, object]] | None = None,
    oldest_first: bool = False,
    reference: str = "",
    notes: str = "",
    created_by=None,
    actor=None,
) -> Payment:
    """Record money received and settle one invoice, several (`allocations`: invoice and
    amount pairs, or `oldest_first`: the open invoices by due date); what is left becomes
    account credit."""
    amount = to_decimal(amount)
    # Compare after rounding: 0.004 EUR is not a payment (and would break the constraint).
    if round_money(amount, customer.currency) <= 0:
        raise ValidationError({"amount": [gettext("A payment is more than 0.")]})
    if method not in Payment.Method.values:
        raise ValidationError(
            {"method": [gettext("Unknown payment method “%(method)s”.") % {"method": method}]}
        )
    locked_customer = _lock_customer(customer.pk)
    plan = _allocation_plan(
        locked_customer, invoice=invoice, allocations=allocations, oldest_first=oldest_first
    )
    currency = plan[0][0].currency if plan else locked_customer.currency
    amount = round_money(amount, currency)
    remaining, settles = amount, []
    for inv, asked in plan:
        if asked is not None:
            asked = round_money(asked, currency)
            if asked <= 0 or asked > inv.amount_due:
                raise ValidationError(
                    {
                        "allocations": [
                            gettext("Allocate more than 0 and at most %(amount_due)s to %(inv)s.")
                            % {"amount_due": inv.amount_due, "inv": inv}
                        ]
                    }
                )
            if asked > remaining:
                raise ValidationError(
                    {
                        "allocations": [
                            gettext("The allocations add up to more than the %(amount)s paid.")
                            % {"amount": amount}
                        ]
                    }
                )
        part = min(asked if asked is not None else inv.amount_due, remaining)
        if part > 0:
            settles.append((inv, part))
            remaining -= part
    applied = amount - remaining
    payment = Payment.objects.create(
        customer=locked_customer,
        invoice=plan[0][0] if len(plan) == 1 else None,
        amount=amount,
        applied_amount=applied,
        currency=currency,
        method=method,
        reference=reference[:200],
        notes=notes[:300],
        received_on=received_on or clock.today(),
        created_by=created_by,
    )
    PaymentAllocation.objects.bulk_create(
        PaymentAllocation(payment=payment, invoice=inv, amount=part) for inv, part in settles
    )
    credit_before = locked_customer.credit_balance
    if remaining > 0:
        _credit(
            locked_customer,
            remaining,
            CreditEntry.Kind.OVERPAYMENT,
            currency=currency,
            payment=payment,
            note=f"Overpayment of {payment.reference or 'payment'}",
        )
    detail = {
        "payment": payment.pk,
        "amount": amount,
        "currency": currency,
        "method": method,
        "reference": payment.reference,
        "applied": applied,
    }
    credited = credit_change(locked_customer, credit_before)
    now = timezone.now()
    for index, (inv, part) in enumerate(settles):
        paid_before = inv.amount_paid
        inv.amount_paid += part
        status_before = _settle(inv, now)
        inv.save(update_fields=["amount_paid", "status", "paid_at"])
        audit.audit_record(
            INVOICE_PAYMENT_RECORDED,
            actor=actor or created_by,
            obj=inv,
            changes={
                **_status_change(status_before, inv),
                "amount_paid": [paid_before, inv.amount_paid],
                # The credit the payment left is told once, on its last invoice.
                **(credited if index == len(settles) - 1 else {}),
            },
            detail={**detail, "applied": part} if len(settles) > 1 else detail,
        )
    if not settles:
        audit.audit_record(
            CUSTOMER_PAYMENT_RECORDED,
            actor=actor or created_by,
            obj=locked_customer,
            changes=credited,
            detail=detail,
        )
    from . import tasks

    schema = connection.schema_name
    transaction.on_commit(lambda: tasks.payment_receipt_later(payment.pk, schema))
    if remaining > 0:
        _credit_auto_apply_later([locked_customer.pk])
    return payment


@transaction.atomic
def invoice_apply_credit(*, invoice: Invoice, amount=None, actor=None) -> Decimal:
    """Settle an invoice from the customer's credit in its currency; returns the amount
    applied."""
    locked_customer = _lock_customer(invoice.customer_id)
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    _payable(locked)
    wanted = locked.amount_due if amount is None else to_decimal(amount)
    if wanted <= 0:
        raise ValidationError({"amount": [gettext("Apply an amount more than 0.")]})
    available = credit_available(locked_customer, locked.currency)
    applied = min(wanted, locked.amount_due, available)
    if applied <= 0:
        raise BillingError(
            gettext("%(locked_customer)s has no credit in %(currency)s to apply.")
            % {"locked_customer": locked_customer, "currency": locked.currency}
        )
    credit_before, paid_before = locked_customer.credit_balance, locked.amount_paid
    _credit(
        locked_customer,
        -applied,
        CreditEntry.Kind.APPLIED,
        currency=locked.currency,
        invoice=locked,
        note=f"Applied to {locked}",
    )
    locked.amount_paid += applied
    status_before = _settle(locked, timezone.now())
    locked.save(update_fields=["amount_paid", "status", "paid_at"])
    changes = {
        **_status_change(status_before, locked),
        "amount_paid": [paid_before, locked.amount_paid],
    }
    changes.update(credit_change(locked_customer, credit_before))
    audit.audit_record(
        INVOICE_CREDIT_APPLIED,
        actor=actor,
        obj=locked,
        changes=changes,
        detail={"amount": applied, "currency": locked.currency},
    )
    return applied


@transaction.atomic
def customer_credit_apply(*, customer: Customer, actor=None) -> Decimal:
    """Spend the customer's credit on its open invoices, oldest due date first; returns the
    amount applied (0 when there is no credit or nothing is owed)."""
    locked_customer = _lock_customer(customer.pk)
    applied = ZERO
    currencies = set(
        Invoice.objects.filter(
            customer=locked_customer,
            kind=Invoice.Kind.INVOICE,
            status__in=[Invoice.Status.ISSUED, Invoice.Status.PARTIALLY_PAID],
        ).values_list("currency", flat=True)
    )
    for currency in sorted(currencies):
        for invoice_id in _open_invoices(locked_customer, currency).values_list("pk", flat=True):
            if credit_available(locked_customer, currency) <= 0:
                break
            applied += invoice_apply_credit(
                invoice=Invoice(pk=invoice_id, customer_id=locked_customer.pk), actor=actor
            )
            locked_customer.refresh_from_db(fields=["credit_balance"])
    return applied


def _credit_auto_apply_later(customer_ids: Iterable[int]) -> None:
    """Where the instance asks for it, spend fresh credit (or credit meeting a fresh
    invoice) on open invoices once this transaction commits: its own transaction then takes
    the customer's lock first, as the lock order wants."""
    if not billing_settings_get().apply_credit_automatically:
        return
    customer_ids = list(customer_ids)
    if not customer_ids:
        return

    def apply() -> None:
        for customer in Customer.objects.filter(pk__in=customer_ids).order_by("pk"):
            customer_credit_apply(customer=customer, actor="billing")

    transaction.on_commit(apply)


@transaction.atomic
def customer_credit_adjust(*, customer: Customer, amount, note: str, actor=None) -> Customer:
    amount = round_money(to_decimal(amount), customer.currency)
    if amount == 0:
        raise ValidationError({"amount": [gettext("Enter a non-zero amount.")]})
    if not note.strip():
        raise ValidationError({"note": [gettext("Say why the credit changes.")]})
    locked = _lock_customer(customer.pk)
    if locked.credit_balance + amount < 0:
        raise ValidationError(
            {
                "amount": [
                    gettext("The credit balance is %(credit_balance)s; it cannot go below 0.")
                    % {"credit_balance": locked.credit_balance}
                ]
            }
        )
    credit_before = locked.credit_balance
    _credit(locked, amount, CreditEntry.Kind.MANUAL, note=note[:300])
    audit.audit_record(
        CUSTOMER_CREDIT_ADJUSTED,
        actor=actor,
        obj=locked,
        changes={"credit_balance": [credit_before, locked.credit_balance]},
        detail={"amount": amount, "note": note.strip()[:300]},
    )
    return locked


@transaction.atomic
def credit_note_create(
    *,
    invoice: Invoice,
    reason: str,
    lines: Iterable[Mapping] | None = None,
    issue_date: datetime.date | None = None,
    waive_periods: bool = False,
    refund: Decimal | None = None,
    actor=None,
) -> Invoice:
    """Issue a credit note against an issued invoice (all of it, or the given lines: each
    `{"line_id"}` with a `quantity`, an `amount` in the invoice's price basis, or a `gross`
    amount tax included).

    The credit first reduces what the customer still owes on that invoice; whatever was
    already paid and is now credited becomes account credit. With `refund` (used by
    `settlement.payment_refund`), the note is the document of money paid back: it must
    total exactly that amount and takes it off what was paid instead. A service period
    whose line is now wholly credited and was never (or no longer) paid is billed again by
    the next renewal run, or given away with `waive_periods` (recorded on the service
    either way).
    """
    if not (reason or "").strip():
        raise ValidationError({"reason": [gettext("Give the reason for the credit note.")]})
    locked_customer = _lock_customer(invoice.customer_id)
    original = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if original.kind != Invoice.Kind.INVOICE or original.status in (
        Invoice.Status.DRAFT,
        Invoice.Status.VOID,
    ):
        raise InvalidInvoiceState(gettext("Credit notes correct issued invoices only."))
    already = sum(
        (cn.total for cn in original.credit_notes.exclude(status=Invoice.Status.VOID)), ZERO
    )
    # Lines credited by a gross amount (a refund of money paid, tax included) make a note
    # whose prices include tax, so its total is exactly what is paid back.
    lines = list(lines) if lines is not None else None
    by_gross = lines is not None and any(item.get("gross") not in (None, "") for item in lines)
    note = Invoice.objects.create(
        kind=Invoice.Kind.CREDIT_NOTE,
        customer=locked_customer,
        currency=original.currency,
        prices_include_tax=original.prices_include_tax or by_gross,
        tax_treatment=original.tax_treatment,
        legal_notes=original.legal_notes,
        credited_invoice=original,
        notes=f"Credit note for invoice {original.number}: {reason.strip()}",
    )
    source = list(original.lines.all())
    # What earlier credit notes took from each line, in the line's own price basis (net, or
    # gross when prices include tax): no line is credited beyond what it charged, whatever
    # the invoice total still allows.
    # A note by gross amounts is capped by what each line charged tax included.
    basis = "gross_amount" if note.prices_include_tax else "net_amount"
    credited = credited_per_line(original, basis=basis)
    charged = {line.pk: getattr(line, basis) for line in source}
    unit_prices = {line.pk: line.unit_price for line in source}
    by_line = {line.pk: line for line in source}

    def left(line: InvoiceLine) -> Decimal:
        return charged[line.pk] - credited.get(line.pk, ZERO)

    def left_quantity(line: InvoiceLine) -> Decimal:
        if not unit_prices[line.pk]:
            return ZERO
        return (left(line) / unit_prices[line.pk]).quantize(Decimal("0.01"), rounding=ROUND_DOWN)

    def as_amount(line: InvoiceLine, amount: Decimal) -> InvoiceLine:
        # Part of a line, credited by value: one unit at that price, the line's own rate.
        line.quantity, line.unit_price = Decimal("1"), amount
        return line

    if lines is None:
        copies = []
        for line in source:
            if left(line) <= 0:
                continue
            if line.pk not in credited:
                copies.append(line)
                continue
            # What is left, as a quantity when it is one (0.5 of a month), else by value.
            quantity = left_quantity(line)
            if quantity > 0 and round_money(
                quantity * unit_prices[line.pk], original.currency
            ) == left(line):
                line.quantity = quantity
                copies.append(line)
            else:
                copies.append(as_amount(line, left(line)))
    else:
        copies = []
        for item in lines:
            line = by_line.get(int(item.get("line_id", 0) or 0))
            if line is None:
                raise ValidationError({"lines": [gettext("Choose lines of the original invoice.")]})
            if by_gross:
                gross = round_money(
                    to_decimal(item.get("gross"), field="amount"), original.currency
                )
                if gross <= 0:
                    raise ValidationError({"amount": [gettext("Credit more than 0 on each line.")]})
                copies.append(as_amount(line, gross))
                continue
            if item.get("amount") not in (None, ""):
                amount = round_money(to_decimal(item["amount"], field="amount"), original.currency)
                if amount <= 0 or amount > left(line):
                    raise ValidationError(
                        {
                            "amount": [
                                gettext(
                                    "Credit more than 0 and at most %(left)s on “%(description)s”."
                                )
                                % {"left": left(line), "description": line.description}
                            ]
                        }
                    )
                copies.append(as_amount(line, amount))
                continue
            quantity = to_decimal(item.get("quantity", line.quantity), field="quantity")
            if quantity <= 0 or quantity > line.quantity:
                raise ValidationError(
                    {
                        "quantity": [
                            gettext("Credit between 0 and %(quantity)s of “%(description)s”.")
                            % {"quantity": line.quantity, "description": line.description}
                        ]
                    }
                )
            line.quantity = quantity
            copies.append(line)
    # The credited lines' own rates, not today's: a credit note mirrors what was charged.
    note_lines = pricing.priced_lines(
        copies,
        currency=original.currency,
        prices_include_tax=note.prices_include_tax,
        tax_context=None,
        invoice=note,
    )
    for note_line, credited_line in zip(note_lines, copies, strict=True):
        note_line.credited_line_id = credited_line.pk
    InvoiceLine.objects.bulk_create(note_lines)
    pricing.set_totals(note, note_lines)
    if note.total <= 0:
        raise ValidationError({"lines": [gettext("A credit note must credit something.")]})
    if already + note.total > original.total:
        raise ValidationError(
            {
                "lines": [
                    gettext("Invoice %(original)s has %(value)s left to credit.")
                    % {"original": original, "value": original.total - already}
                ]
            }
        )
    if refund is not None and note.total != refund:
        raise ValidationError(
            {
                "amount": [
                    gettext("The credit note totals %(total)s, not the %(refund)s refunded.")
                    % {"total": note.total, "refund": refund}
                ]
            }
        )
    if refund is not None and refund > original.amount_paid:
        raise ValidationError(
            {
                "amount": [
                    gettext("Only %(amount_paid)s was paid on invoice %(original)s.")
                    % {"amount_paid": original.amount_paid, "original": original}
                ]
            }
        )
    for copy in note_lines:
        source_line = by_line[copy.credited_line_id]
        if getattr(copy, basis) > left(source_line):
            raise ValidationError(
                {
                    "quantity": [
                        gettext("Credit between 0 and %(left_quantity)s of “%(description)s”.")
                        % {
                            "left_quantity": left_quantity(source_line),
                            "description": source_line.description,
                        }
                    ]
                }
            )
    settings_row = billing_settings_get()
    on_date = issue_date or clock.today()
    [number] = numbers_take(
        series=Invoice.Kind.CREDIT_NOTE,
        number_format=settings_row.credit_note_number_format,
        on_date=on_date,
    )
    now = timezone.now()
    note_before = _mark_issued(
        note, number=number, on_date=on_date, terms_days=0, issuer=_issuer_snapshot(), now=now
    )
    note.customer_snapshot = original.customer_snapshot or note.customer_snapshot
    note.save()
    # Settle: reduce what is still owed, the rest becomes credit (or, for a refund, comes
    # off what was paid: the money went back, the sale is reduced by the same amount).
    owed = original.amount_due
    reduce_by = note.total if refund is not None else min(note.total, owed)
    credited_before, credit_before = original.amount_credited, locked_customer.credit_balance
    paid_before = original.amount_paid
    original.amount_credited += reduce_by
    if refund is not None:
        original.amount_paid -= refund
    status_before = _settle(original, now)
    original.save(update_fields=["amount_credited", "amount_paid", "status", "paid_at"])
    if note.total > reduce_by:
        _credit(
            locked_customer,
            note.total - reduce_by,
            CreditEntry.Kind.CREDIT_NOTE,
            currency=note.currency,
            invoice=note,
            note=f"Credit note {note.number} on paid invoice {original.number}",
        )
    changes = {
        **_status_change(status_before, original),
        "amount_credited": [credited_before, original.amount_credited],
    }
    if original.amount_paid != paid_before:
        changes["amount_paid"] = [paid_before, original.amount_paid]
    changes.update(credit_change(locked_customer, credit_before))
    audit.audit_record(
        INVOICE_CREDITED,
        actor=actor,
        obj=original,
        changes=changes,
        detail={
            "credit_note": note.number,
            "credit_note_id": note.pk,
            "total": note.total,
            "reason": reason.strip(),
        },
    )
    # The credit note is a document with its own history: it was issued, crediting this one.
    audit.audit_record(
        INVOICE_ISSUED,
        actor=actor,
        obj=note,
        changes={**_status_change(note_before, note), "number": [None, number]},
        detail={"total": note.total, "currency": note.currency, "credits": original.number},
    )
    _after_issue([note.pk])
    if original.amount_paid == 0:
        # Service periods this note finishes crediting were never paid: bill them again,
        # or waive them — never leave them silently free.
        finished = [
            line.pk
            for line, copy in zip(copies, note_lines, strict=True)
            if line.kind == InvoiceLine.Kind.SERVICE
            and line.service_id is not None
            and credited.get(line.pk, ZERO) + getattr(copy, basis) >= charged[line.pk]
        ]
        _announce_cancelled_periods(original, finished, waive=waive_periods, actor=actor)
    return note


# --------------------------------------------------------------------------------------
# Bulk issue for recurring runs


@dataclass
class InvoiceSpec:
    customer: Customer
    currency: str
    lines: list[LineSpec] = field(default_factory=list)


def invoices_issue_bulk(
    *, specs: list[InvoiceSpec], run_id: int | None, on_date: datetime.date, actor=None
) -> list[Invoice]:
    """Create and issue many invoices at once (renewals): one sequence lock, bulk inserts.

    Must run inside the caller's transaction (the numbering lock is held until commit).
    Its audit events are written in one insert (renewal runs issue thousands at once).
    """
    if not specs:
        return []
    settings_row = billing_settings_get()
    issuer = _issuer_snapshot()
    issuer_country = _issuer_country()
    numbers = numbers_take(
        series=Invoice.Kind.INVOICE,
        number_format=settings_row.invoice_number_format,
        on_date=on_date,
        count=len(specs),
    )
    now = timezone.now()
    rates_cache: dict = {}  # one read of each country's rates; the legal mention is per customer
    invoices, pending_lines = [], []
    for spec, number in zip(specs, numbers, strict=True):
        customer = spec.customer
        context = tax_context(
            customer=customer, issuer_country=issuer_country, rates_cache=rates_cache
        )
        context.require_rates(line.tax_class_code for line in spec.lines)
        invoice = Invoice(
            customer=customer,
            currency=spec.currency,
            prices_include_tax=settings_row.prices_include_tax,
            tax_treatment=context.treatment,
            legal_notes=context.note,
            billing_run_id=run_id,
        )
        lines = pricing.priced_lines(
            spec.lines,
            currency=spec.currency,
            prices_include_tax=invoice.prices_include_tax,
            tax_context=context,
        )
        pricing.set_totals(invoice, lines)
        # Checked along the pipeline in memory, before the one bulk insert.
        periods = [line.period_start for line in lines if line.period_start is not None]
        _mark_issued(
            invoice,
            number=number,
            on_date=on_date,
            terms_days=settings_row.payment_terms_days,
            issuer=issuer,
            now=now,
            not_due_before=min(periods) if periods else None,
        )
        invoices.append(invoice)
        pending_lines.append(lines)
    Invoice.objects.bulk_create(invoices, batch_size=500)
    all_lines = []
    for invoice, lines in zip(invoices, pending_lines, strict=True):
        for line in lines:
            line.invoice = invoice
            all_lines.append(line)
    InvoiceLine.objects.bulk_create(all_lines, batch_size=1000)
    # One INSERT per batch of events, not one per invoice (runs issue thousands at once).
    for status in sorted({invoice.status for invoice in invoices}):
        audit.audit_record_many(
            INVOICE_ISSUED,
            [invoice for invoice in invoices if invoice.status == status],
            actor=actor,
            changes={"status": [Invoice.Status.DRAFT, status]},
            detail={"billing_run": run_id},
        )
    _after_issue([invoice.pk for invoice in invoices])
    return invoices


def _announce_cancelled_periods(
    invoice: Invoice, line_ids: list[int], *, waive: bool, actor
) -> None:
    if not line_ids:
        return
    schema, invoice_id = connection.schema_name, invoice.pk
    transaction.on_commit(
        lambda: service_periods_cancelled.send(
            sender=Invoice,
            invoice_id=invoice_id,
            line_ids=line_ids,
            waive=waive,
            schema_name=schema,
            actor=actor,
        )
    )


def on_customer_currency_changing(sender, *, customer: Customer, old: str, new: str, **kwargs):
    """An open invoice is owed in the customer's currency: the currency stays until it is
    settled (or credited)."""
    open_invoice = (
        Invoice.objects.filter(
            customer=customer,
            kind=Invoice.Kind.INVOICE,
            status__in=[Invoice.Status.ISSUED, Invoice.Status.PARTIALLY_PAID],
        )
        .order_by("id")
        .first()
    )
    if open_invoice is not None:
        raise ValidationError(
            {
                "currency": [
                    gettext(
                        "Invoice %(open_invoice)s is still open in %(old)s: settle or credit it "
                        "before changing the currency."
                    )
                    % {"open_invoice": open_invoice, "old": old}
                ]
            }
        )
    for currency, total in customer_credit_balances(customer.pk).items():
        if total:
            raise ValidationError(
                {
                    "currency": [
                        gettext(
                            "%(customer)s has %(total)s %(currency)s of account credit: use or "
                            "refund it before changing the currency."
                        )
                        % {"customer": customer, "total": total, "currency": currency}
                    ]
                }
            )
