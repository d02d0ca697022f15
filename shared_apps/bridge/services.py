"""Escalating a reseller's ticket upstream, replying upstream, and relaying the answers back.

Every crossing happens in ONE database transaction: the reseller's ticket (its schema),
the operator's ticket (public schema) and the link row move together or not at all.
The operator sees only what the reseller chose to share; the reseller's customer never
sees upstream traffic (it is stored as staff-only messages in the reseller's ticket).

Two kinds of reseller escalate: those running an Upline instance (`ticket_escalate`, an
EscalationLink) and those on other software (the inbox API, an ExternalEscalation). Both
open the operator's side through `escalation_open` — one active-reseller check, one
escalation price — and both hear back through `relay_to_reseller`, which decides once what
is news to a reseller and then writes an upstream note into the instance or queues a signed
callback.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import TypeVar

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django_tenants.utils import get_public_schema_name, schema_context
from rest_framework import status

from shared_apps.tenancy.models import Reseller
from tenant_apps.billing.models import PendingCharge
from tenant_apps.catalog.models import Product
from tenant_apps.clients.models import Customer
from tenant_apps.helpdesk import services as helpdesk
from tenant_apps.helpdesk.models import Department, Message, Ticket
from tenant_apps.helpdesk.ports import Kind, Origin, TicketEvent
from tenant_apps.helpdesk.rich_text import html_to_text
from tenant_apps.instance.audit import audit_record, event_type
from tenant_apps.instance.deferred import batched
from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.models import IssuerIdentity
from tenant_apps.orders.models import Service

from . import callbacks
from .models import EscalationLink, ExternalEscalation

log = logging.getLogger(__name__)
PUBLIC = get_public_schema_name

ESCALATION_LINK_OPENED = event_type(
    "escalationlink.opened", gettext_noop("Escalation opened upstream")
)
EXTERNAL_ESCALATION_OPENED = event_type(
    "externalescalation.opened", gettext_noop("Escalation opened through the inbox API")
)

#: What one escalation costs a reseller: (amount, currency).
Price = tuple[Decimal, str]
Row = TypeVar("Row", EscalationLink, ExternalEscalation)

# A reseller plan in these states counts for the escalation price.
LIVE_PLAN_STATUSES = (Service.Status.ACTIVE, Service.Status.SUSPENDED)

# Every reply flips the ticket between these two: the reply itself already says so.
REPLY_DRIVEN_STATUSES = frozenset({Ticket.Status.AWAITING_STAFF, Ticket.Status.AWAITING_CUSTOMER})


class EscalationRefused(DomainError):
    code = "escalation_refused"
    status_code = status.HTTP_409_CONFLICT


class ResellerInactive(EscalationRefused):
    """The reseller is suspended or terminated: nothing goes upstream until it is active."""

    code = "reseller_inactive"
    status_code = status.HTTP_403_FORBIDDEN


def reseller_require_active(reseller: Reseller) -> None:
    """Refuse, with the same sentence on every route, a reseller that is not active."""
    if reseller.status != Reseller.Status.ACTIVE:
        raise ResellerInactive(
            _(
                "%(name)s is %(status)s: escalations to %(UPLINE_OPERATOR_NAME)s are not "
                "possible until the account is active."
            )
            % {
                "name": reseller.name,
                "status": reseller.get_status_display().lower(),
                "UPLINE_OPERATOR_NAME": settings.UPLINE_OPERATOR_NAME,
            }
        )


def _reseller_for_schema(schema_name: str, *, with_terms: bool = False) -> Reseller:
    """The reseller whose instance is `schema_name`; `with_terms` also reads, in the same
    query, what an escalation needs of it as the operator's customer (`_TERMS_SQL`)."""
    if with_terms:
        with schema_context(PUBLIC()):  # the operator's customers, not the instance's
            reseller = _reseller_with_terms(schema_name)
    else:
        reseller = Reseller.objects.filter(schema_name=schema_name).first()
    if reseller is None:
        raise EscalationRefused(_("Only a reseller's instance can escalate to its provider."))
    return reseller


