"""The e-mail telling a customer their card could not be charged automatically, with a link
to pay the invoice in the portal.

Its wording is the instance's `EmailTemplate` for `card_charge_failed` when staff wrote one,
else `templates/emails/card_charge_failed.txt`; it goes to the addresses billing e-mails go
to, from the instance's own name (`billing.notifications`). Templates see plain values only.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation

from tenant_apps.billing.models import Invoice
from tenant_apps.billing.notifications import billing_recipients, mail_context, mail_send
from tenant_apps.clients.selectors import customer_language
from tenant_apps.instance.addresses import instance_url
from tenant_apps.instance.emails import link
from tenant_apps.instance.models import EmailTemplate
from tenant_apps.instance.money import format_money
from tenant_apps.instance.selectors import issuer_identity_get
from tenant_apps.mail.services import email_deliver

from . import ports
from .models import AutoChargeAttempt

log = logging.getLogger(__name__)


def auto_charge_failed_context(attempt: AutoChargeAttempt, invoice: Invoice, base_url: str):
    identity = issuer_identity_get()
    context = mail_context(identity, invoice.customer, base_url)
    currency = invoice.currency
    amount = attempt.card_payment.amount if attempt.card_payment_id else invoice.amount_due
    context["invoice"] = {
        "id": invoice.pk,
        "number": invoice.number,
        "issue_date": invoice.issue_date,
        "due_date": invoice.due_date,
        "total": format_money(invoice.total, currency),
        "amount_due": format_money(invoice.amount_due, currency),
        "url": link(base_url, reverse("portal_billing:invoice_detail", args=[invoice.pk])),
    }
    context["charge"] = {
        "amount": format_money(amount, currency),
        "card": attempt.card_label,
        "date": attempt.charge_date,
        "attempt": attempt.number,
        "needs_authentication": attempt.status == AutoChargeAttempt.Status.REQUIRES_ACTION,
        "reason": attempt.failure_message,
    }
    context["pay_url"] = link(base_url, reverse("portal_cards:pay", args=[invoice.pk]))
    context["payment_methods_url"] = link(base_url, reverse("portal_cards:payment_methods"))
    reseller_id = invoice.customer.reseller_id
    links = ports.reseller_pay_links(reseller_id, invoice.pk) if reseller_id else None
    if links:
        # A reseller pays the operator's bills, and keeps its cards, in its own staff area.
        context["pay_url"], context["payment_methods_url"] = links
    return context, identity


def auto_charge_failed_notify(*, attempt_id: int, base_url: str | None = None) -> bool:
    """Tell the customer, once, that an automatic charge failed. False when it was told
    already, or when the invoice was settled meanwhile (nothing to ask any more).

    `notified_at` is claimed by a conditional UPDATE in the transaction that records the
    e-mail in the outbox: a retry after that sends nothing again, and a failed send is
    retried by the outbox (`mail`).
    """
    attempt = (
        AutoChargeAttempt.objects.select_related("invoice__customer", "card_payment")
        .filter(pk=attempt_id, status__in=AutoChargeAttempt.UNSUCCESSFUL)
        .first()
    )
    if attempt is None or attempt.notified_at is not None:
        return False
    invoice = attempt.invoice
    if invoice.status not in (Invoice.Status.ISSUED, Invoice.Status.PARTIALLY_PAID):
        log.info("Invoice %s was settled before its failed charge was told; not sending.", invoice)
        return False
    base_url = instance_url() if base_url is None else base_url
    with transaction.atomic():
        claimed = AutoChargeAttempt.objects.filter(pk=attempt.pk, notified_at__isnull=True).update(
            notified_at=timezone.now()
        )
        if not claimed:
            return False
        with translation.override(customer_language(invoice.customer)):
            context, _identity = auto_charge_failed_context(attempt, invoice, base_url)
            recorded = mail_send(
                key=EmailTemplate.Key.CARD_CHARGE_FAILED,
                context=context,
                recipients=billing_recipients(invoice.customer),
                customer_id=invoice.customer_id,
                deliver=False,
            )
    # Sent once the claim and the record commit; a failed send is the outbox's to retry.
    email_deliver(email_id=recorded.pk)
    return True
