"""Billing e-mails to customers: new invoices and credit notes, receipts, reminders.

Each e-mail's wording is the instance's `EmailTemplate` row for its key when staff wrote
one, else the default in `templates/emails/<key>.txt` (first line `Subject: …`, then the
body). Both are plain text rendered by the Django template engine with autoescape off.
Templates see plain values only (numbers, names, formatted amounts, links), never model
instances, so staff-written text cannot walk relations to data the customer must not see.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation

from tenant_apps.clients.models import Customer
from tenant_apps.clients.selectors import customer_language
from tenant_apps.instance import clock
from tenant_apps.instance.emails import link
from tenant_apps.instance.models import EmailTemplate, IssuerIdentity
from tenant_apps.instance.money import format_money
from tenant_apps.instance.selectors import issuer_identity_get
from tenant_apps.mail.models import OutgoingEmail
from tenant_apps.mail.services import Attachment, email_deliver, email_record

from . import documents, ports
from .models import InvalidInvoiceState, Invoice, Payment

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------
# Context: plain values only


def _issuer_context(identity: IssuerIdentity | None) -> dict:
    if identity is None:
        return {"name": "", "legal_name": "", "email": "", "phone": ""}
    return {
        "name": identity.trading_name or identity.legal_name,
        "legal_name": identity.legal_name,
        "email": identity.email,
        "phone": identity.phone,
    }


def _customer_context(customer: Customer) -> dict:
    return {
        "name": customer.name,
        "company_name": customer.company_name,
        "display_name": customer.display_name,
        "email": customer.email,
        "credit_balance": format_money(customer.credit_balance, customer.currency),
    }


def _invoice_context(invoice: Invoice, base_url: str) -> dict:
    currency = invoice.currency
    return {
        "id": invoice.pk,
        "number": invoice.number,
        "kind": invoice.kind,
        "kind_label": invoice.get_kind_display(),
        "status": invoice.get_status_display(),
        "issue_date": invoice.issue_date,
        "due_date": invoice.due_date,
        "currency": currency,
        "subtotal": format_money(invoice.subtotal, currency),
        "tax_total": format_money(invoice.tax_total, currency),
        "total": format_money(invoice.total, currency),
        "amount_paid": format_money(invoice.amount_paid, currency),
        "amount_due": format_money(invoice.amount_due, currency),
        "is_settled": invoice.kind == Invoice.Kind.INVOICE and invoice.amount_due == 0,
        "credited_invoice_number": (
            invoice.credited_invoice.number if invoice.credited_invoice_id else ""
        ),
        "url": link(base_url, reverse("portal_billing:invoice_detail", args=[invoice.pk])),
    }


def mail_context(identity: IssuerIdentity | None, customer: Customer, base_url: str) -> dict:
    issuer = _issuer_context(identity)
    return {
        "issuer": issuer,
        "issuer_name": issuer["name"],
        "customer": _customer_context(customer),
        "portal_url": link(base_url, reverse("portal:home")),
        "invoices_url": link(base_url, reverse("portal_billing:invoice_list")),
    }


# --------------------------------------------------------------------------------------
# Sending


def billing_recipients(customer: Customer) -> list[str]:
    """The customer's address, then its contacts who receive invoices (no duplicates)."""
    addresses = [
        customer.email,
        *customer.contacts.filter(receives_invoices=True).values_list("email", flat=True),
    ]
    seen: set[str] = set()
    unique = []
    for address in addresses:
        if address and address.lower() not in seen:
            seen.add(address.lower())
            unique.append(address)
    return unique


def mail_send(
    *,
    key: str,
    context: dict,
    recipients: list[str],
    customer_id: int | None = None,
    attachment: tuple[str, bytes] | None = None,
    attachments: list[tuple[str, bytes, str]] = (),
    deliver: bool = True,
) -> OutgoingEmail:
    """Record the e-mail in the instance's outbox (From, road and HTML part are the mail
    app's) and, unless `deliver` is False, send it now; a failed send is retried by the
    outbox, never lost."""
    files = [
        Attachment(name, content=content, mimetype=mimetype)
        for name, content, mimetype in attachments
    ]
    if attachment is not None:
        files.insert(0, Attachment(attachment[0], content=attachment[1]))
    row = email_record(
        key=key,
        context=context,
        to=recipients[:1],
        cc=recipients[1:],
        customer_id=customer_id,
        attachments=files,
    )
    return (email_deliver(email_id=row.pk) or row) if deliver else row


def _fresh(invoice_id: int) -> Invoice:
    # Callers often hold a copy loaded before a payment or credit changed the amounts.
    return Invoice.objects.select_related("customer", "credited_invoice").get(pk=invoice_id)


def _pdf_attachment(invoice: Invoice) -> tuple[str, bytes]:
    name = documents.invoice_pdf_store(invoice=invoice)
    with invoice.pdf.storage.open(name, "rb") as handle:
        content = handle.read()
    return name.rsplit("/", 1)[-1], content


