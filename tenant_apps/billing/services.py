"""Every write to billing data: identity, settings, drafts, issue, void, credit notes, payments.

Lock order (see models): Customer → Invoice → NumberSequence. Issued documents are never
edited; every amount is Decimal and rounded once per line by `money.round_money`.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from config.errors import DomainError
from tenant_apps.catalog.models import TaxClass
from tenant_apps.clients.models import Customer
from tenant_apps.instance.models import IssuerIdentity
from tenant_apps.instance.money import ZERO, round_money, to_decimal, validate_currency

from .models import (
    BillingEvent,
    BillingSettings,
    CreditEntry,
    Invoice,
    InvoiceLine,
    NumberSequence,
    Payment,
    TaxRate,
)
from .signals import invoice_settled
from .taxes import line_amounts, tax_context


def _audit(action: str, *, actor: str = "", invoice=None, customer=None, **detail) -> None:
    BillingEvent.objects.create(
        action=action,
        actor=actor or "",
        invoice=invoice,
        customer=customer or (invoice.customer if invoice is not None else None),
        detail={k: str(v) for k, v in detail.items()},
    )


class BillingError(DomainError):
    code = "billing_error"


class InvoiceNotEditable(BillingError):
    code = "invoice_not_editable"
    status_code = 409


class InvalidInvoiceState(BillingError):
    code = "invalid_invoice_state"
    status_code = 409


# --------------------------------------------------------------------------------------
# Identity and settings


def billing_settings_get() -> BillingSettings:
    settings_row = BillingSettings.objects.first()
    if settings_row is None:
        settings_row, _ = BillingSettings.objects.get_or_create(singleton=True)
    return settings_row


@transaction.atomic
def billing_settings_update(*, actor: str = "", **fields) -> BillingSettings:
    row = (
        BillingSettings.objects.select_for_update().filter(singleton=True).first()
        or BillingSettings()
    )
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
        errors["reminder_days"] = ["Give reminder days as whole numbers of days, e.g. 3, 10."]
    if (
        row.suspend_after_days is not None
        and row.terminate_after_days is not None
        and row.terminate_after_days < row.suspend_after_days
    ):
        errors["terminate_after_days"] = ["Termination must come after suspension."]
    if errors:
        raise ValidationError(errors)
    row.full_clean()
    row.save()
    _audit("settings_changed", actor=actor, fields=", ".join(sorted(fields)))
    return row


@transaction.atomic
def tax_rate_set(
    *, country: str, tax_class, rate, name: str = "VAT", tax_rate: TaxRate | None = None
) -> TaxRate:
    """Create or change the rate of one tax class in one country (new drafts use it)."""
    row = tax_rate or TaxRate()
    row.country, row.tax_class, row.name = country, tax_class, name or "VAT"
    row.rate = to_decimal(rate, field="rate")
    clash = TaxRate.objects.filter(country=country, tax_class=tax_class).exclude(pk=row.pk)
    if clash.exists():
        raise ValidationError(
            {"tax_class": [f"{country} already has a {tax_class} rate; edit that one."]}
        )
    row.full_clean()
    row.save()
    return row


@transaction.atomic
def tax_rate_delete(*, tax_rate: TaxRate) -> None:
    """Issued invoices keep the rate they were issued with; only new drafts change."""
    tax_rate.delete()


# --------------------------------------------------------------------------------------
# Numbering


def format_number(number_format: str, *, year: int, number: int) -> str:
    if "{number" not in number_format:
        raise ValidationError("The number format must contain {number}.")
    try:
        return number_format.format(year=year, number=number)
    except (KeyError, ValueError, IndexError) as exc:
        raise ValidationError(f"“{number_format}” is not a valid number format ({exc}).") from exc


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
        cursor.execute(
            "INSERT INTO billing_numbersequence (series, period, next_number) VALUES (%s, %s, 1) "
            "ON CONFLICT (series, period) DO NOTHING",
            [series, period],
        )
    sequence = NumberSequence.objects.select_for_update().get(series=series, period=period)
    first = sequence.next_number
    sequence.next_number = first + count
    sequence.save(update_fields=["next_number"])
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
                raise ValidationError({"description": ["Describe the line."]})
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
                    {"tax_class_code": [f"There is no tax class “{spec.tax_class_code}”."]}
                )
        if spec.quantity <= 0:
            raise ValidationError({"quantity": ["The quantity must be more than 0."]})
        if spec.unit_price < 0:
            raise ValidationError(
                {
                    "unit_price": [
                        "Prices cannot be negative; issue a credit note to give money back."
                    ]
                }
            )
        return spec


def _lock_draft(invoice: Invoice) -> Invoice:
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if not locked.is_editable:
        raise InvoiceNotEditable(
            f"Invoice {locked} is {locked.get_status_display().lower()}: issued invoices never "
            "change. Issue a credit note to correct it."
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
) -> Invoice:
    if customer.status != Customer.Status.ACTIVE:
        raise BillingError(f"{customer} is closed: reopen the customer before invoicing.")
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
    invoice_recalculate(invoice=invoice)
    return invoice


def _add_lines(invoice: Invoice, specs: list[LineSpec]) -> None:
    start = invoice.lines.count()
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            invoice=invoice,
            position=start + i,
            kind=s.kind,
            description=s.description,
            quantity=s.quantity,
            unit_price=s.unit_price,
            tax_class_code=s.tax_class_code,
            service_id=s.service_id,
            period_start=s.period_start,
            period_end=s.period_end,
        )
        for i, s in enumerate(specs)
    )


@transaction.atomic
def invoice_line_add(*, invoice: Invoice, line: Mapping | LineSpec) -> Invoice:
    locked = _lock_draft(invoice)
    _add_lines(locked, [LineSpec.parse(line)])
    return invoice_recalculate(invoice=locked)


@transaction.atomic
def invoice_line_remove(*, invoice: Invoice, line_id: int) -> Invoice:
    locked = _lock_draft(invoice)
    deleted, _ = locked.lines.filter(pk=line_id).delete()
    if not deleted:
        raise ValidationError({"line": ["That line is not on this invoice."]})
    return invoice_recalculate(invoice=locked)


@transaction.atomic
def invoice_draft_delete(*, invoice: Invoice) -> None:
    locked = _lock_draft(invoice)
    locked.delete()


def _issuer_country() -> str:
    identity = IssuerIdentity.objects.first()
    return identity.country if identity else ""


def _set_totals(document: Invoice, lines: Iterable[InvoiceLine]) -> None:
    """Totals are sums of the already-rounded lines, so a document always reconciles."""
    lines = list(lines)
    document.subtotal = sum((line.net_amount for line in lines), ZERO)
    document.tax_total = sum((line.tax_amount for line in lines), ZERO)
    document.total = document.subtotal + document.tax_total


def invoice_recalculate(*, invoice: Invoice) -> Invoice:
    """Recompute a draft's tax treatment, line amounts and totals."""
    if not invoice.is_editable:
        raise InvoiceNotEditable(f"Invoice {invoice} is issued; its amounts are final.")
    context = tax_context(customer=invoice.customer, issuer_country=_issuer_country())
    lines = list(invoice.lines.all())
    for line in lines:
        line.tax_rate = context.rate_for(line.tax_class_code)
        line.net_amount, line.tax_amount, line.gross_amount = line_amounts(
            quantity=line.quantity,
            unit_price=line.unit_price,
            rate=line.tax_rate,
            prices_include_tax=invoice.prices_include_tax,
            currency=invoice.currency,
        )
    InvoiceLine.objects.bulk_update(lines, ["tax_rate", "net_amount", "tax_amount", "gross_amount"])
    invoice.tax_treatment = context.treatment
    invoice.legal_notes = context.note
    _set_totals(invoice, lines)
    invoice.save(update_fields=["tax_treatment", "legal_notes", "subtotal", "tax_total", "total"])
    return invoice


