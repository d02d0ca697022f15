"""Escalating a reseller's ticket upstream, replying upstream, and relaying the answers back.

Every crossing happens in ONE database transaction: the reseller's ticket (its schema),
the operator's ticket (public schema) and the link row move together or not at all.
The operator sees only what the reseller chose to share; the reseller's customer never
sees upstream traffic (it is stored as staff-only messages in the reseller's ticket).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from decimal import Decimal

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context

from config.errors import DomainError
from shared_apps.tenancy.models import Reseller
from tenant_apps.billing.models import PendingCharge
from tenant_apps.clients.models import Customer
from tenant_apps.helpdesk import services as helpdesk
from tenant_apps.helpdesk.models import Message, Ticket
from tenant_apps.helpdesk.rich_text import html_to_text
from tenant_apps.instance.models import IssuerIdentity

from .callbacks import on_operator_ticket_event
from .models import EscalationLink

log = logging.getLogger(__name__)
PUBLIC = get_public_schema_name


class EscalationRefused(DomainError):
    code = "escalation_refused"
    status_code = 409


def _reseller_for_schema(schema_name: str) -> Reseller:
    reseller = Reseller.objects.filter(schema_name=schema_name).first()
    if reseller is None:
        raise EscalationRefused("Only a reseller's instance can escalate to its provider.")
    if reseller.status != Reseller.Status.ACTIVE:
        raise EscalationRefused(
            f"{reseller.name} is {reseller.get_status_display().lower()}: escalations to "
            f"{settings.UPLINE_OPERATOR_NAME} are not possible until the account is active."
        )
    return reseller


def _operator_customer(reseller: Reseller) -> Customer:
    """The reseller as a customer of the operator (created if the operator has none yet)."""
    customer = Customer.objects.filter(reseller_id=reseller.pk).first()
    if customer is None:
        identity = IssuerIdentity.objects.first()
        customer = Customer.objects.create(
            kind=Customer.Kind.COMPANY,
            name=reseller.name,
            company_name=reseller.legal_name,
            email=reseller.contact_email,
            country=(identity.country if identity and identity.country else "FR"),
            currency=(identity.currency if identity else "EUR"),
            reseller_id=reseller.pk,
        )
    return customer


def escalation_price_for(reseller: Reseller) -> tuple[Decimal, str] | None:
    """What one escalation costs the reseller — its own price if the operator set one, else
    its reseller plan's — or None when free."""
    from tenant_apps.orders.models import Service

    with schema_context(PUBLIC()):
        customer = Customer.objects.filter(reseller_id=reseller.pk).first()
        if reseller.escalation_price is not None:
            if reseller.escalation_price <= 0:
                return None
            identity = IssuerIdentity.objects.first()
            currency = customer.currency if customer else (identity.currency if identity else "EUR")
            return reseller.escalation_price, currency
        if customer is None:
            return None
        prices = [
            price
            for price in Service.objects.filter(
                customer=customer,
                status__in=[Service.Status.ACTIVE, Service.Status.SUSPENDED],
                product__is_reseller_plan=True,
                product__escalation_price__isnull=False,
            ).values_list("product__escalation_price", flat=True)
            if price > 0
        ]
        return (max(prices), customer.currency) if prices else None


def _shared_text(
    ticket: Ticket, *, customer_name: bool, customer_email: bool, service: bool, note: str
) -> str:
    """What the operator gets: the conversation the customer saw, plus only what was ticked."""
    lines = []
    if note.strip():
        lines += [f"Note from the reseller: {note.strip()}", ""]
    customer = ticket.customer
    if customer is not None and customer_name:
        lines.append(f"Customer: {customer.display_name}")
    if customer is not None and customer_email:
        lines.append(f"Customer e-mail: {customer.email}")
    if service and customer is not None:
        services = ", ".join(
            f"{s.product.name}{' ' + s.label if s.label else ''} ({s.get_status_display().lower()})"
            for s in customer.services.select_related("product").all()[:10]
        )
        if services:
            lines.append(f"Services: {services}")
    if lines and lines[-1] != "":
        lines.append("")
    conversation = ticket.messages.filter(kind=Message.Kind.REPLY).select_related("author")
    for message in conversation.order_by("created_at", "id"):
        who = "Staff" if message.author and message.author.is_instance_staff else "Customer"
        lines += [f"— {who}, {message.created_at:%Y-%m-%d %H:%M}:", html_to_text(message.body), ""]
    return "\n".join(lines).strip()