def invoice_issued_notify(*, invoice: Invoice, base_url: str = "") -> bool:
    """E-mail a newly issued invoice or credit note, with its PDF, exactly once.

    Returns False when it was already sent. `emailed_at` is claimed by a conditional
    UPDATE in the transaction that records the e-mail in the outbox: a retry (or a
    concurrent run) after that commits sends nothing, and a failed send is retried by the
    outbox (`mail`), so claiming it is never losing it.
    """
    caller_copy, invoice = invoice, _fresh(invoice.pk)
    # The customer's language: the e-mail, its amounts and dates, and the PDF it carries.
    with translation.override(customer_language(invoice.customer)):
        return _invoice_issued_send(caller_copy, invoice, base_url)


def _invoice_issued_send(caller_copy: Invoice, invoice: Invoice, base_url: str) -> bool:
    if invoice.status == Invoice.Status.DRAFT or not invoice.number:
        raise InvalidInvoiceState(f"Invoice {invoice} is a draft: drafts are never e-mailed.")
    if invoice.emailed_at is not None:
        return False
    if invoice.status == Invoice.Status.VOID:
        log.info("Invoice %s was voided before it was e-mailed; not sending it.", invoice)
        return False
    # Before claiming: rendering is slow, sending is not. The PDF, or what an app above
    # billing attaches with or instead of it (the customer's e-invoice: `ports`).
    attachments = ports.mail_attachments(invoice, _pdf_attachment(invoice))
    key = (
        EmailTemplate.Key.CREDIT_NOTE_ISSUED
        if invoice.kind == Invoice.Kind.CREDIT_NOTE
        else EmailTemplate.Key.INVOICE_ISSUED
    )
    with transaction.atomic():
        now = timezone.now()
        claimed = Invoice.objects.filter(pk=invoice.pk, emailed_at__isnull=True).update(
            emailed_at=now
        )
        if not claimed:
            return False
        identity = issuer_identity_get()
        customer = invoice.customer
        context = mail_context(identity, customer, base_url)
        context["invoice"] = _invoice_context(invoice, base_url)
        recorded = mail_send(
            key=key,
            context=context,
            recipients=billing_recipients(customer),
            customer_id=customer.pk,
            attachments=attachments,
            deliver=False,
        )
    email_deliver(email_id=recorded.pk)  # after the claim and the record commit together
    caller_copy.emailed_at = invoice.emailed_at = now
    return True


def payment_receipt_notify(*, payment: Payment, base_url: str = "") -> None:
    """Confirm a payment to the customer (and the contacts who receive invoices)."""
    customer = Customer.objects.get(pk=payment.customer_id)  # the credit balance after it
    with translation.override(customer_language(customer)):
        _payment_receipt_send(payment, customer, base_url)


def _payment_receipt_send(payment: Payment, customer: Customer, base_url: str) -> None:
    identity = issuer_identity_get()
    context = mail_context(identity, customer, base_url)
    context["payment"] = {
        "amount": format_money(payment.amount, payment.currency),
        "applied_amount": format_money(payment.applied_amount, payment.currency),
        "to_credit": format_money(payment.amount - payment.applied_amount, payment.currency),
        "has_credit": payment.amount > payment.applied_amount,
        "currency": payment.currency,
        "method": payment.get_method_display(),
        "reference": payment.reference,
        "received_on": payment.received_on,
    }
    invoice = _fresh(payment.invoice_id) if payment.invoice_id else None
    context["invoice"] = _invoice_context(invoice, base_url) if invoice else None
    # A payment across several invoices lists each with the part it paid.
    context["invoices"] = (
        []
        if invoice
        else [
            {
                **_invoice_context(_fresh(allocation.invoice_id), base_url),
                "applied": format_money(allocation.amount, payment.currency),
            }
            for allocation in payment.allocations.all()
        ]
    )
    mail_send(
        key=EmailTemplate.Key.PAYMENT_RECEIPT,
        context=context,
        recipients=billing_recipients(customer),
        customer_id=customer.pk,
    )


def invoice_reminder_notify(*, invoice: Invoice, level: int, base_url: str = "") -> bool:
    """Remind the customer of an unpaid invoice; `level` 1 is the first reminder.

    Returns False, sending nothing, when the invoice was settled in the meantime.
    """
    if level < 1:
        raise ValueError("Reminder levels start at 1.")
    invoice = _fresh(invoice.pk)
    if invoice.kind != Invoice.Kind.INVOICE or invoice.status in (
        Invoice.Status.DRAFT,
        Invoice.Status.VOID,
    ):
        raise InvalidInvoiceState(f"{invoice} is not an issued invoice: nothing to remind of.")
    if invoice.amount_due == 0:
        return False
    identity = issuer_identity_get()
    customer = invoice.customer
    with translation.override(customer_language(customer)):
        context = mail_context(identity, customer, base_url)
        context["invoice"] = _invoice_context(invoice, base_url)
        context["level"] = level
        overdue = (clock.today() - invoice.due_date).days if invoice.due_date else 0
        context["days_overdue"] = max(overdue, 0)
        mail_send(
            key=EmailTemplate.Key.INVOICE_REMINDER,
            context=context,
            recipients=billing_recipients(customer),
            customer_id=customer.pk,
            attachment=_pdf_attachment(invoice),
        )
    return True