# --------------------------------------------------------------------------------------
# Issue, void


def _issuer_snapshot() -> dict:
    identity = IssuerIdentity.objects.first()
    if identity is None:
        raise BillingError(
            "Set the issuer identity (Staff → Issuer identity) before issuing invoices."
        )
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
) -> None:
    invoice.number = number
    invoice.issue_date = on_date
    invoice.due_date = on_date + datetime.timedelta(days=terms_days)
    invoice.issuer_snapshot = issuer
    invoice.customer_snapshot = invoice.customer.billing_snapshot()
    invoice.issued_at = now
    invoice.status = Invoice.Status.ISSUED
    if invoice.kind == Invoice.Kind.INVOICE and invoice.total == ZERO:
        invoice.status = Invoice.Status.PAID
        invoice.paid_at = now


@transaction.atomic
def invoice_issue(
    *, invoice: Invoice, issue_date: datetime.date | None = None, actor: str = ""
) -> Invoice:
    """Freeze a draft: tax treatment, identities, amounts, and the next gap-free number."""
    locked = _lock_draft(invoice)
    if not locked.lines.exists():
        raise BillingError("Add at least one line before issuing the invoice.")
    invoice_recalculate(invoice=locked)
    settings_row = billing_settings_get()
    on_date = issue_date or timezone.localdate()
    [number] = numbers_take(
        series=locked.kind, number_format=settings_row.invoice_number_format, on_date=on_date
    )
    _mark_issued(
        locked,
        number=number,
        on_date=on_date,
        terms_days=settings_row.payment_terms_days,
        issuer=_issuer_snapshot(),
        now=timezone.now(),
    )
    locked.save()
    _audit("issued", actor=actor, invoice=locked, number=number, total=locked.total)
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