def _plan_prices(**customer):
    """Escalation prices of the customer's live reseller plans, highest first (public
    schema); `customer` filters the services (`customer=…`)."""
    return (
        Service.objects.filter(
            **customer,
            status__in=LIVE_PLAN_STATUSES,
            product__is_reseller_plan=True,
            product__escalation_price__gt=0,
        )
        .order_by("-product__escalation_price")
        .values_list("product__escalation_price", flat=True)
    )


# The reseller with itself as the operator's customer (`operator_customer_id`,
# `operator_currency`), the highest escalation price of its live reseller plans
# (`plan_escalation_price`, the rule of `_plan_prices`), the operator's escalation inbox
# (`inbox__<column>`, the rule of `helpdesk.department_escalation_inbox`) and the operator's
# country and currency (`issuer_country`, `issuer_currency`, for a reseller that is not yet
# its customer), in one read.
# Written as SQL because the same read built from nested ORM subqueries cost more to
# compile and plan (about 2 ms) than every other read of an escalation together.
_TERMS_SQL = """
SELECT {reseller_columns}, customer.id AS operator_customer_id,
       customer.currency AS operator_currency, plan.price AS plan_escalation_price,
       issuer.country AS issuer_country, issuer.currency AS issuer_currency,
       {inbox_columns}
FROM {reseller} reseller
LEFT JOIN {customer} customer ON customer.reseller_id = reseller.id
LEFT JOIN LATERAL (SELECT country, currency FROM {identity} ORDER BY id LIMIT 1) issuer ON true
LEFT JOIN LATERAL (
    SELECT * FROM {department} WHERE is_escalation_inbox ORDER BY id LIMIT 1
) inbox ON true
LEFT JOIN LATERAL (
    SELECT product.escalation_price AS price
    FROM {service} service JOIN {product} product ON product.id = service.product_id
    WHERE service.customer_id = customer.id AND service.status IN ({statuses})
      AND product.is_reseller_plan AND product.escalation_price > 0
    ORDER BY product.escalation_price DESC
    LIMIT 1
) plan ON true
WHERE reseller.schema_name = %s
"""


@functools.cache
def _terms_sql() -> str:
    return _TERMS_SQL.format(
        reseller=Reseller._meta.db_table,
        reseller_columns=", ".join(f"reseller.{field.column}" for field in _RESELLER_FIELDS),
        customer=Customer._meta.db_table,  # reseller_id is unique: one row or none
        service=Service._meta.db_table,
        product=Product._meta.db_table,
        statuses=", ".join(f"'{status}'" for status in LIVE_PLAN_STATUSES),
        department=Department._meta.db_table,
        identity=IssuerIdentity._meta.db_table,
        inbox_columns=", ".join(
            f"inbox.{field.column} AS inbox__{field.attname}" for field in _INBOX_FIELDS
        ),
    )


_RESELLER_FIELDS = Reseller._meta.concrete_fields
_INBOX_FIELDS = Department._meta.concrete_fields


def _reseller_with_terms(schema_name: str) -> Reseller | None:
    """`_TERMS_SQL` read into a Reseller carrying the terms as attributes."""
    with connection.cursor() as cursor:
        cursor.execute(_terms_sql(), [schema_name])
        row = cursor.fetchone()
        if row is None:
            return None
        names = [column.name for column in cursor.description]
    count = len(_RESELLER_FIELDS)
    reseller = Reseller.from_db(None, [field.attname for field in _RESELLER_FIELDS], row[:count])
    for name, value in zip(names[count:], row[count:], strict=True):
        setattr(reseller, name, value)
    return reseller


def _escalation_inbox(reseller: Reseller) -> Department:
    """The operator's escalation inbox, as read with the reseller (`_TERMS_SQL`) when it
    exists; else helpdesk's own lookup, which creates it on first use."""
    if getattr(reseller, "inbox__id", None) is None:
        return helpdesk.department_escalation_inbox()
    return Department.from_db(
        None,
        [field.attname for field in _INBOX_FIELDS],
        [getattr(reseller, f"inbox__{field.attname}") for field in _INBOX_FIELDS],
    )


