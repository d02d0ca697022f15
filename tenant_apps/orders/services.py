"""Every write to orders and services: ordering, activation, lifecycle, changes, renewals.

Capacity is taken from the operator's allocation when a service becomes active and given
back when it ends (through the `ports.capacity_*` ports, under the allocation row lock), so
a reseller instance can never hold more than it was allocated. Every status change is
announced on `ports.service_changed` inside its transaction.
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

from config.errors import DomainError
from tenant_apps.billing import services as billing
from tenant_apps.billing.models import Invoice, InvoiceLine
from tenant_apps.catalog.models import CYCLE_MONTHS, BillingCycle, Price, Product
from tenant_apps.clients.models import Customer
from tenant_apps.instance.money import round_money
from tenant_apps.referrals.models import Referer

from . import ports
from .models import Order, OrderItem, Service

log = logging.getLogger(__name__)


class OrderError(DomainError):
    code = "order_error"


class InvalidServiceTransition(DomainError):
    code = "invalid_transition"
    status_code = 409


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
) -> Order:
    """Record an order at today's catalog prices; nothing is provisioned until it is accepted."""
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
    return order


@transaction.atomic
def order_accept(
    *, order: Order, activate: bool = True, today: datetime.date | None = None
) -> Invoice:
    """Accept an order: create its services and issue the first invoice.

    With `activate` (staff orders) the services start at once, within quota; otherwise
    (portal orders) they start when the first invoice is paid.
    """
    today = today or timezone.localdate()
    locked = Order.objects.select_for_update().select_related("customer").get(pk=order.pk)
    if locked.status != Order.Status.PENDING:
        raise OrderError(f"Order #{locked.pk} is {locked.get_status_display().lower()} already.")
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
    for service in services:
        service.invoiced_period_start = today
        service.save(update_fields=["invoiced_period_start"])
    invoice = billing.invoice_create_draft(
        customer=locked.customer, lines=lines, currency=locked.currency
    )
    invoice = billing.invoice_issue(invoice=invoice, issue_date=today)
    locked.status = Order.Status.ACCEPTED
    locked.accepted_at = timezone.now()
    locked.save(update_fields=["status", "accepted_at"])
    if activate:
        for service in services:
            service_activate(service=service, today=today)
    return invoice


@transaction.atomic
def order_cancel(*, order: Order) -> Order:
    locked = Order.objects.select_for_update().get(pk=order.pk)
    if locked.status != Order.Status.PENDING:
        raise OrderError(
            f"Order #{locked.pk} is {locked.get_status_display().lower()}; "
            "only pending orders can be cancelled."
        )
    locked.status = Order.Status.CANCELLED
    locked.save(update_fields=["status"])
    return locked


# --------------------------------------------------------------------------------------
# Service lifecycle — one function moves the status, and refuses illegal moves.

_TRANSITIONS = {
    Service.Status.PENDING: {Service.Status.ACTIVE, Service.Status.CANCELLED},
    Service.Status.ACTIVE: {
        Service.Status.SUSPENDED,
        Service.Status.TERMINATED,
        Service.Status.CANCELLED,
    },
    Service.Status.SUSPENDED: {
        Service.Status.ACTIVE,
        Service.Status.TERMINATED,
        Service.Status.CANCELLED,
    },
    Service.Status.TERMINATED: set(),
    Service.Status.CANCELLED: set(),
}
_HOLDS_CAPACITY = {Service.Status.ACTIVE, Service.Status.SUSPENDED}


def service_transition(
    *, service: Service, to: str, reason: str = "", nonpayment: bool = False
) -> Service:
    with transaction.atomic():
        locked = Service.objects.select_for_update().select_related("product").get(pk=service.pk)
        if to not in _TRANSITIONS[locked.status]:
            raise InvalidServiceTransition(
                f"The service is {locked.get_status_display().lower()}; it cannot become "
                f"{Service.Status(to).label.lower()}."
            )
        before = locked.status
        now = timezone.now()
        if to == Service.Status.ACTIVE and before == Service.Status.PENDING:
            _quota_reserve(_demands(locked))
            locked.activated_at = now
        if before in _HOLDS_CAPACITY and to not in _HOLDS_CAPACITY:
            _quota_release(_demands(locked))
            locked.ended_at = now
        if to == Service.Status.SUSPENDED:
            locked.suspended_at = now
            locked.suspended_for_nonpayment = nonpayment
        if to == Service.Status.ACTIVE:
            locked.suspended_at = None
            locked.suspended_for_nonpayment = False
        locked.status = to
        locked.status_reason = reason[:300]
        locked.save()
        _hook(
            {
                (Service.Status.PENDING, Service.Status.ACTIVE): "activated",
                (Service.Status.SUSPENDED, Service.Status.ACTIVE): "resumed",
            }.get((before, to), to),
            locked,
        )
    return locked