@transaction.atomic
def invoice_void(*, invoice: Invoice, reason: str = "", actor: str = "") -> Invoice:
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if locked.status == Invoice.Status.DRAFT:
        raise InvalidInvoiceState("Drafts are deleted, not voided.")
    if locked.status == Invoice.Status.VOID:
        raise InvalidInvoiceState(f"Invoice {locked} is already void.")
    if locked.amount_paid > 0 or locked.amount_credited > 0 or locked.kind != Invoice.Kind.INVOICE:
        raise InvalidInvoiceState(
            f"Invoice {locked} has payments or credits: issue a credit note instead of voiding it."
        )
    locked.status = Invoice.Status.VOID
    locked.voided_at = timezone.now()
    locked.void_reason = reason.strip()[:300]  # internal: never printed for the customer
    locked.save(update_fields=["status", "voided_at", "void_reason"])
    _audit("voided", actor=actor, invoice=locked, reason=reason)
    return locked


# --------------------------------------------------------------------------------------
# Settlement: payments, credit, credit notes


def _settle(invoice: Invoice, now: datetime.datetime) -> None:
    """Derive the status of an issued invoice from what was paid and credited."""
    settled = invoice.amount_paid + invoice.amount_credited
    if settled >= invoice.total:
        was_settled = invoice.status == Invoice.Status.PAID
        invoice.status = Invoice.Status.PAID
        invoice.paid_at = invoice.paid_at or now
        if not was_settled:
            schema = connection.schema_name
            invoice_id = invoice.pk
            transaction.on_commit(
                lambda: invoice_settled.send(
                    sender=Invoice, invoice_id=invoice_id, schema_name=schema
                )
            )
    elif settled > 0:
        invoice.status = Invoice.Status.PARTIALLY_PAID
    else:
        invoice.status = Invoice.Status.ISSUED


def _lock_customer(customer_id: int) -> Customer:
    return Customer.objects.select_for_update().get(pk=customer_id)


def _credit(customer: Customer, amount: Decimal, kind: str, **links) -> None:
    CreditEntry.objects.create(customer=customer, kind=kind, amount=amount, **links)
    Customer.objects.filter(pk=customer.pk).update(credit_balance=F("credit_balance") + amount)
    customer.refresh_from_db(fields=["credit_balance"])


def _payable(invoice: Invoice) -> None:
    if invoice.kind != Invoice.Kind.INVOICE:
        raise InvalidInvoiceState("Credit notes are not paid; they settle invoices.")
    if invoice.status == Invoice.Status.DRAFT:
        raise InvalidInvoiceState(
            f"Invoice {invoice} is a draft: issue it before recording payments."
        )
    if invoice.status == Invoice.Status.VOID:
        raise InvalidInvoiceState(f"Invoice {invoice} is void and cannot be paid.")
    if invoice.status == Invoice.Status.PAID:
        raise InvalidInvoiceState(
            f"Invoice {invoice} is already paid. Record the payment without an invoice to add "
            "it to the customer's credit."
        )


@transaction.atomic
def payment_record(
    *,
    customer: Customer,
    amount,
    method: str,
    received_on: datetime.date | None = None,
    invoice: Invoice | None = None,
    reference: str = "",
    notes: str = "",
    created_by=None,
    actor: str = "",
) -> Payment:
    """Record money received; what exceeds the invoice's balance becomes account credit."""
    amount = to_decimal(amount)
    # Compare after rounding: 0.004 EUR is not a payment (and would break the constraint).
    if round_money(amount, customer.currency) <= 0:
        raise ValidationError({"amount": ["A payment is more than 0."]})
    if method not in Payment.Method.values:
        raise ValidationError({"method": [f"Unknown payment method “{method}”."]})
    locked_customer = _lock_customer(customer.pk)
    currency = locked_customer.currency
    locked_invoice = None
    if invoice is not None:
        locked_invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if locked_invoice.customer_id != locked_customer.pk:
            raise ValidationError({"invoice": ["That invoice belongs to another customer."]})
        _payable(locked_invoice)
        currency = locked_invoice.currency
    amount = round_money(amount, currency)
    applied = min(amount, locked_invoice.amount_due) if locked_invoice else ZERO
    payment = Payment.objects.create(
        customer=locked_customer,
        invoice=locked_invoice,
        amount=amount,
        applied_amount=applied,
        currency=currency,
        method=method,
        reference=reference[:200],
        notes=notes[:300],
        received_on=received_on or timezone.localdate(),
        created_by=created_by,
    )
    if locked_invoice is not None:
        locked_invoice.amount_paid += applied
        _settle(locked_invoice, timezone.now())
        locked_invoice.save(update_fields=["amount_paid", "status", "paid_at"])
    from . import tasks

    schema = connection.schema_name
    transaction.on_commit(lambda: tasks.payment_receipt_later(payment.pk, schema))
    if amount > applied:
        _credit(
            locked_customer,
            amount - applied,
            CreditEntry.Kind.OVERPAYMENT,
            payment=payment,
            note=f"Overpayment of {payment.reference or 'payment'}",
        )
    _audit(
        "payment_recorded",
        actor=actor or (created_by.email if created_by else ""),
        invoice=locked_invoice,
        customer=locked_customer,
        amount=amount,
        method=method,
        applied=applied,
    )
    return payment


