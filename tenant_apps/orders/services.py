"""Every write to orders and services: ordering, activation, lifecycle, changes, renewals.

Capacity is taken from the operator's allocation when a service becomes active and given
back when it ends (through the `ports.capacity_*` ports, under the allocation row lock), so
a reseller instance can never hold more than it was allocated. Every status change goes
through the model's declared `pipeline` (`instance.pipelines.transition`), is recorded in the
instance's audit trail and announced on `ports.service_changed` inside its transaction.

Lock order (the instance's one order for money writes, `tenant_apps.instance.locking`):
    Order → Service → platform Allocation (the capacity ports) → Customer → Invoice →
    PendingCharge → NumberSequence.
So accepting an order locks the order, starts its services (taking capacity) and only then
issues the invoice, whose number is taken last; a plan change locks the service, moves its
capacity, then issues the prorated invoice or credit note; a settled invoice locks the
services it paid for (in id order) and starts them, taking capacity, with no invoice lock.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from tenant_apps.billing import selectors as billing_selectors
from tenant_apps.billing import services as billing
from tenant_apps.billing.models import Invoice, InvoiceLine
from tenant_apps.catalog.models import CYCLE_MONTHS, BillingCycle, Price, Product
from tenant_apps.clients.models import Customer
from tenant_apps.instance import audit, clock
from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.money import round_money
from tenant_apps.instance.pipelines import transition
from tenant_apps.referrals.models import Referer

from . import ports
from .models import InvalidOrderTransition, InvalidServiceTransition, Order, OrderItem, Service

log = logging.getLogger(__name__)

__all__ = ["InvalidOrderTransition", "InvalidServiceTransition", "OrderError"]

ORDER_PLACED = audit.event_type("order.placed", "Order placed")
ORDER_ACCEPTED = audit.event_type("order.accepted", "Order accepted")
ORDER_CANCELLED = audit.event_type("order.cancelled", "Order cancelled")
SERVICE_STATUS_CHANGED = audit.event_type("service.status_changed", "Service status changed")
SERVICE_PLAN_CHANGED = audit.event_type("service.plan_changed", "Service plan changed")
SERVICE_PERIOD_REBILLED = audit.event_type(
    "service.period_rebilled", "Service period to be billed again"
)
SERVICE_PERIOD_WAIVED = audit.event_type("service.period_waived", "Service period waived")
SERVICE_CANCEL_SCHEDULED = audit.event_type(
    "service.cancel_scheduled", "Service set to cancel at the end of its term"
)


class OrderPaid(DomainError):
    """The order was paid: undoing it is a refund, not a cancellation."""

    code = "order_paid"
    status_code = 409


class OrderError(DomainError):
    code = "order_error"


# --------------------------------------------------------------------------------------
# Capacity and announcements — tenant apps never import shared apps (see ports.py).


def _demands(service: Service, factor: int = 1) -> dict[str, int]:
    return {
        code: int(amount) * service.quantity * factor
        for code, amount in (service.resources or {}).items()
        if int(amount) > 0
    }


def _quota_reserve(demands: Mapping[str, int]) -> None:
    if demands:
        ports.capacity_reserve(schema_name=connection.schema_name, demands=demands)


def _quota_release(demands: Mapping[str, int]) -> None:
    if demands:
        ports.capacity_release(schema_name=connection.schema_name, demands=demands)


def _hook(event: str, service: Service) -> None:
    ports.service_changed.send(sender=Service, event=event, service=service)


# --------------------------------------------------------------------------------------
# Periods


def period_end(start: datetime.date, cycle: str) -> datetime.date:
    """Last day of the period that starts on `start` (one-time: the same day)."""
    months = CYCLE_MONTHS[BillingCycle(cycle)]
    if not months:
        return start
    return start + relativedelta(months=months) - datetime.timedelta(days=1)


def next_period_start(start: datetime.date, cycle: str) -> datetime.date:
    return period_end(start, cycle) + datetime.timedelta(days=1)


def current_period_start(service: Service, *, today: datetime.date) -> datetime.date:
    """First day of the period running on `today` (the one that ends the day before the
    service is next due), on the real period bounds: the invoiced line's own start when
    there is one, else counted forward from an earlier start, so month ends stay right
    (Jan 31 → Feb 27 is 28 days, not 31)."""
    line = (
        InvoiceLine.objects.filter(
            service=service,
            kind=InvoiceLine.Kind.SERVICE,
            period_start__lte=today,
            period_end__gte=today,
        )
        .exclude(invoice__status__in=[Invoice.Status.DRAFT, Invoice.Status.VOID])
        .order_by("-period_start")
        .first()
    )
    if line is not None and line.period_start:
        return line.period_start
    months = CYCLE_MONTHS[BillingCycle(service.cycle)]
    return service.next_due_date - relativedelta(months=months)


def _describe(service: Service, start: datetime.date, end: datetime.date) -> str:
    label = f" — {service.label}" if service.label else ""
    quantity = f"{service.quantity} × " if service.quantity > 1 else ""
    return f"{quantity}{service.product.name}{label} ({start:%Y-%m-%d} to {end:%Y-%m-%d})"


def _service_line(service: Service, start: datetime.date) -> billing.LineSpec:
    end = period_end(start, service.cycle)
    return billing.LineSpec(
        description=_describe(service, start, end),
        unit_price=service.recurring_amount,
        quantity=Decimal(service.quantity),
        tax_class_code=service.product.tax_class.code,
        kind=InvoiceLine.Kind.SERVICE,
        service_id=service.pk,
        period_start=start,
        period_end=end,
    )


# --------------------------------------------------------------------------------------
# Ordering


@dataclass
class ItemRequest:
    product: Product
    cycle: str
    quantity: int = 1
    label: str = ""
    addons: tuple = ()


def _price(product: Product, currency: str, cycle: str) -> Price:
    price = Price.objects.filter(product=product, currency=currency, cycle=cycle).first()
    if price is None:
        raise ValidationError(
            {
                "cycle": [
                    f"{product.name} has no {BillingCycle(cycle).label.lower()} price "
                    f"in {currency}."
                ]
            }
        )
    return price


def _parse_item(raw: Mapping | ItemRequest) -> ItemRequest:
    if isinstance(raw, ItemRequest):
        return raw
    product = raw.get("product")
    if not isinstance(product, Product):
        product = Product.objects.filter(pk=product).first()
    if product is None:
        raise ValidationError({"product": ["Choose a product from the catalog."]})
    cycle = raw.get("cycle") or ""
    if cycle not in BillingCycle.values:
        raise ValidationError({"cycle": [f"“{cycle}” is not a billing cycle."]})
    try:
        quantity = int(raw.get("quantity", 1))
    except (TypeError, ValueError) as exc:
        raise ValidationError({"quantity": ["The quantity is a whole number."]}) from exc
    return ItemRequest(
        product=product,
        cycle=cycle,
        quantity=quantity,
        label=str(raw.get("label", ""))[:200],
        addons=tuple(raw.get("addons", ())),
    )


@transaction.atomic
def order_place(
    *,
    customer: Customer,
    items: Iterable[Mapping | ItemRequest],
    source: str = Order.Source.STAFF,
    referer: Referer | None = None,
    referer_source: str = "",
    created_by=None,
    notes: str = "",
    actor=None,
) -> Order:
    """Record an order at today's catalog prices; nothing is provisioned until it is accepted.

    `actor` defaults to `created_by` (the user placing the order on a screen).
    """
    if customer.status != Customer.Status.ACTIVE:
        raise OrderError(f"{customer} is closed and cannot order.")
    requests = [_parse_item(item) for item in items]
    if not requests:
        raise ValidationError({"items": ["Choose at least one product."]})
    if referer is not None and not referer.is_active:
        raise ValidationError(
            {"referer": [f"The referer code “{referer.code}” is no longer active."]}
        )
    order = Order.objects.create(
        customer=customer,
        source=source,
        referer=referer,
        referer_source=referer_source if referer else "",
        currency=customer.currency,
        created_by=created_by,
        notes=notes,
    )
    lines = []
    for request in requests:
        if request.quantity < 1:
            raise ValidationError({"quantity": ["The quantity must be at least 1."]})
        if not request.product.is_active:
            raise ValidationError({"product": [f"{request.product.name} is no longer sold."]})
        if request.product.kind != Product.Kind.PLAN:
            raise ValidationError(
                {"product": [f"{request.product.name} is an add-on: order it with a plan."]}
            )
        ports.order_item_checked.send(
            sender=Product, product=request.product, label=request.label, customer=customer
        )
        price = _price(request.product, customer.currency, request.cycle)
        parent = OrderItem.objects.create(
            order=order,
            product=request.product,
            cycle=request.cycle,
            quantity=request.quantity,
            unit_price=price.amount,
            setup_fee=price.setup_fee,
            label=request.label,
        )
        lines.append(f"{request.quantity} × {request.product.code} ({request.cycle})")
        allowed = set(request.product.addons.values_list("pk", flat=True))
        for raw_addon in request.addons:
            addon = (
                raw_addon
                if isinstance(raw_addon, Product)
                else Product.objects.filter(pk=raw_addon).first()
            )
            if addon is None or addon.pk not in allowed or not addon.is_active:
                raise ValidationError(
                    {"addons": [f"That add-on is not available with {request.product.name}."]}
                )
            addon_price = _price(addon, customer.currency, request.cycle)
            OrderItem.objects.create(
                order=order,
                product=addon,
                cycle=request.cycle,
                quantity=request.quantity,
                unit_price=addon_price.amount,
                setup_fee=addon_price.setup_fee,
                parent=parent,
            )
            lines.append(f"{request.quantity} × {addon.code} ({request.cycle}, add-on)")
    audit.audit_record(
        ORDER_PLACED,
        actor=actor if actor is not None else created_by,
        obj=order,
        detail={
            "source": source,
            "items": lines,
            "referer": referer.code if referer else "",
            "currency": order.currency,
        },
    )
    return order


@transaction.atomic
def order_accept(
    *, order: Order, activate: bool = True, today: datetime.date | None = None, actor=None
) -> Invoice:
    """Accept an order: create its services and issue the first invoice.

    With `activate` (staff orders) the services start at once, within quota; otherwise
    (portal orders) they start when the first invoice is paid. Capacity is taken before the
    invoice takes its number (the lock order in the module docstring), so a refusal for
    quota never waits on, nor holds, the numbering counter.
    """
    today = today or clock.today()
    locked = Order.objects.select_for_update().select_related("customer").get(pk=order.pk)
    before = transition(locked, Order.Status.ACCEPTED, noun=f"Order #{locked.pk}")
    services, lines = [], []
    by_item: dict[int, Service] = {}
    # Plans before their add-ons, so each add-on's service can point at its plan's.
    items = locked.items.select_related("product__tax_class").order_by(
        F("parent_id").asc(nulls_first=True), "id"
    )
    for item in items:
        service = Service.objects.create(
            customer=locked.customer,
            product=item.product,
            order_item=item,
            parent=by_item.get(item.parent_id),
            label=item.label,
            cycle=item.cycle,
            quantity=item.quantity,
            currency=locked.currency,
            recurring_amount=item.unit_price,
            resources=item.product.resources or {},
            next_due_date=today,
            invoiced_period_start=today,
        )
        by_item[item.pk] = service
        services.append(service)
        if item.setup_fee > 0:
            lines.append(
                billing.LineSpec(
                    description=f"Setup: {item.product.name}",
                    unit_price=item.setup_fee,
                    quantity=Decimal(item.quantity),
                    tax_class_code=item.product.tax_class.code,
                    kind=InvoiceLine.Kind.SETUP,
                    service_id=service.pk,
                )
            )
        lines.append(_service_line(service, today))
    locked.accepted_at = timezone.now()
    locked.save(update_fields=["status", "accepted_at"])
    if activate:
        # Service → Allocation before Invoice → NumberSequence.
        for service in services:
            service_activate(service=service, today=today, actor=actor)
    invoice = billing.invoice_create_draft(
        customer=locked.customer, lines=lines, currency=locked.currency, actor=actor
    )
    invoice = billing.invoice_issue(invoice=invoice, issue_date=today, actor=actor)
    audit.audit_record(
        ORDER_ACCEPTED,
        actor=actor,
        obj=locked,
        changes={"status": [before, locked.status]},
        detail={
            "invoice": invoice.number,
            "services": [service.pk for service in services],
            "activated": activate,
        },
    )
    return invoice


@transaction.atomic
def order_cancel(*, order: Order, actor=None) -> Order:
    """Cancel an order. A pending one simply stops. An accepted one that nobody paid for is
    undone in one go: its services are cancelled (capacity given back) and each unpaid
    invoice is credited in full — a credit note, the document EU rules ask for, never a
    void — so the invoices read "credited" and nothing starts. Once anything was paid the
    order is refused (refund first).

    Lock order: the order, its services, then (credit notes) customer, invoice, numbers.
    """
    locked = Order.objects.select_for_update().get(pk=order.pk)
    Order.pipeline.check(locked.status, Order.Status.CANCELLED, noun=f"Order #{locked.pk}")
    credited = []
    if locked.status == Order.Status.ACCEPTED:
        invoices = list(
            Invoice.objects.filter(
                kind=Invoice.Kind.INVOICE, lines__service__order_item__order=locked
            )
            .exclude(
                status__in=[Invoice.Status.DRAFT, Invoice.Status.VOID, Invoice.Status.CREDITED]
            )
            .distinct()
            .order_by("id")
        )
        paid = [invoice for invoice in invoices if invoice.amount_paid > 0]
        if paid:
            raise OrderPaid(
                f"Order #{locked.pk} was paid (invoice {paid[0]}): refund the payment before "
                "cancelling the order."
            )
        for service in Service.objects.filter(order_item__order=locked).order_by("pk"):
            if service.status in (Service.Status.PENDING, *Service.HOLDS_CAPACITY):
                service_transition(
                    service=service,
                    to=Service.Status.CANCELLED,
                    reason=f"Order #{locked.pk} cancelled",
                    actor=actor,
                )
        for invoice in invoices:
            note = billing.credit_note_create(
                invoice=invoice, reason=f"Order #{locked.pk} cancelled", actor=actor
            )
            credited.append(note.number)
    before = transition(locked, Order.Status.CANCELLED, noun=f"Order #{locked.pk}")
    locked.save(update_fields=["status"])
    audit.audit_record(
        ORDER_CANCELLED,
        actor=actor,
        obj=locked,
        changes={"status": [before, locked.status]},
        detail={"credit_notes": credited} if credited else None,
    )
    return locked


# --------------------------------------------------------------------------------------
# Service lifecycle — `Service.pipeline` says which moves are legal; one function moves them.

_ANNOUNCED_AS = {
    (Service.Status.PENDING, Service.Status.ACTIVE): "activated",
    (Service.Status.SUSPENDED, Service.Status.ACTIVE): "resumed",
}


def service_transition(
    *, service: Service, to: str, reason: str = "", nonpayment: bool = False, actor=None
) -> Service:
    """Move a service along its pipeline, taking or giving back capacity as it starts or ends.

    An illegal move raises `InvalidServiceTransition` (409 in the API) and changes nothing.
    """
    with transaction.atomic():
        locked = Service.objects.select_for_update().select_related("product").get(pk=service.pk)
        before = transition(locked, to)
        now = timezone.now()
        if to == Service.Status.ACTIVE and before == Service.Status.PENDING:
            _quota_reserve(_demands(locked))
            locked.activated_at = now
        if before in Service.HOLDS_CAPACITY and to not in Service.HOLDS_CAPACITY:
            _quota_release(_demands(locked))
            locked.ended_at = now
        if to == Service.Status.SUSPENDED:
            locked.suspended_at = now
            locked.suspended_for_nonpayment = nonpayment
        if to == Service.Status.ACTIVE:
            locked.suspended_at = None
            locked.suspended_for_nonpayment = False
        locked.status_reason = reason[:300]
        locked.save()
        detail: dict = {"reason": locked.status_reason} if locked.status_reason else {}
        if to == Service.Status.SUSPENDED and nonpayment:
            detail["nonpayment"] = True
        audit.audit_record(
            SERVICE_STATUS_CHANGED,
            actor=actor,
            obj=locked,
            changes={"status": [before, to]},
            detail=detail,
        )
        _hook(_ANNOUNCED_AS.get((before, to), to), locked)
    return locked


def service_activate(
    *, service: Service, today: datetime.date | None = None, actor=None
) -> Service:
    """Start a pending service within quota; its next renewal is due one period later."""
    today = today or clock.today()
    with transaction.atomic():
        activated = service_transition(service=service, to=Service.Status.ACTIVE, actor=actor)
        start = activated.invoiced_period_start or today
        if activated.cycle == BillingCycle.ONE_TIME:
            activated.next_due_date = None
        else:
            activated.next_due_date = next_period_start(start, activated.cycle)
        activated.save(update_fields=["next_due_date"])
    return activated


def service_suspend(
    *, service: Service, reason: str = "", nonpayment: bool = False, actor=None
) -> Service:
    return service_transition(
        service=service,
        to=Service.Status.SUSPENDED,
        reason=reason,
        nonpayment=nonpayment,
        actor=actor,
    )


def service_unsuspend(*, service: Service, actor=None) -> Service:
    return service_transition(service=service, to=Service.Status.ACTIVE, actor=actor)


def service_terminate(*, service: Service, reason: str = "", actor=None) -> Service:
    return service_transition(
        service=service, to=Service.Status.TERMINATED, reason=reason, actor=actor
    )


@transaction.atomic
def service_cancel(
    *, service: Service, immediately: bool = False, reason: str = "", actor=None
) -> Service:
    """Cancel now, or at the end of the paid period (the renewal run then ends it)."""
    if immediately:
        return service_transition(
            service=service, to=Service.Status.CANCELLED, reason=reason, actor=actor
        )
    locked = Service.objects.select_for_update().get(pk=service.pk)
    if locked.status == Service.Status.PENDING:
        raise InvalidServiceTransition(
            "The service has not started yet: cancel it now instead of at the end of its term."
        )
    if locked.status not in Service.HOLDS_CAPACITY:
        raise InvalidServiceTransition(
            f"The service is {locked.get_status_display().lower()} already; nothing to cancel."
        )
    before = locked.cancel_at_period_end
    locked.cancel_at_period_end = True
    locked.status_reason = reason[:300]
    locked.save(update_fields=["cancel_at_period_end", "status_reason"])
    audit.audit_record(
        SERVICE_CANCEL_SCHEDULED,
        actor=actor,
        obj=locked,
        changes={"cancel_at_period_end": [before, True]},
        detail={
            "ends_on": locked.next_due_date,
            **({"reason": locked.status_reason} if locked.status_reason else {}),
        },
    )
    return locked


@transaction.atomic
def service_change_plan(
    *, service: Service, product: Product, today: datetime.date | None = None, actor=None
) -> Invoice | None:
    """Upgrade or downgrade to another plan for the rest of the current period, prorated by day.

    An upgrade is invoiced now (the difference for the days left); a downgrade is given back
    as a credit note on the invoice of the current period. Capacity follows the new plan and
    moves first: Service → Allocation, then the invoice or credit note and its number.
    """
    today = today or clock.today()
    locked = (
        Service.objects.select_for_update().select_related("product", "customer").get(pk=service.pk)
    )
    if locked.status != Service.Status.ACTIVE:
        raise InvalidServiceTransition("Only active services can change plan.")
    if product.pk == locked.product_id:
        raise ValidationError({"product": ["That is already the service's plan."]})
    if not product.is_active or product.kind != Product.Kind.PLAN:
        raise ValidationError({"product": [f"{product.name} cannot be ordered."]})
    new_price = _price(product, locked.currency, locked.cycle)
    old_demands = _demands(locked)
    new_demands = {
        code: int(v) * locked.quantity
        for code, v in (product.resources or {}).items()
        if int(v) > 0
    }
    more = {
        c: new_demands.get(c, 0) - old_demands.get(c, 0)
        for c in set(old_demands) | set(new_demands)
    }
    _quota_reserve({c: v for c, v in more.items() if v > 0})
    _quota_release({c: -v for c, v in more.items() if v < 0})
    document = None
    if (
        locked.next_due_date
        and locked.cycle != BillingCycle.ONE_TIME
        and locked.next_due_date > today
    ):
        start = current_period_start(locked, today=today)
        total_days = (locked.next_due_date - start).days
        left_days = (locked.next_due_date - today).days
        fraction = Decimal(left_days) / Decimal(total_days)
        difference = round_money(
            (new_price.amount - locked.recurring_amount) * fraction, locked.currency
        )
        last_day = locked.next_due_date - datetime.timedelta(days=1)
        if difference > 0:
            spec = billing.LineSpec(
                description=f"Upgrade to {product.name}: {left_days} of {total_days} days "
                f"({today:%Y-%m-%d} to {last_day:%Y-%m-%d})",
                unit_price=difference,
                quantity=Decimal(locked.quantity),
                tax_class_code=product.tax_class.code,
                kind=InvoiceLine.Kind.ADJUSTMENT,
                service_id=locked.pk,
                # The days it pays for: a later downgrade credits back from this line too.
                period_start=today,
                period_end=last_day,
            )
            document = billing.invoice_create_draft(
                customer=locked.customer, lines=[spec], currency=locked.currency, actor=actor
            )
            document = billing.invoice_issue(invoice=document, issue_date=today, actor=actor)
        elif difference < 0:
            # Credit exactly the unused share, by value, from what was paid for these days:
            # the latest upgrade first, then the period's own line (never a rounded quantity).
            to_credit = -difference * locked.quantity
            paid_lines = (
                InvoiceLine.objects.filter(
                    service=locked,
                    kind__in=[InvoiceLine.Kind.SERVICE, InvoiceLine.Kind.ADJUSTMENT],
                    period_start__lte=today,
                    period_end__gte=today,
                    invoice__kind=Invoice.Kind.INVOICE,
                )
                .exclude(
                    invoice__status__in=[
                        Invoice.Status.DRAFT,
                        Invoice.Status.VOID,
                        Invoice.Status.CREDITED,
                    ]
                )
                .select_related("invoice")
                .order_by("-invoice__issued_at", "-id")
            )
            for paid_line in paid_lines:
                take = min(to_credit, billing_selectors.line_credit_left(paid_line))
                if take <= 0:
                    continue
                note = billing.credit_note_create(
                    invoice=paid_line.invoice,
                    reason=f"Downgrade to {product.name}",
                    lines=[{"line_id": paid_line.pk, "amount": take}],
                    issue_date=today,
                    actor=actor,
                )
                document = document or note
                to_credit -= take
                if to_credit <= 0:
                    break
    fields = ["product", "recurring_amount", "resources"]
    before = audit.snapshot(locked, fields)
    old_name = locked.product.name
    locked.product = product
    locked.recurring_amount = new_price.amount
    locked.resources = product.resources or {}
    locked.save(update_fields=fields)
    audit.audit_record(
        SERVICE_PLAN_CHANGED,
        actor=actor,
        obj=locked,
        changes=audit.diff(before, audit.snapshot(locked, fields)),
        detail={
            "from": old_name,
            "to": product.name,
            "document": document.number if document is not None else "",
        },
    )
    _hook("changed", locked)
    return document


# --------------------------------------------------------------------------------------
# Reacting to payments


def _lock_services_of(lines: list[InvoiceLine]) -> dict[int, Service]:
    """The services these lines bill, locked in id order (two callers never deadlock)."""
    return {
        service.pk: service
        for service in Service.objects.select_for_update()
        .filter(pk__in={line.service_id for line in lines})
        .order_by("pk")
    }


def _extend_paid_period(service: Service, line: InvoiceLine) -> tuple[bool, datetime.date | None]:
    """Move the service's next due date past the line's period, if it is not already;
    returns whether it moved and the date it had."""
    before = service.next_due_date
    if not line.period_end or service.cycle == BillingCycle.ONE_TIME:
        return False, before
    paid_until = line.period_end + datetime.timedelta(days=1)
    if before is not None and paid_until <= before:
        return False, before
    service.next_due_date = paid_until
    service.save(update_fields=["next_due_date"])
    return True, before


def _still_overdue(service: Service, *, paid_invoice_id: int) -> bool:
    """Does another unpaid invoice past its due date still bill this service?"""
    today = clock.today()
    return (
        Invoice.objects.filter(
            lines__service=service,
            kind=Invoice.Kind.INVOICE,
            status__in=[Invoice.Status.ISSUED, Invoice.Status.PARTIALLY_PAID],
            due_date__lt=today,
        )
        .exclude(pk=paid_invoice_id)
        .exists()
    )


def services_on_invoice_settled(*, invoice_id: int, actor=None) -> None:
    """A settled invoice starts pending services, extends paid periods and lifts suspensions.

    The services are locked in id order before any of them moves (two settlements touching
    the same services wait for each other instead of deadlocking); no invoice is locked.
    """
    with transaction.atomic():
        # Every line that names a service counts for lifting a suspension (an upgrade's
        # adjustment line too: its unpaid invoice is what suspended the service); only
        # service lines start services and extend paid periods.
        lines = list(
            InvoiceLine.objects.filter(invoice_id=invoice_id, service__isnull=False).order_by("id")
        )
        locked = _lock_services_of(lines)
        for line in lines:
            service = locked[line.service_id]
            if line.kind == InvoiceLine.Kind.SERVICE:
                if service.status == Service.Status.PENDING:
                    locked[service.pk] = service_activate(
                        service=service, today=line.period_start, actor=actor
                    )
                    continue
                _extend_paid_period(service, line)
            if (
                service.status == Service.Status.SUSPENDED
                and service.suspended_for_nonpayment
                and not _still_overdue(service, paid_invoice_id=invoice_id)
            ):
                locked[service.pk] = service_unsuspend(service=service, actor=actor)


def service_periods_rebill_or_waive(*, line_ids: list[int], waive: bool, actor=None) -> None:
    """Periods whose invoice lines were credited or voided before anyone paid: either the
    next renewal run bills them again (the service is marked not invoiced for them), or
    they are given away — the service is paid up to the period's end — with an event."""
    with transaction.atomic():
        lines = list(
            InvoiceLine.objects.filter(
                pk__in=line_ids, kind=InvoiceLine.Kind.SERVICE, service__isnull=False
            ).order_by("service_id", "period_start")
        )
        locked = _lock_services_of(lines)
        for line in lines:
            service = locked[line.service_id]
            period = (
                f"{line.period_start:%Y-%m-%d} to {line.period_end:%Y-%m-%d}"
                if (line.period_start and line.period_end)
                else line.description
            )
            if waive:
                moved, before = _extend_paid_period(service, line)
                if moved:
                    audit.audit_record(
                        SERVICE_PERIOD_WAIVED,
                        actor=actor,
                        obj=service,
                        changes={"next_due_date": [before, service.next_due_date]},
                        detail={"period": period, "invoice_line": line.pk},
                    )
                continue
            if service.cycle == BillingCycle.ONE_TIME or line.period_start is None:
                continue
            before = audit.snapshot(service, ["next_due_date", "invoiced_period_start"])
            # The period is owed again from its start: renewals bill it on their next pass.
            if service.next_due_date is None or service.next_due_date > line.period_start:
                service.next_due_date = line.period_start
            service.invoiced_period_start = None
            service.save(update_fields=["next_due_date", "invoiced_period_start"])
            audit.audit_record(
                SERVICE_PERIOD_REBILLED,
                actor=actor,
                obj=service,
                changes=audit.diff(
                    before, audit.snapshot(service, ["next_due_date", "invoiced_period_start"])
                ),
                detail={"period": period, "invoice_line": line.pk},
            )