def _operator_customer(reseller: Reseller) -> Customer:
    """The reseller as a customer of the operator (created if the operator has none yet)."""
    terms_read = hasattr(reseller, "operator_customer_id")  # read with `_TERMS_SQL`
    if terms_read and reseller.operator_customer_id is not None:
        # The rest of the row loads if asked for.
        return Customer.from_db(
            None,
            ["id", "currency", "reseller_id"],
            [reseller.operator_customer_id, reseller.operator_currency, reseller.pk],
        )
    customer = None if terms_read else Customer.objects.filter(reseller_id=reseller.pk).first()
    if customer is None:
        if terms_read:
            country, currency = reseller.issuer_country, reseller.issuer_currency
        else:
            identity = IssuerIdentity.objects.first()
            country = identity.country if identity else None
            currency = identity.currency if identity else None
        customer = Customer.objects.create(
            kind=Customer.Kind.COMPANY,
            name=reseller.name,
            company_name=reseller.legal_name,
            email=reseller.contact_email,
            country=country or "FR",
            currency=currency if currency is not None else "EUR",
            reseller_id=reseller.pk,
        )
        if terms_read:
            # The terms now hold for the new customer, who has no plan yet: no second read.
            reseller.operator_customer_id = customer.pk
            reseller.operator_currency = customer.currency
            reseller.plan_escalation_price = None
    return customer


def escalation_price_for(reseller: Reseller, customer: Customer | None = None) -> Price | None:
    """What one escalation costs the reseller — its own price if the operator set one, else
    its reseller plan's — or None when free. `customer` is the reseller as the operator's
    customer, when the caller has it already."""
    with schema_context(PUBLIC()):
        if customer is None:
            customer = Customer.objects.filter(reseller_id=reseller.pk).first()
        if reseller.escalation_price is not None:
            if reseller.escalation_price <= 0:
                return None
            identity = IssuerIdentity.objects.first()
            currency = customer.currency if customer else (identity.currency if identity else "EUR")
            return reseller.escalation_price, currency
        if customer is None:
            return None
        if getattr(reseller, "operator_customer_id", None) == customer.pk:
            price = reseller.plan_escalation_price  # read with the reseller (`_TERMS_SQL`)
        else:
            price = _plan_prices(customer=customer).first()
        return (price, customer.currency) if price is not None else None


def _shared_text(
    ticket: Ticket,
    conversation: list[helpdesk.Said],
    *,
    customer_name: bool,
    customer_email: bool,
    service: bool,
    note: str,
) -> str:
    """What the operator gets: the conversation the customer saw, plus only what was ticked."""
    lines = []
    if note.strip():
        lines += [f"Note from the reseller: {note.strip()}", ""]
    # Read only when something of the customer's is shared.
    customer = ticket.customer if (customer_name or customer_email or service) else None
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
    for said in conversation:
        who = "Staff" if said.by_staff else "Customer"
        lines += [f"— {who}, {said.at:%Y-%m-%d %H:%M}:", html_to_text(said.body), ""]
    return "\n".join(lines).strip()


# --------------------------------------------------------------------------------------
# Opening: one way into the operator's helpdesk for both kinds of reseller