@transaction.atomic
def invoice_apply_credit(*, invoice: Invoice, amount=None, actor: str = "") -> Decimal:
    """Settle an invoice from the customer's credit balance; returns the amount applied."""
    locked_customer = _lock_customer(invoice.customer_id)
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    _payable(locked)
    wanted = locked.amount_due if amount is None else to_decimal(amount)
    if wanted <= 0:
        raise ValidationError({"amount": ["Apply an amount more than 0."]})
    applied = min(wanted, locked.amount_due, locked_customer.credit_balance)
    if applied <= 0:
        raise BillingError(f"{locked_customer} has no credit to apply.")
    _credit(
        locked_customer,
        -applied,
        CreditEntry.Kind.APPLIED,
        invoice=locked,
        note=f"Applied to {locked}",
    )
    locked.amount_paid += applied
    _settle(locked, timezone.now())
    locked.save(update_fields=["amount_paid", "status", "paid_at"])
    _audit("credit_applied", actor=actor, invoice=locked, amount=applied)
    return applied


@transaction.atomic
def customer_credit_adjust(*, customer: Customer, amount, note: str, actor: str = "") -> Customer:
    amount = round_money(to_decimal(amount), customer.currency)
    if amount == 0:
        raise ValidationError({"amount": ["Enter a non-zero amount."]})
    if not note.strip():
        raise ValidationError({"note": ["Say why the credit changes."]})
    locked = _lock_customer(customer.pk)
    if locked.credit_balance + amount < 0:
        raise ValidationError(
            {"amount": [f"The credit balance is {locked.credit_balance}; it cannot go below 0."]}
        )
    _credit(locked, amount, CreditEntry.Kind.MANUAL, note=note[:300])
    _audit("credit_adjusted", actor=actor, customer=locked, amount=amount, note=note)
    return locked


