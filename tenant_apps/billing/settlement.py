"""Money going back: refunds of payments (with the credit notes they need) and reversals of
payments recorded by mistake.

A refund pays back part or all of a payment. It first takes what the payment left as
account credit (no document needed: nothing was sold for it), then what it settled on
invoices, most recent first; for each of those a credit note for the same amount, tax
included, reduces the sale, and the invoice's paid amount goes down with it. A reversal
undoes a payment that never happened (a wrong bank line): its allocations come off the
invoices, which reopen, and the credit it left is taken back; no document is issued.

A payment a gateway took (a card through Stripe) is refunded through that gateway first
(`ports.gateway_refund`), which then books it here.

Both run under the customer's row lock (`tenant_apps.instance.locking`: Customer →
Invoice → NumberSequence), so two refunds of one payment never pay back twice.
"""

from __future__ import annotations

import datetime
from decimal import ROUND_DOWN, Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from tenant_apps.instance import audit, clock
from tenant_apps.instance.money import ZERO, currency_exponent, round_money, to_decimal

from . import ports, services
from .models import (
    CreditEntry,
    InvalidInvoiceState,
    Invoice,
    Payment,
    PaymentAllocation,
    Refund,
)
from .selectors import credited_per_line

PAYMENT_REFUNDED = audit.event_type("payment.refunded", gettext_noop("Payment refunded"))
PAYMENT_REVERSED = audit.event_type("payment.reversed", gettext_noop("Payment reversed"))
INVOICE_PAYMENT_REVERSED = audit.event_type(
    "invoice.payment_reversed", gettext_noop("Payment reversed (recorded by mistake)")
)


def _lock_payment(payment: Payment):
    customer = services._lock_customer(payment.customer_id)
    locked = Payment.objects.select_for_update().get(pk=payment.pk)
    if locked.is_reversed:
        raise InvalidInvoiceState(
            gettext("The payment %(locked)s was reversed: nothing is left on it.")
            % {"locked": locked}
        )
    return customer, locked


def _left_as_credit(payment: Payment) -> Decimal:
    """What this payment put on account credit and no refund has taken back yet."""
    taken = payment.refunds.aggregate(total=Sum("from_credit"))["total"] or ZERO
    return payment.amount - payment.applied_amount - taken


def gross_split(invoice: Invoice, amount: Decimal) -> list[dict]:
    """Spread a gross amount over the invoice's lines in proportion to what each can still
    be credited, tax included, to the currency's smallest unit; the rounding remainder goes
    to the lines with the largest remainders, so the parts add up exactly (and the whole of
    what is left gives each line exactly its own rest)."""
    lines = list(invoice.lines.all())
    taken = credited_per_line(invoice, basis="gross_amount")
    weights = {
        line.pk: line.gross_amount - taken.get(line.pk, ZERO)
        for line in lines
        if line.gross_amount - taken.get(line.pk, ZERO) > 0
    }
    total_weight = sum(weights.values(), ZERO)
    if total_weight < amount:
        raise ValidationError(
            {
                "amount": [
                    gettext("Invoice %(invoice)s has %(total_weight)s left to credit.")
                    % {"invoice": invoice, "total_weight": total_weight}
                ]
            }
        )
    unit = Decimal(1).scaleb(-currency_exponent(invoice.currency))
    exact = {pk: amount * weight / total_weight for pk, weight in weights.items()}
    shares = {pk: value.quantize(unit, rounding=ROUND_DOWN) for pk, value in exact.items()}
    remainder = amount - sum(shares.values(), ZERO)
    by_fraction = sorted(weights, key=lambda pk: exact[pk] - shares[pk], reverse=True)
    index = 0
    while remainder > 0:
        shares[by_fraction[index % len(by_fraction)]] += unit
        remainder -= unit
        index += 1
    return [{"line_id": pk, "gross": share} for pk, share in shares.items() if share > 0]


