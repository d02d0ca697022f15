"""Helpdesk e-mails, handed from the helpdesk Outbox to the instance's mail outbox exactly once.

Rows are written by the services in the transaction of the change they report. `outbox_deliver`
claims one undelivered row at a time with `select_for_update(skip_locked=True)`, records its
e-mails in the mail outbox (`mail.services.email_record`) and marks it delivered in the same
transaction, so two drains running at once never hand over the same row and a drain after a
crash retries only what was not marked; the e-mails are then sent, and a failed send is
retried by the mail outbox (visible in the staff area's e-mail log). A row whose e-mails
cannot even be composed counts an attempt and waits for the next drain (up to MAX_ATTEMPTS).

Wording is the instance's EmailTemplate `helpdesk_<key>` if staff wrote one, else
`templates/emails/helpdesk_<key>.txt` (first line `Subject: …`), rendered as plain
text from plain values only (never model instances).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation

from tenant_apps.accounts.models import Role, User
from tenant_apps.clients.selectors import customer_language
from tenant_apps.instance.emails import email_render, link, sender_name
from tenant_apps.instance.selectors import issuer_identity_get
from tenant_apps.mail.services import email_deliver, email_record

from .models import Message, Outbox, Ticket
from .rich_text import html_to_text

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10


def _render(key: str, context: dict) -> tuple[str, str]:
    """The instance's own wording of `helpdesk_<key>` if staff wrote one, else ours."""
    rendered = email_render(key=f"helpdesk_{key}", context=context)
    return rendered.subject, rendered.body


def _instance_name() -> str:
    return sender_name(issuer_identity_get()) or settings.UPLINE_OPERATOR_NAME


def _customer_address(ticket: Ticket) -> list[str]:
    if ticket.customer_id and ticket.customer.email:
        return [ticket.customer.email]
    if ticket.requester_id and ticket.requester.email:
        return [ticket.requester.email]
    return []


def _staff_addresses(ticket: Ticket) -> list[str]:
    """The assignee; unassigned: support staff, or the owner and admins when there are none."""
    if ticket.assignee_id and ticket.assignee.is_active:
        return [ticket.assignee.email]
    active = User.objects.filter(is_active=True)
    support = list(active.filter(role=Role.SUPPORT).values_list("email", flat=True))
    if support:
        return support
    return list(
        active.filter(Q(role=Role.OWNER) | Q(role=Role.ADMIN)).values_list("email", flat=True)
    )


def _context(ticket: Ticket, message: Message | None, base_url: str, *, staff: bool) -> dict:
    path = (
        reverse("helpdesk:ticket_detail", args=[ticket.pk])
        if staff
        else reverse("portal_helpdesk:ticket_detail", args=[ticket.pk])
    )
    customer = ticket.customer
    return {
        "instance_name": _instance_name(),
        "ticket": {
            "id": ticket.pk,
            "number": ticket.number,
            "subject": ticket.subject,
            "status": ticket.get_status_display(),
            "priority": ticket.get_priority_display(),
            "department": ticket.department.name,
            "url": link(base_url, path),
            "first_response_due_at": ticket.first_response_due_at,
            "resolution_due_at": ticket.resolution_due_at,
        },
        "customer": {
            "name": customer.display_name if customer else "",
            "email": customer.email if customer else "",
        },
        "message": {
            "author": message.author_name if message else "",
            "text": html_to_text(message.body) if message else "",
            "attachments": [a.original_name for a in message.attachments.all()] if message else [],
        },
    }


def _compose(row: Outbox, base_url: str) -> list[dict]:
    """The e-mails a row asks for, as keyword arguments of `mail.services.email_record`."""
    payload = row.payload or {}
    ticket = (
        Ticket.objects.select_related("customer", "requester", "assignee", "department")
        .filter(pk=payload.get("ticket_id"))
        .first()
    )
    if ticket is None:
        return []  # the ticket was deleted: nothing to say any more
    message = Message.objects.filter(pk=payload.get("message_id")).first()
    if row.event == Outbox.Event.STAFF_REPLIED or (
        row.event == Outbox.Event.TICKET_OPENED and payload.get("by_staff")
    ):
        if message is not None and not message.visible_to_customer:
            return []  # never mail a note to a customer, whatever the row says
        key = "staff_replied" if row.event == Outbox.Event.STAFF_REPLIED else "opened_for_customer"
        recipients = _customer_address(ticket)
        # The customer reads it in their language, dates included.
        language = customer_language(ticket.customer) if ticket.customer_id else None
        with translation.override(language):
            context = _context(ticket, message, base_url, staff=False)
    elif row.event in (Outbox.Event.CUSTOMER_REPLIED, Outbox.Event.TICKET_OPENED):
        key = "customer_replied" if row.event == Outbox.Event.CUSTOMER_REPLIED else "opened"
        recipients = _staff_addresses(ticket)
        context, language = _context(ticket, message, base_url, staff=True), None
    elif row.event == Outbox.Event.SLA_BREACHED:
        key = "sla_breached"
        recipients = _staff_addresses(ticket)
        context, language = _context(ticket, None, base_url, staff=True), None
        context["target"] = (
            "first response" if payload.get("target") == "first_response" else "resolution"
        )
    else:
        log.warning("Unknown helpdesk outbox event %s (row %s)", row.event, row.pk)
        return []
    if not recipients:
        return []
    with translation.override(language):
        subject, body = _render(key, context)
    return [
        {
            "to": [address],
            "key": f"helpdesk_{key}",
            "subject": subject,
            "body": body,
            "customer_id": ticket.customer_id,
            "language": language,
        }
        for address in dict.fromkeys(recipients)
    ]


def outbox_deliver(*, limit: int = 200, base_url: str = "") -> int:
    """Deliver up to `limit` pending rows; returns how many were delivered now."""
    delivered = 0
    tried: list[int] = []
    for _ in range(limit):
        recorded = []
        with transaction.atomic():
            row = (
                Outbox.objects.select_for_update(skip_locked=True)
                .filter(delivered_at__isnull=True, attempts__lt=MAX_ATTEMPTS)
                .exclude(pk__in=tried)
                .order_by("id")
                .first()
            )
            if row is None:
                break
            tried.append(row.pk)
            try:
                with transaction.atomic():  # all of the row's e-mails, or none
                    recorded = [email_record(**email) for email in _compose(row, base_url)]
            except Exception as exc:  # keep the row for the next drain, count the attempt
                log.warning("Helpdesk notification %s failed: %s", row.pk, exc)
                row.attempts += 1
                row.last_error = str(exc)[:2000]
                row.save(update_fields=["attempts", "last_error"])
                continue
            row.attempts += 1
            row.delivered_at = timezone.now()
            row.last_error = ""
            row.save(update_fields=["attempts", "delivered_at", "last_error"])
            delivered += 1
        for email in recorded:  # handed over and committed: send them now
            email_deliver(email_id=email.pk)
    return delivered