@transaction.atomic
def credit_note_create(
    *,
    invoice: Invoice,
    reason: str,
    lines: Iterable[Mapping] | None = None,
    issue_date: datetime.date | None = None,
    actor: str = "",
) -> Invoice:
    """Issue a credit note against an issued invoice (all of it, or the given lines).

    The credit first reduces what the customer still owes on that invoice; whatever was
    already paid and is now credited becomes account credit.
    """
    if not (reason or "").strip():
        raise ValidationError({"reason": ["Give the reason for the credit note."]})
    locked_customer = _lock_customer(invoice.customer_id)
    original = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if original.kind != Invoice.Kind.INVOICE or original.status in (
        Invoice.Status.DRAFT,
        Invoice.Status.VOID,
    ):
        raise InvalidInvoiceState("Credit notes correct issued invoices only.")
    already = sum(
        (cn.total for cn in original.credit_notes.exclude(status=Invoice.Status.VOID)), ZERO
    )
    note = Invoice.objects.create(
        kind=Invoice.Kind.CREDIT_NOTE,
        customer=locked_customer,
        currency=original.currency,
        prices_include_tax=original.prices_include_tax,
        tax_treatment=original.tax_treatment,
        legal_notes=original.legal_notes,
        credited_invoice=original,
        notes=f"Credit note for invoice {original.number}: {reason.strip()}",
    )
    source = list(original.lines.all())
    if lines is None:
        copies = source
    else:
        by_id = {line.pk: line for line in source}
        copies = []
        for item in lines:
            line = by_id.get(int(item.get("line_id", 0) or 0))
            if line is None:
                raise ValidationError({"lines": ["Choose lines of the original invoice."]})
            quantity = to_decimal(item.get("quantity", line.quantity), field="quantity")
            if quantity <= 0 or quantity > line.quantity:
                raise ValidationError(
                    {"quantity": [f"Credit between 0 and {line.quantity} of “{line.description}”."]}
                )
            line.quantity = quantity
            copies.append(line)
    for position, line in enumerate(copies):
        net, tax, gross = line_amounts(
            quantity=line.quantity,
            unit_price=line.unit_price,
            rate=line.tax_rate,
            prices_include_tax=original.prices_include_tax,
            currency=original.currency,
        )
        InvoiceLine.objects.create(
            invoice=note,
            position=position,
            kind=line.kind,
            description=line.description,
            quantity=line.quantity,
            unit_price=line.unit_price,
            tax_class_code=line.tax_class_code,
            tax_rate=line.tax_rate,
            net_amount=net,
            tax_amount=tax,
            gross_amount=gross,
            service_id=line.service_id,
            period_start=line.period_start,
            period_end=line.period_end,
        )
    _set_totals(note, note.lines.all())
    if note.total <= 0:
        raise ValidationError({"lines": ["A credit note must credit something."]})
    if already + note.total > original.total:
        raise ValidationError(
            {"lines": [f"Invoice {original} has {original.total - already} left to credit."]}
        )
    settings_row = billing_settings_get()
    on_date = issue_date or timezone.localdate()
    [number] = numbers_take(
        series=Invoice.Kind.CREDIT_NOTE,
        number_format=settings_row.credit_note_number_format,
        on_date=on_date,
    )
    now = timezone.now()
    _mark_issued(
        note, number=number, on_date=on_date, terms_days=0, issuer=_issuer_snapshot(), now=now
    )
    note.customer_snapshot = original.customer_snapshot or note.customer_snapshot
    note.save()
    # Settle: reduce what is still owed, the rest becomes credit.
    owed = original.amount_due
    reduce_by = min(note.total, owed)
    original.amount_credited += reduce_by
    _settle(original, now)
    original.save(update_fields=["amount_credited", "status", "paid_at"])
    if note.total > reduce_by:
        _credit(
            locked_customer,
            note.total - reduce_by,
            CreditEntry.Kind.CREDIT_NOTE,
            invoice=note,
            note=f"Credit note {note.number} on paid invoice {original.number}",
        )
    _audit(
        "credit_note_issued",
        actor=actor,
        invoice=original,
        credit_note=note.number,
        total=note.total,
        reason=reason,
    )
    _after_issue([note.pk])
    return note


# --------------------------------------------------------------------------------------
# Bulk issue for recurring runs


@dataclass
class InvoiceSpec:
    customer: Customer
    currency: str
    lines: list[LineSpec] = field(default_factory=list)


def invoices_issue_bulk(
    *, specs: list[InvoiceSpec], run_id: int | None, on_date: datetime.date
) -> list[Invoice]:
    """Create and issue many invoices at once (renewals): one sequence lock, bulk inserts.

    Must run inside the caller's transaction (the numbering lock is held until commit).
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
    contexts: dict[tuple, object] = {}
    invoices, pending_lines = [], []
    for spec, number in zip(specs, numbers, strict=True):
        customer = spec.customer
        key = (str(customer.country), customer.tax_exempt, customer.is_business)
        context = contexts.get(key)
        if context is None:
            context = contexts[key] = tax_context(customer=customer, issuer_country=issuer_country)
        invoice = Invoice(
            customer=customer,
            currency=spec.currency,
            prices_include_tax=settings_row.prices_include_tax,
            tax_treatment=context.treatment,
            legal_notes=context.note,
            billing_run_id=run_id,
        )
        lines = []
        for position, line in enumerate(spec.lines):
            rate = context.rate_for(line.tax_class_code)
            net, tax, gross = line_amounts(
                quantity=line.quantity,
                unit_price=line.unit_price,
                rate=rate,
                prices_include_tax=invoice.prices_include_tax,
                currency=spec.currency,
            )
            lines.append(
                InvoiceLine(
                    position=position,
                    kind=line.kind,
                    description=line.description,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    tax_class_code=line.tax_class_code,
                    tax_rate=rate,
                    net_amount=net,
                    tax_amount=tax,
                    gross_amount=gross,
                    service_id=line.service_id,
                    period_start=line.period_start,
                    period_end=line.period_end,
                )
            )
        _set_totals(invoice, lines)
        _mark_issued(
            invoice,
            number=number,
            on_date=on_date,
            terms_days=settings_row.payment_terms_days,
            issuer=issuer,
            now=now,
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
    _after_issue([invoice.pk for invoice in invoices])
    return invoices