def payment_refund(
    *,
    payment: Payment,
    amount,
    reason: str,
    method: str | None = None,
    reference: str = "",
    refunded_on: datetime.date | None = None,
    waive_periods: bool = False,
    actor=None,
) -> Refund:
    """Pay back part or all of a payment: the one entry of every screen and the API.

    Money a gateway took (a card payment through Stripe) goes back the way it came: the
    gateway refunds it, then books it with `payment_refund_book` (Stripe's refund id as the
    reference, today as the date). Staff who pay it back another way (`method` other than
    the payment's: a bank transfer once the card is gone) book it here, as for any other
    payment. Not one transaction: the gateway's call to Stripe is made outside any."""
    if method in (None, "", payment.method):
        refunded = ports.gateway_refund(
            payment=payment,
            amount=amount,
            reason=reason,
            waive_periods=waive_periods,
            actor=actor,
        )
        if refunded is not None:
            return refunded
    return payment_refund_book(
        payment=payment,
        amount=amount,
        reason=reason,
        method=method,
        reference=reference,
        refunded_on=refunded_on,
        waive_periods=waive_periods,
        actor=actor,
    )


@transaction.atomic
def payment_refund_book(
    *,
    payment: Payment,
    amount,
    reason: str,
    method: str | None = None,
    reference: str = "",
    refunded_on: datetime.date | None = None,
    waive_periods: bool = False,
    actor=None,
) -> Refund:
    """Book money paid back on a payment, issuing the credit notes the settled part needs
    (a gateway calls this once its refund is made; screens call `payment_refund`)."""
    if not (reason or "").strip():
        raise ValidationError({"reason": [gettext("Give the reason for the refund.")]})
    amount = to_decimal(amount, field="amount")
    if amount <= 0:
        raise ValidationError({"amount": [gettext("A refund is more than 0.")]})
    customer, locked = _lock_payment(payment)
    amount = round_money(amount, locked.currency)
    method = method or locked.method
    if method not in Payment.Method.values:
        raise ValidationError(
            {"method": [gettext("Unknown payment method “%(method)s”.") % {"method": method}]}
        )
    if amount <= 0 or amount > locked.refundable:
        raise ValidationError(
            {
                "amount": [
                    gettext("Refund more than 0 and at most %(refundable)s %(currency)s.")
                    % {"refundable": locked.refundable, "currency": locked.currency}
                ]
            }
        )
    from_credit = min(
        amount, _left_as_credit(locked), services.credit_available(customer, locked.currency)
    )
    from_credit = max(from_credit, ZERO)
    rest = amount - from_credit
    notes: list[Invoice] = []
    allocations = list(
        PaymentAllocation.objects.filter(payment=locked).select_related("invoice").order_by("-id")
    )
    for allocation in allocations:
        if rest <= 0:
            break
        part = min(rest, allocation.amount - allocation.refunded)
        if part <= 0:
            continue
        invoice = allocation.invoice
        notes.append(
            services.credit_note_create(
                invoice=invoice,
                reason=f"Refund: {reason.strip()}",
                # All of an invoice never credited mirrors it line by line, as charged.
                lines=(
                    None
                    if part == invoice.total and not invoice.credit_notes.exists()
                    else gross_split(invoice, part)
                ),
                refund=part,
                waive_periods=waive_periods,
                actor=actor,
            )
        )
        allocation.refunded += part
        allocation.save(update_fields=["refunded"])
        rest -= part
    if rest > 0:
        raise ValidationError(
            {
                "amount": [
                    gettext(
                        "At most %(value)s %(currency)s of this payment can be refunded now: the "
                        "credit it left was already spent on other invoices."
                    )
                    % {"value": amount - rest, "currency": locked.currency}
                ]
            }
        )
    credit_before = customer.credit_balance
    refund = Refund.objects.create(
        customer=customer,
        payment=locked,
        amount=amount,
        currency=locked.currency,
        from_credit=from_credit,
        method=method,
        reference=reference[:200],
        reason=reason.strip()[:300],
        refunded_on=refunded_on or clock.today(),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    refund.credit_notes.set(notes)
    if from_credit > 0:
        services._credit(
            customer,
            -from_credit,
            CreditEntry.Kind.REFUND,
            currency=locked.currency,
            payment=locked,
            note=f"Refunded: {reason.strip()}"[:300],
        )
    refunded_before = locked.refunded_amount
    locked.refunded_amount += amount
    locked.save(update_fields=["refunded_amount"])
    changes = {"refunded_amount": [refunded_before, locked.refunded_amount]}
    changes.update(services.credit_change(customer, credit_before))
    audit.audit_record(
        PAYMENT_REFUNDED,
        actor=actor,
        obj=locked,
        changes=changes,
        detail={
            "refund": refund.pk,
            "amount": amount,
            "currency": locked.currency,
            "from_credit": from_credit,
            "credit_notes": [note.number for note in notes],
            "reason": refund.reason,
        },
    )
    return refund


@transaction.atomic
def payment_reverse(*, payment: Payment, reason: str, actor=None) -> Payment:
    """Undo a payment recorded by mistake: the invoices it settled reopen and the credit it
    left is taken back. A payment already refunded (money went back) is not reversed."""
    if not (reason or "").strip():
        raise ValidationError({"reason": [gettext("Say why the payment is reversed.")]})
    customer, locked = _lock_payment(payment)
    if locked.refunded_amount > 0:
        raise InvalidInvoiceState(
            gettext(
                "%(refunded_amount)s %(currency)s of this payment was refunded: a "
                "refunded payment cannot be reversed."
            )
            % {"refunded_amount": locked.refunded_amount, "currency": locked.currency}
        )
    to_credit = locked.amount - locked.applied_amount
    available = services.credit_available(customer, locked.currency)
    if to_credit > available:
        raise InvalidInvoiceState(
            gettext(
                "This payment left %(to_credit)s %(currency)s of credit, of which only "
                "%(available)s is left: reverse the use of that credit first."
            )
            % {"to_credit": to_credit, "currency": locked.currency, "available": available}
        )
    allocations = list(
        PaymentAllocation.objects.filter(payment=locked).values_list("invoice_id", "amount")
    )
    invoices = {
        invoice.pk: invoice
        for invoice in Invoice.objects.select_for_update()
        .filter(pk__in=[pk for pk, _ in allocations])
        .order_by("pk")
    }
    now = timezone.now()
    credit_before = customer.credit_balance
    for invoice_id, part in allocations:
        invoice = invoices[invoice_id]
        paid_before = invoice.amount_paid
        invoice.amount_paid -= part
        status_before = services._settle(invoice, now)
        invoice.save(update_fields=["amount_paid", "status", "paid_at"])
        audit.audit_record(
            INVOICE_PAYMENT_REVERSED,
            actor=actor,
            obj=invoice,
            changes={
                **services._status_change(status_before, invoice),
                "amount_paid": [paid_before, invoice.amount_paid],
            },
            detail={"payment": locked.pk, "amount": part, "reason": reason.strip()[:300]},
        )
    if to_credit > 0:
        services._credit(
            customer,
            -to_credit,
            CreditEntry.Kind.REVERSAL,
            currency=locked.currency,
            payment=locked,
            note=f"Payment reversed: {reason.strip()}"[:300],
        )
    locked.reversed_at = now
    locked.reversal_reason = reason.strip()[:300]
    locked.save(update_fields=["reversed_at", "reversal_reason"])
    changes = {"reversed_at": [None, now]}
    changes.update(services.credit_change(customer, credit_before))
    audit.audit_record(
        PAYMENT_REVERSED,
        actor=actor,
        obj=locked,
        changes=changes,
        detail={
            "amount": locked.amount,
            "currency": locked.currency,
            "invoices": [invoices[pk].number for pk, _ in allocations],
            "reason": locked.reversal_reason,
        },
    )
    return locked