def escalation_open(
    *,
    reseller: Reseller,
    subject: str,
    body: str,
    reference: str,
    actor: str,
    link: Callable[[Ticket, Price | None], Row],
    attachments: Iterable = (),
    current: bool = False,
) -> Row:
    """Open the operator's side of an escalation, in the caller's transaction.

    Refuses a reseller that is not active; files a ticket in the operator's “Reseller
    escalations” department from the reseller as the operator's customer; charges the
    escalation price, if any, on the reseller's next invoice from the operator; writes the
    route's own row through `link(operator_ticket, price)` and records the opening in the
    operator's audit trail. `reference` names the reseller's ticket (“#12”, “WHMCS-1042”);
    `actor` is a label (the reseller's people are not users of the operator's instance).
    `current` says the caller loaded `reseller` inside this transaction (no second read).
    """
    with schema_context(PUBLIC()):
        if not current:
            reseller = Reseller.objects.get(pk=reseller.pk)  # its status now, not when loaded
        reseller_require_active(reseller)
        customer = _operator_customer(reseller)
        operator_ticket = helpdesk.ticket_open(
            subject=f"[{reseller.name}] {subject}" if subject else "",
            body=body,
            department=_escalation_inbox(reseller),
            customer=customer,
            source=Ticket.Source.UPSTREAM,
            attachments=attachments,
            actor=actor,
        )
        price = escalation_price_for(reseller, customer)
        if price is not None:
            # Billed on the reseller's next invoice from the operator (renewal run).
            PendingCharge.objects.create(
                customer=customer,
                amount=price[0],
                currency=price[1],
                description=f"Upstream support: {reseller.name} ticket {reference} "
                f"(escalation #{operator_ticket.pk})",
            )
        row = link(operator_ticket, price)
        audit_record(
            ESCALATION_LINK_OPENED
            if isinstance(row, EscalationLink)
            else EXTERNAL_ESCALATION_OPENED,
            actor=actor,
            obj=row,
            customer_id=customer.pk,
            detail={
                "reseller": reseller.slug,
                "reference": reference,
                "operator_ticket": operator_ticket.pk,
                "price": f"{price[0]} {price[1]}" if price else None,
            },
        )
    return row


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
    actor=None,
) -> EscalationLink:
    """Open a linked ticket in the operator's helpdesk, in one transaction.

    `escalated_by` names who escalated (kept on the link); `actor`, a user of the reseller's
    instance, is recorded in that instance's audit trail (defaults to `escalated_by`).
    """
    attachment_ids = [int(a) for a in attachment_ids]
    # Events of both schemas are written once each, when the crossing is complete.
    with transaction.atomic(), batched():
        reseller = _reseller_for_schema(reseller_schema, with_terms=True)
        with schema_context(reseller_schema):
            ticket, conversation = helpdesk.ticket_lock_with_conversation(ticket_id)
            if ticket.escalation == Ticket.Escalation.ESCALATED:
                raise helpdesk.AlreadyEscalated(
                    _("Ticket %(number)s is already escalated upstream.")
                    % {"number": ticket.number}
                )
            if ticket.is_closed:
                raise EscalationRefused(
                    _("Ticket %(number)s is closed: reopen it before escalating.")
                    % {"number": ticket.number}
                )
            body = _shared_text(
                ticket,
                conversation,
                customer_name=share_customer_name,
                customer_email=share_customer_email,
                service=share_service,
                note=note,
            )
            subject = ticket.subject
            opened_at = ticket.created_at
            files = []
            shared = (
                ticket_attachments(ticket).filter(pk__in=attachment_ids) if attachment_ids else ()
            )
            for attachment in shared:
                with attachment.file.open("rb") as handle:
                    files.append(
                        SimpleUploadedFile(
                            attachment.original_name, handle.read(), attachment.content_type
                        )
                    )
            if len(files) != len(set(attachment_ids)):
                raise EscalationRefused(_("Share only attachments of this ticket's conversation."))

        def link(operator_ticket: Ticket, price: Price | None) -> EscalationLink:
            return EscalationLink.objects.create(
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

        created = escalation_open(
            reseller=reseller,
            subject=subject,
            body=body or subject,
            reference=f"#{ticket_id}",
            actor=f"{escalated_by} ({reseller.name})",
            link=link,
            attachments=files,
            current=True,
        )
        with schema_context(reseller_schema):
            helpdesk.ticket_mark_escalated(
                ticket=ticket,
                already_locked=True,  # read for update above, in this transaction
                link_id=created.pk,
                actor=actor if actor is not None else escalated_by,
                detail={
                    "operator_ticket": created.operator_ticket_id,
                    "price": created.shared.get("price"),
                },
                note=f"Escalated to {settings.UPLINE_OPERATOR_NAME} "
                f"as ticket #{created.operator_ticket_id}."
                + (f"\n\nNote: {note.strip()}" if note.strip() else ""),
                note_author=escalated_by,
            )
    return created


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
        reseller_require_active(reseller)
        link = (
            EscalationLink.objects.select_for_update()
            .filter(reseller=reseller, reseller_ticket_id=ticket_id)
            .first()
        )
        if link is None:
            raise EscalationRefused(_("This ticket was not escalated upstream."))
        if link.status == EscalationLink.Status.CLOSED:
            raise EscalationRefused(
                _("The upstream ticket is closed; escalate again from a new ticket.")
            )
        with schema_context(reseller_schema):
            helpdesk.ticket_record_upstream_reply(
                ticket=Ticket.objects.get(pk=ticket_id), author=author, body=body
            )
            who = getattr(author, "email", "") or reseller.name
        with schema_context(PUBLIC()):
            operator_ticket = Ticket.objects.get(pk=link.operator_ticket_id)
            # The reseller's side of the operator's ticket, written by us: origin downstream.
            helpdesk.ticket_reply(
                ticket=operator_ticket,
                author=None,
                body=body,
                actor=f"{who} ({reseller.name})",
                origin=Origin.DOWNSTREAM,
            )
        link.last_reseller_reply_at = timezone.now()
        link.save(update_fields=["last_reseller_reply_at"])
    return link


# --------------------------------------------------------------------------------------
# Relay: the helpdesk's `ticket_changed` signal, inside the transaction of each change.


def on_ticket_changed(
    sender, *, event: TicketEvent, ticket: Ticket, message: Message | None = None, **kwargs
) -> None:
    """The bridge's one subscriber: operator-side changes go down to the reseller,
    reseller-side closes go up to the operator. What the bridge wrote itself (origin
    upstream/downstream) is never relayed back."""
    if event.by_bridge:
        return
    if event.schema_name == PUBLIC():
        if ticket.source == Ticket.Source.UPSTREAM:
            relay_to_reseller(event, ticket, message)
    elif ticket.escalation == Ticket.Escalation.ESCALATED:
        relay_to_operator(event, ticket)


def news_for_reseller(event: TicketEvent) -> Kind | None:
    """The one rule for what a reseller hears about the operator's ticket (None: nothing).

    A staff reply is news; internal notes, the reseller's own replies and the awaiting-staff/
    customer flips that follow every reply are not; putting on hold, closing and reopening
    are.
    """
    if event.by_bridge:
        return None
    if event.kind == Kind.REPLIED:
        return Kind.REPLIED if event.origin == Origin.STAFF else None
    if event.kind in (Kind.CLOSED, Kind.REOPENED):
        return event.kind
    if event.kind == Kind.STATUS_CHANGED and event.status not in REPLY_DRIVEN_STATUSES:
        return Kind.STATUS_CHANGED
    return None


def relay_to_reseller(event: TicketEvent, ticket: Ticket, message: Message | None) -> None:
    """Operator → reseller: tell the reseller what is news, on the route it escalated by —
    an upstream note in its Upline instance, or a signed callback to its own software."""
    news = news_for_reseller(event)
    if news is None:
        return
    link = _track_link(ticket.pk, news, message)
    if link is not None:
        _deliver_to_instance(link, news, ticket, message)
        return
    escalation = ExternalEscalation.objects.filter(operator_ticket_id=ticket.pk).first()
    if escalation is not None:
        _track(escalation, news, message)
        escalation.save(update_fields=["last_operator_reply_at", "status", "closed_at"])
        callbacks.callback_queue(escalation=escalation, ticket=ticket, news=news, message=message)


def _track(row: ExternalEscalation, news: Kind, message: Message | None):
    """Keep the escalation row's state and timings in step with the operator's ticket
    (`_track_link` does the same for an instance's link, in SQL)."""
    now = timezone.now()
    if news == Kind.REPLIED and message is not None:
        row.last_operator_reply_at = message.created_at
    elif news == Kind.CLOSED:
        row.status, row.closed_at = row.Status.CLOSED, now
    elif news == Kind.REOPENED:
        row.status, row.closed_at = row.Status.OPEN, None


def _track_link(
    operator_ticket_id: int, news: Kind, message: Message | None
) -> EscalationLink | None:
    """`_track` for an instance's link, as one UPDATE that also returns the link and its
    reseller's schema (`reseller_schema`): a relay is on every operator reply, so it reads
    and writes the row in one round trip. None when the ticket has no such link."""
    table, resellers = EscalationLink._meta.db_table, Reseller._meta.db_table
    assignments, params = [], {"ticket": operator_ticket_id}
    if news == Kind.REPLIED and message is not None:
        assignments = [
            "first_operator_reply_at = COALESCE(l.first_operator_reply_at, %(at)s)",
            "last_operator_reply_at = %(at)s",
        ]
        params["at"] = message.created_at
    elif news == Kind.CLOSED:
        assignments = ["status = %(status)s", "closed_at = %(now)s"]
        params.update(status=EscalationLink.Status.CLOSED, now=timezone.now())
    elif news == Kind.REOPENED:
        assignments = ["status = %(status)s", "closed_at = NULL"]
        params["status"] = EscalationLink.Status.OPEN
    else:
        assignments = ["status = l.status"]  # nothing to track: read it under the row lock
    rows = list(
        EscalationLink.objects.raw(
            f"UPDATE {table} l SET {', '.join(assignments)} FROM {resellers} r "
            f"WHERE l.operator_ticket_id = %(ticket)s AND r.id = l.reseller_id "
            f"RETURNING l.*, r.schema_name AS reseller_schema",
            params,
        )
    )
    return rows[0] if rows else None


def _deliver_to_instance(
    link: EscalationLink, news: Kind, operator_ticket: Ticket, message: Message | None
) -> None:
    """Answers and status changes become staff-only upstream notes in the reseller's ticket
    (`link` as `_track_link` returns it, its state already kept)."""
    operator = settings.UPLINE_OPERATOR_NAME
    with schema_context(link.reseller_schema):
        # Only the id: the helpdesk service reads (and locks) the row itself, and adds
        # nothing when the reseller's staff deleted the ticket.
        reseller_ticket = Ticket(pk=link.reseller_ticket_id)
        if news == Kind.REPLIED and message is not None:
            helpdesk.ticket_add_upstream_message(
                ticket=reseller_ticket,
                body=message.body,
                author_label=callbacks.staff_label(message),
            )
        elif news == Kind.CLOSED:
            helpdesk.ticket_mark_upstream_closed(ticket=reseller_ticket, author_label=operator)
        else:
            helpdesk.ticket_add_upstream_message(
                ticket=reseller_ticket,
                author_label=operator,
                body=f"{operator} set the upstream ticket to "
                f"“{operator_ticket.get_status_display()}”.",
            )


def relay_to_operator(event: TicketEvent, reseller_ticket: Ticket) -> None:
    """Reseller → operator: closing the customer's ticket closes the upstream one too."""
    if event.kind != Kind.CLOSED:
        return
    link = (
        EscalationLink.objects.select_related("reseller")
        .filter(
            reseller__schema_name=event.schema_name,
            reseller_ticket_id=reseller_ticket.pk,
            status=EscalationLink.Status.OPEN,
        )
        .first()
    )
    if link is None:
        return
    link.status, link.closed_at = EscalationLink.Status.CLOSED, timezone.now()
    link.save(update_fields=["status", "closed_at"])
    with schema_context(PUBLIC()):
        operator_ticket = Ticket.objects.get(pk=link.operator_ticket_id)
        if not operator_ticket.is_closed:
            helpdesk.ticket_close(
                ticket=operator_ticket, actor=link.reseller.name, origin=Origin.DOWNSTREAM
            )
    # The escalation is over on both sides: the reseller's staff see it as they would had
    # the operator closed it (our close upstream is not relayed back, by its origin).
    helpdesk.ticket_mark_upstream_closed(
        ticket=reseller_ticket, author_label=settings.UPLINE_OPERATOR_NAME
    )