def ticket_escalate(
    *,
    reseller_schema: str,
    ticket_id: int,
    escalated_by: str,
    note: str = "",
    share_customer_name: bool = False,
    share_customer_email: bool = False,
    share_service: bool = False,
    attachment_ids: Iterable[int] = (),
) -> EscalationLink:
    """Open a linked ticket in the operator's helpdesk, in one transaction."""
    public = PUBLIC()
    attachment_ids = [int(a) for a in attachment_ids]
    with transaction.atomic():
        reseller = _reseller_for_schema(reseller_schema)
        with schema_context(reseller_schema):
            ticket = (
                Ticket.objects.select_for_update(of=("self",))
                .select_related("customer")
                .get(pk=ticket_id)
            )
            if ticket.escalation == Ticket.Escalation.ESCALATED:
                raise helpdesk.AlreadyEscalated(
                    f"Ticket {ticket.number} is already escalated upstream."
                )
            if ticket.is_closed:
                raise EscalationRefused(
                    f"Ticket {ticket.number} is closed: reopen it before escalating."
                )
            body = _shared_text(
                ticket,
                customer_name=share_customer_name,
                customer_email=share_customer_email,
                service=share_service,
                note=note,
            )
            subject = ticket.subject
            opened_at = ticket.created_at
            files = []
            for attachment in ticket_attachments(ticket).filter(pk__in=attachment_ids):
                with attachment.file.open("rb") as handle:
                    files.append(
                        SimpleUploadedFile(
                            attachment.original_name, handle.read(), attachment.content_type
                        )
                    )
            if len(files) != len(set(attachment_ids)):
                raise EscalationRefused("Share only attachments of this ticket's conversation.")
        with schema_context(public):
            operator_ticket = helpdesk.ticket_open(
                subject=f"[{reseller.name}] {subject}",
                body=body or subject,
                department=helpdesk.department_escalation_inbox(),
                customer=_operator_customer(reseller),
                source=Ticket.Source.UPSTREAM,
                attachments=files,
            )
            price = escalation_price_for(reseller)
            if price is not None:
                # Billed on the reseller's next invoice from the operator (renewal run).
                PendingCharge.objects.create(
                    customer=_operator_customer(reseller),
                    amount=price[0],
                    currency=price[1],
                    description=f"Upstream support: {reseller.name} ticket #{ticket_id} "
                    f"(escalation #{operator_ticket.pk})",
                )
            link = EscalationLink.objects.create(
                reseller=reseller,
                reseller_ticket_id=ticket_id,
                operator_ticket_id=operator_ticket.pk,
                shared={
                    "price": str(price[0]) if price else None,
                    "customer_name": share_customer_name,
                    "customer_email": share_customer_email,
                    "service": share_service,
                    "attachments": attachment_ids,
                },
                note=note.strip(),
                escalated_by=escalated_by,
                reseller_ticket_opened_at=opened_at,
            )
        with schema_context(reseller_schema):
            ticket = Ticket.objects.get(pk=ticket_id)
            helpdesk.ticket_mark_escalated(ticket=ticket, link_id=link.pk)
            helpdesk.ticket_add_upstream_message(
                ticket=ticket,
                author_label=escalated_by,
                body=f"Escalated to {settings.UPLINE_OPERATOR_NAME} "
                f"as ticket #{operator_ticket.pk}."
                + (f"\n\nNote: {note.strip()}" if note.strip() else ""),
            )
    return link


def ticket_attachments(ticket: Ticket):
    """Attachments on messages the customer saw (the ones a reseller may choose to share)."""
    from tenant_apps.helpdesk.models import Attachment

    return Attachment.objects.filter(message__ticket=ticket, message__kind=Message.Kind.REPLY)