def service_activate(*, service: Service, today: datetime.date | None = None) -> Service:
    """Start a pending service within quota; its next renewal is due one period later."""
    today = today or timezone.localdate()
    with transaction.atomic():
        activated = service_transition(service=service, to=Service.Status.ACTIVE)
        start = activated.invoiced_period_start or today
        if activated.cycle == BillingCycle.ONE_TIME:
            activated.next_due_date = None
        else:
            activated.next_due_date = next_period_start(start, activated.cycle)
        activated.save(update_fields=["next_due_date"])
    return activated


def service_suspend(*, service: Service, reason: str = "", nonpayment: bool = False) -> Service:
    return service_transition(
        service=service, to=Service.Status.SUSPENDED, reason=reason, nonpayment=nonpayment
    )


def service_unsuspend(*, service: Service) -> Service:
    return service_transition(service=service, to=Service.Status.ACTIVE)


def service_terminate(*, service: Service, reason: str = "") -> Service:
    return service_transition(service=service, to=Service.Status.TERMINATED, reason=reason)


@transaction.atomic
def service_cancel(*, service: Service, immediately: bool = False, reason: str = "") -> Service:
    """Cancel now, or at the end of the paid period (the renewal run then ends it)."""
    if immediately:
        return service_transition(service=service, to=Service.Status.CANCELLED, reason=reason)
    locked = Service.objects.select_for_update().get(pk=service.pk)
    if locked.status == Service.Status.PENDING:
        raise InvalidServiceTransition(
            "The service has not started yet: cancel it now instead of at the end of its term."
        )
    if locked.status not in _HOLDS_CAPACITY:
        raise InvalidServiceTransition(
            f"The service is {locked.get_status_display().lower()} already; nothing to cancel."
        )
    locked.cancel_at_period_end = True
    locked.status_reason = reason[:300]
    locked.save(update_fields=["cancel_at_period_end", "status_reason"])
    return locked


@transaction.atomic
def service_change_plan(
    *, service: Service, product: Product, today: datetime.date | None = None
) -> Invoice | None:
    """Upgrade or downgrade to another plan for the rest of the current period, prorated by day.

    An upgrade is invoiced now (the difference for the days left); a downgrade is given back
    as a credit note on the invoice of the current period. Capacity follows the new plan.
    """
    today = today or timezone.localdate()
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
        start = locked.next_due_date - relativedelta(
            months=CYCLE_MONTHS[BillingCycle(locked.cycle)]
        )
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
            )
            document = billing.invoice_create_draft(
                customer=locked.customer, lines=[spec], currency=locked.currency
            )
            document = billing.invoice_issue(invoice=document, issue_date=today)
        elif difference < 0:
            paid_line = (
                InvoiceLine.objects.filter(
                    service=locked,
                    kind=InvoiceLine.Kind.SERVICE,
                    period_start__lte=today,
                    period_end__gte=today,
                    invoice__kind=Invoice.Kind.INVOICE,
                )
                .exclude(invoice__status__in=[Invoice.Status.DRAFT, Invoice.Status.VOID])
                .order_by("-period_start")
                .first()
            )
            if paid_line is not None and paid_line.unit_price > 0:
                # Credit the unused share of the old price, as a fraction of that line.
                share = (-difference / paid_line.unit_price * paid_line.quantity).quantize(
                    Decimal("0.01")
                )
                if share > 0:
                    document = billing.credit_note_create(
                        invoice=paid_line.invoice,
                        reason=f"Downgrade to {product.name}",
                        lines=[
                            {"line_id": paid_line.pk, "quantity": min(share, paid_line.quantity)}
                        ],
                        issue_date=today,
                    )
    locked.product = product
    locked.recurring_amount = new_price.amount
    locked.resources = product.resources or {}
    locked.save(update_fields=["product", "recurring_amount", "resources"])
    _hook("changed", locked)
    return document


# --------------------------------------------------------------------------------------
# Reacting to payments


def services_on_invoice_settled(*, invoice_id: int) -> None:
    """A settled invoice starts pending services, extends paid periods and lifts suspensions."""
    with transaction.atomic():
        lines = InvoiceLine.objects.filter(
            invoice_id=invoice_id, kind=InvoiceLine.Kind.SERVICE, service__isnull=False
        ).select_related("service")
        for line in lines:
            service = Service.objects.select_for_update().get(pk=line.service_id)
            if service.status == Service.Status.PENDING:
                service_activate(service=service, today=line.period_start)
                continue
            if line.period_end and service.cycle != BillingCycle.ONE_TIME:
                paid_until = line.period_end + datetime.timedelta(days=1)
                if service.next_due_date is None or paid_until > service.next_due_date:
                    service.next_due_date = paid_until
                    service.save(update_fields=["next_due_date"])
            if service.status == Service.Status.SUSPENDED and service.suspended_for_nonpayment:
                service_unsuspend(service=service)