def escalation_reply_upstream(
    *, reseller_schema: str, ticket_id: int, author, body: str
) -> EscalationLink:
    """Reseller staff write to the operator from their own ticket."""
    with transaction.atomic():
        reseller = _reseller_for_schema(reseller_schema)
        link = (
            EscalationLink.objects.select_for_update()
            .filter(reseller=reseller, reseller_ticket_id=ticket_id)
            .first()
        )
        if link is None:
            raise EscalationRefused("This ticket was not escalated upstream.")
        if link.status == EscalationLink.Status.CLOSED:
            raise EscalationRefused(
                "The upstream ticket is closed; escalate again from a new ticket."
            )
        with schema_context(reseller_schema):
            helpdesk.ticket_record_upstream_reply(
                ticket=Ticket.objects.get(pk=ticket_id), author=author, body=body
            )
        with schema_context(PUBLIC()):
            operator_ticket = Ticket.objects.get(pk=link.operator_ticket_id)
            helpdesk.ticket_reply(ticket=operator_ticket, author=None, body=body)
        link.last_reseller_reply_at = timezone.now()
        link.save(update_fields=["last_reseller_reply_at"])
    return link


# --------------------------------------------------------------------------------------
# Relay: the helpdesk's `ticket_changed` signal, inside the transaction of each change.


def on_ticket_changed(sender, *, event: str, ticket: Ticket, message=None, **kwargs) -> None:
    on_ticket_event(event=event, ticket=ticket, message=message)


def on_ticket_event(*, event: str, ticket: Ticket, message: Message | None = None) -> None:
    if ticket.source == Ticket.Source.UPSTREAM and connection.schema_name == PUBLIC():
        _relay_down(event, ticket, message)
        on_operator_ticket_event(event, ticket, message)  # resellers on other software
    elif ticket.escalation == Ticket.Escalation.ESCALATED and connection.schema_name != PUBLIC():
        _relay_up(event, ticket)


def _relay_down(event: str, operator_ticket: Ticket, message: Message | None) -> None:
    """Operator → reseller: answers and status changes become staff-only upstream notes."""
    if event == "status_changed" and operator_ticket.status != Ticket.Status.ON_HOLD:
        return  # awaiting-customer/staff flips follow every reply: nothing to tell
    link = (
        EscalationLink.objects.select_related("reseller")
        .filter(operator_ticket_id=operator_ticket.pk)
        .first()
    )
    if link is None:
        return
    operator = settings.UPLINE_OPERATOR_NAME
    now = timezone.now()
    with schema_context(link.reseller.schema_name):
        reseller_ticket = Ticket.objects.filter(pk=link.reseller_ticket_id).first()
        if reseller_ticket is None:
            return
        if event == "replied" and message is not None and message.kind == Message.Kind.REPLY:
            if not (message.author and message.author.is_instance_staff):
                return  # the reseller's own words coming back: nothing to relay
            helpdesk.ticket_add_upstream_message(
                ticket=reseller_ticket,
                body=message.body,
                author_label=f"{operator} — {message.author.get_short_name()}",
            )
            link.first_operator_reply_at = link.first_operator_reply_at or now
            link.last_operator_reply_at = now
        elif event == "closed":
            helpdesk.ticket_mark_upstream_closed(ticket=reseller_ticket, author_label=operator)
            link.status, link.closed_at = EscalationLink.Status.CLOSED, now
        elif event == "reopened" or (
            # Awaiting-customer/staff flips follow every reply: only "on hold" is news.
            event == "status_changed" and operator_ticket.status == Ticket.Status.ON_HOLD
        ):
            if event == "reopened":
                link.status, link.closed_at = EscalationLink.Status.OPEN, None
            helpdesk.ticket_add_upstream_message(
                ticket=reseller_ticket,
                author_label=operator,
                body=f"{operator} set the upstream ticket to "
                f"“{operator_ticket.get_status_display()}”.",
            )
    link.save()


def _relay_up(event: str, reseller_ticket: Ticket) -> None:
    """Reseller → operator: closing the customer's ticket closes the upstream one too."""
    if event != "closed":
        return
    schema = connection.schema_name
    link = EscalationLink.objects.filter(
        reseller__schema_name=schema,
        reseller_ticket_id=reseller_ticket.pk,
        status=EscalationLink.Status.OPEN,
    ).first()
    if link is None:
        return
    link.status, link.closed_at = EscalationLink.Status.CLOSED, timezone.now()
    link.save(update_fields=["status", "closed_at"])
    with schema_context(PUBLIC()):
        operator_ticket = Ticket.objects.get(pk=link.operator_ticket_id)
        if not operator_ticket.is_closed:
            helpdesk.ticket_close(ticket=operator_ticket, actor=None)
