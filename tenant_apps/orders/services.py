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
capacity, then the customer and the invoices it credits, then takes numbers (credit notes,
then its invoice); a settled invoice locks the services it paid for and their add-ons (in
id order) and starts them, taking capacity, with no invoice lock. An add-on is always
created after its plan, so a plan moving its add-ons with it locks them after itself, in
id order.

Periods: a service started at once starts its first period that day; one that waits for
payment starts it on the day its first invoice is paid (that invoice states the period's
length). `prorate` is the one proration (plan changes, add-ons put on a running service).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from tenant_apps.billing import selectors as billing_selectors
from tenant_apps.billing import services as billing
from tenant_apps.billing.models import Invoice, InvoiceLine
from tenant_apps.catalog.models import CYCLE_MONTHS, BillingCycle, Price, Product
from tenant_apps.clients.models import Customer
from tenant_apps.instance import audit, clock
from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.models import AuditEvent
from tenant_apps.instance.money import round_money
from tenant_apps.instance.pipelines import transition
from tenant_apps.referrals.models import Referer

from . import ports
from .models import InvalidOrderTransition, InvalidServiceTransition, Order, OrderItem, Service

log = logging.getLogger(__name__)

__all__ = ["InvalidOrderTransition", "InvalidServiceTransition", "OrderError"]

ORDER_PLACED = audit.event_type("order.placed", gettext_noop("Order placed"))
ORDER_ACCEPTED = audit.event_type("order.accepted", gettext_noop("Order accepted"))
ORDER_CANCELLED = audit.event_type("order.cancelled", gettext_noop("Order cancelled"))
SERVICE_STATUS_CHANGED = audit.event_type(
    "service.status_changed", gettext_noop("Service status changed")
)
SERVICE_PLAN_CHANGED = audit.event_type(
    "service.plan_changed", gettext_noop("Service plan changed")
)
SERVICE_PERIOD_REBILLED = audit.event_type(
    "service.period_rebilled", gettext_noop("Service period to be billed again")
)
SERVICE_PERIOD_WAIVED = audit.event_type(
    "service.period_waived", gettext_noop("Service period waived")
)
SERVICE_ADDON_ADDED = audit.event_type(
    "service.addon_added", gettext_noop("Add-on added to a service")
)
SERVICE_CANCEL_SCHEDULED = audit.event_type(
    "service.cancel_scheduled", gettext_noop("Service set to cancel at the end of its term")
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


def current_period(
    service: Service, *, today: datetime.date
) -> tuple[datetime.date, datetime.date]:
    """The period running on `today`, as (its first day, the day after its last), on the real
    bounds, so month ends stay right (Jan 31 → Feb 27 is 28 days, not 31):
    - the service line that billed it, when there is one;
    - else counted forward from the service's first period (one that started on payment:
      the invoice paid for it states the period's length, not its dates);
    - else the period that ends the day before the service is next due.
    """
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
    if line is not None and line.period_start and line.period_end:
        return line.period_start, line.period_end + datetime.timedelta(days=1)
    start = service.first_period_start
    if start is not None and start <= today and CYCLE_MONTHS[BillingCycle(service.cycle)]:
        while next_period_start(start, service.cycle) <= today:
            start = next_period_start(start, service.cycle)
        return start, next_period_start(start, service.cycle)
    months = CYCLE_MONTHS[BillingCycle(service.cycle)]
    return service.next_due_date - relativedelta(months=months), service.next_due_date


def current_period_start(service: Service, *, today: datetime.date) -> datetime.date:
    """First day of the period running on `today` (see `current_period`)."""
    return current_period(service, today=today)[0]


@dataclass(frozen=True)
class Prorated:
    """A whole period's amount cut to the days left in the period from one day on."""

    amount: Decimal  # rounded once, in the currency
    days: int  # days charged: from `first_day` to `last_day`, both included
    of_days: int  # days in the whole period
    first_day: datetime.date
    last_day: datetime.date


def prorate(
    amount: Decimal,
    *,
    period: tuple[datetime.date, datetime.date],
    on: datetime.date,
    currency: str,
) -> Prorated:
    """The one proration of the project: `amount` (one whole period, may be negative for a
    difference) for the days from `on` to the end of `period` (its first day, the day after
    its last), by day on the period's real length, rounded once at the end.

    Plan changes charge or credit the difference of two prices with it; an add-on put on an
    existing service is charged with it up to its plan's due date.
    """
    start, after = period
    of_days = (after - start).days
    first_day = max(on, start)
    days = max((after - first_day).days, 0)
    value = Decimal(amount) * days / of_days if of_days > 0 else Decimal(0)
    return Prorated(
        amount=round_money(value, currency),
        days=days,
        of_days=of_days,
        first_day=first_day,
        last_day=after - datetime.timedelta(days=1),
    )


# How long one period lasts, in words: the first invoice of an order that starts on payment
# states this instead of dates it cannot know yet.
_CYCLE_LENGTH = {
    BillingCycle.MONTHLY: "1 month",
    BillingCycle.QUARTERLY: "3 months",
    BillingCycle.SEMIANNUAL: "6 months",
    BillingCycle.ANNUAL: "1 year",
}


def _describe(service: Service, start: datetime.date | None, end: datetime.date | None) -> str:
    label = f" — {service.label}" if service.label else ""
    quantity = f"{service.quantity} × " if service.quantity > 1 else ""
    if start is None or end is None:
        length = _CYCLE_LENGTH.get(BillingCycle(service.cycle))
        when = f"{length} from the day of payment" if length else "one time"
        return f"{quantity}{service.product.name}{label} ({when})"
    return f"{quantity}{service.product.name}{label} ({start:%Y-%m-%d} to {end:%Y-%m-%d})"


def _service_line(
    service: Service, start: datetime.date | None, *, unit_price: Decimal | None = None
) -> billing.LineSpec:
    """The line billing one period of `service` from `start`; with no `start`, the period
    starts on the day the invoice is paid, and the line says so instead of giving dates
    (a customer paying ten days after checkout still gets the whole period)."""
    end = period_end(start, service.cycle) if start is not None else None
    return billing.LineSpec(
        description=_describe(service, start, end),
        unit_price=service.recurring_amount if unit_price is None else unit_price,
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
                    _("%(name)s has no %(label)s price in %(currency)s.")
                    % {
                        "name": product.name,
                        "label": BillingCycle(cycle).label.lower(),
                        "currency": currency,
                    }
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
        raise ValidationError({"product": [_("Choose a product from the catalog.")]})
    cycle = raw.get("cycle") or ""
    if cycle not in BillingCycle.values:
        raise ValidationError(
            {"cycle": [_("“%(cycle)s” is not a billing cycle.") % {"cycle": cycle}]}
        )
    try:
        quantity = int(raw.get("quantity", 1))
    except (TypeError, ValueError) as exc:
        raise ValidationError({"quantity": [_("The quantity is a whole number.")]}) from exc
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
        raise OrderError(_("%(customer)s is closed and cannot order.") % {"customer": customer})
    requests = [_parse_item(item) for item in items]
    if not requests:
        raise ValidationError({"items": [_("Choose at least one product.")]})
    if referer is not None and not referer.is_active:
        raise ValidationError(
            {
                "referer": [
                    _("The referer code “%(code)s” is no longer active.") % {"code": referer.code}
                ]
            }
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
            raise ValidationError({"quantity": [_("The quantity must be at least 1.")]})
        if not request.product.is_active:
            raise ValidationError(
                {"product": [_("%(name)s is no longer sold.") % {"name": request.product.name}]}
            )
        if request.product.kind != Product.Kind.PLAN:
            raise ValidationError(
                {
                    "product": [
                        _("%(name)s is an add-on: order it with a plan.")
                        % {"name": request.product.name}
                    ]
                }
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
                    {
                        "addons": [
                            _("That add-on is not available with %(name)s.")
                            % {"name": request.product.name}
                        ]
                    }
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

    With `activate` (staff orders) the services start at once, within quota, and their first
    period today; otherwise (portal orders) they start when the first invoice is paid, and
    their first period on that day — the invoice states the period's length, since its
    dates are not known yet. Capacity is taken before the invoice takes its number (the
    lock order in the module docstring), so a refusal for quota never waits on, nor holds,
    the numbering counter.
    """
    today = today or clock.today()
    locked = Order.objects.select_for_update().select_related("customer").get(pk=order.pk)
    before = transition(locked, Order.Status.ACCEPTED, noun=_("Order #%(id)s") % {"id": locked.pk})
    # No start and no due date until it is paid (renewals and proration never see it).
    start = today if activate else None
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
            next_due_date=start,
            invoiced_period_start=start,
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
        lines.append(_service_line(service, start))
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
    undone in one go: its services are cancelled (capacity given back) and what each unpaid
    invoice bills for the order is credited — a credit note, the document EU rules ask for,
    never a void — so its invoices read "credited" and nothing starts. A renewal invoice
    that also bills the customer's other orders is credited by this order's lines only: their
    periods stay billed. Once anything was paid the order is refused (refund first).

    Lock order: the order, its services, then (credit notes) customer, invoice, numbers.
    """
    locked = Order.objects.select_for_update().get(pk=order.pk)
    Order.pipeline.check(
        locked.status, Order.Status.CANCELLED, noun=_("Order #%(id)s") % {"id": locked.pk}
    )
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
                _(
                    "Order #%(locked_id)s was paid (invoice %(paid)s): refund the payment "
                    "before cancelling the order."
                )
                % {"locked_id": locked.pk, "paid": paid[0]}
            )
        for service in Service.objects.filter(order_item__order=locked).order_by("pk"):
            # An add-on may have been cancelled with its plan a moment ago.
            service.refresh_from_db(fields=["status"])
            if service.status in (Service.Status.PENDING, *Service.HOLDS_CAPACITY):
                service_transition(
                    service=service,
                    to=Service.Status.CANCELLED,
                    reason=f"Order #{locked.pk} cancelled",
                    actor=actor,
                )
        for invoice in invoices:
            # Only this order's lines: a renewal invoice may bill the customer's other
            # orders too, and their periods stay billed.
            lines = _order_lines_to_credit(invoice, locked)
            if lines == []:
                continue
            note = billing.credit_note_create(
                invoice=invoice, reason=f"Order #{locked.pk} cancelled", lines=lines, actor=actor
            )
            credited.append(note.number)
    before = transition(locked, Order.Status.CANCELLED, noun=_("Order #%(id)s") % {"id": locked.pk})
    locked.save(update_fields=["status"])
    audit.audit_record(
        ORDER_CANCELLED,
        actor=actor,
        obj=locked,
        changes={"status": [before, locked.status]},
        detail={"credit_notes": credited} if credited else None,
    )
    return locked


def _order_lines_to_credit(invoice: Invoice, order: Order) -> list[dict] | None:
    """What cancelling `order` credits on `invoice`: None when it bills no other order's
    service (the whole invoice, as charged, its late fee too), else each of the order's lines
    with something left to credit — all of a line nobody credited yet, else by value what is
    left of it."""
    lines = list(invoice.lines.select_related("invoice", "service__order_item").order_by("pk"))

    def of_order(line: InvoiceLine) -> bool:
        item = line.service.order_item if line.service is not None else None
        return item is not None and item.order_id == order.pk

    ours = [line for line in lines if of_order(line)]
    if all(of_order(line) for line in lines if line.service_id is not None):
        return None
    credit = []
    for line in ours:
        left = billing_selectors.line_credit_left(line)
        if left <= 0:
            continue
        charged = line.gross_amount if invoice.prices_include_tax else line.net_amount
        credit.append(
            {"line_id": line.pk} if left == charged else {"line_id": line.pk, "amount": left}
        )
    return credit


# --------------------------------------------------------------------------------------
# Service lifecycle — `Service.pipeline` says which moves are legal; one function moves them.

_ANNOUNCED_AS = {
    (Service.Status.PENDING, Service.Status.ACTIVE): "activated",
    (Service.Status.SUSPENDED, Service.Status.ACTIVE): "resumed",
}


def service_transition(
    *,
    service: Service,
    to: str,
    reason: str = "",
    nonpayment: bool = False,
    actor=None,
    with_parent: Service | None = None,
) -> Service:
    """Move a service along its pipeline, taking or giving back capacity as it starts or ends.

    Add-ons follow their plan: when a plan is suspended, resumed, terminated or cancelled,
    its add-ons make the same move through this same function (each with its own audit
    row, naming the plan in `with_parent`), and an add-on does not resume on its own while
    its plan is suspended. An illegal move raises `InvalidServiceTransition` (409 in the
    API) and changes nothing.
    """
    with transaction.atomic():
        locked = (
            Service.objects.select_for_update(of=("self",))
            .select_related("product", "parent__product")
            .get(pk=service.pk)
        )
        parent = locked.parent
        if (
            to == Service.Status.ACTIVE
            and locked.status == Service.Status.SUSPENDED
            and parent is not None
            and parent.status != Service.Status.ACTIVE
        ):
            raise InvalidServiceTransition(
                _("%(name)s is %(status)s: its add-on resumes with it.")
                % {"name": parent.product.name, "status": parent.get_status_display().lower()}
            )
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
            locked.suspended_with_parent = with_parent is not None
        if to == Service.Status.ACTIVE:
            locked.suspended_at = None
            locked.suspended_for_nonpayment = False
            locked.suspended_with_parent = False
        locked.status_reason = reason[:300]
        locked.save()
        detail: dict = {"reason": locked.status_reason} if locked.status_reason else {}
        if to == Service.Status.SUSPENDED and nonpayment:
            detail["nonpayment"] = True
        if with_parent is not None:
            detail["with_parent"] = with_parent.pk
        audit.audit_record(
            SERVICE_STATUS_CHANGED,
            actor=actor,
            obj=locked,
            changes={"status": [before, to]},
            detail=detail,
        )
        _hook(_ANNOUNCED_AS.get((before, to), to), locked)
        _move_addons(locked, before=before, reason=reason, actor=actor)
    return locked


def _addon_move(addon: Service, *, plan_before: str, plan_now: str) -> str | None:
    """Where an add-on goes when its plan moved from `plan_before` to `plan_now` (None: it
    stays). Suspended add-ons resume with their plan when they were suspended with it, or
    for non-payment that is now settled; one suspended by hand stays suspended."""
    S = Service.Status
    if plan_now == S.SUSPENDED and addon.status == S.ACTIVE:
        return S.SUSPENDED
    if plan_now == S.ACTIVE and plan_before == S.SUSPENDED and addon.status == S.SUSPENDED:
        if addon.suspended_with_parent or (
            addon.suspended_for_nonpayment and not _still_overdue(addon)
        ):
            return S.ACTIVE
        return None
    if plan_now == S.TERMINATED and addon.status in Service.HOLDS_CAPACITY:
        return S.TERMINATED
    if plan_now in (S.TERMINATED, S.CANCELLED) and addon.status in (
        S.PENDING,
        *Service.HOLDS_CAPACITY,
    ):
        return S.CANCELLED
    return None


def _move_addons(plan: Service, *, before: str, reason: str, actor) -> None:
    """Make the plan's add-ons follow its move (locked after the plan: add-ons are created
    after their plan, so this keeps rows of one kind locked in id order)."""
    if plan.parent_id is not None or before == plan.status:
        return
    addons = list(
        Service.objects.select_for_update(of=("self",))
        .select_related("product")
        .filter(parent=plan)
        .order_by("pk")
    )
    for addon in addons:
        target = _addon_move(addon, plan_before=before, plan_now=plan.status)
        if target is None:
            continue
        why = f"With {plan.product.name}" + (f": {reason}" if reason else "")
        service_transition(
            service=addon,
            to=target,
            reason=why,
            nonpayment=False,
            actor=actor,
            with_parent=plan,
        )


def service_activate(
    *,
    service: Service,
    today: datetime.date | None = None,
    due: datetime.date | None = None,
    actor=None,
) -> Service:
    """Start a pending service within quota, its first period on `today`; its next renewal
    is due one period later, or on `due` when the first period is shorter (an add-on put on
    an existing service runs to its plan's due date). An add-on whose plan is suspended
    starts suspended with it."""
    start = today or clock.today()
    with transaction.atomic():
        activated = service_transition(service=service, to=Service.Status.ACTIVE, actor=actor)
        activated.first_period_start = start
        if activated.invoiced_period_start is None:
            activated.invoiced_period_start = start
        if activated.cycle == BillingCycle.ONE_TIME:
            activated.next_due_date = None
        else:
            activated.next_due_date = due or next_period_start(start, activated.cycle)
        activated.save(
            update_fields=["first_period_start", "invoiced_period_start", "next_due_date"]
        )
        parent = activated.parent
        if parent is not None and parent.status == Service.Status.SUSPENDED:
            activated = service_transition(
                service=activated,
                to=Service.Status.SUSPENDED,
                reason=f"With {parent.product.name}",
                actor=actor,
                with_parent=parent,
            )
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
    """Cancel now, or at the end of the paid period (the renewal run then ends it); the
    service's add-ons are cancelled with it, now or at the same term."""
    if immediately:
        return service_transition(
            service=service, to=Service.Status.CANCELLED, reason=reason, actor=actor
        )
    locked = Service.objects.select_for_update().select_related("product").get(pk=service.pk)
    if locked.status == Service.Status.PENDING:
        raise InvalidServiceTransition(
            _("The service has not started yet: cancel it now instead of at the end of its term.")
        )
    if locked.status not in Service.HOLDS_CAPACITY:
        raise InvalidServiceTransition(
            _("The service is %(status)s already; nothing to cancel.")
            % {"status": locked.get_status_display().lower()}
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
    addons = Service.objects.filter(
        parent=locked, status__in=Service.HOLDS_CAPACITY, cancel_at_period_end=False
    ).order_by("pk")
    for addon in addons:
        why = f"With {locked.product.name}" + (f": {reason}" if reason else "")
        service_cancel(service=addon, immediately=False, reason=why, actor=actor)
    return locked


def _live_service_lines(service_id: int):
    """Service lines of issued invoices that still bill their period: not drafts, not void,
    not cancelled by a credit note (paid, partly paid or waiting for payment)."""
    return InvoiceLine.objects.filter(
        service_id=service_id,
        kind=InvoiceLine.Kind.SERVICE,
        invoice__kind=Invoice.Kind.INVOICE,
        invoice__status__in=[
            Invoice.Status.ISSUED,
            Invoice.Status.PARTIALLY_PAID,
            Invoice.Status.PAID,
        ],
    )


def service_lines_billing():
    """Service lines that still bill their period: on an issued invoice that is open, partly
    paid or paid, and not wholly credited by credit notes (a line of 0, a free period, bills
    it too). A wholly credited line bills nothing: its period is owed again, or was waived."""
    return (
        InvoiceLine.objects.filter(
            kind=InvoiceLine.Kind.SERVICE,
            invoice__kind=Invoice.Kind.INVOICE,
            invoice__status__in=[
                Invoice.Status.ISSUED,
                Invoice.Status.PARTIALLY_PAID,
                Invoice.Status.PAID,
            ],
        )
        .annotate(
            credited=Coalesce(
                Sum(
                    "credited_by__gross_amount",
                    filter=~Q(
                        credited_by__invoice__status__in=[
                            Invoice.Status.DRAFT,
                            Invoice.Status.VOID,
                        ]
                    ),
                ),
                Value(Decimal(0)),
            )
        )
        .filter(Q(credited=0) | Q(credited__lt=F("gross_amount")))
    )


@dataclass
class _Credit:
    line: InvoiceLine
    amount: Decimal
    reason: str


def _paid_lines_covering(service: Service, today: datetime.date):
    """What was billed for `today`'s period, newest first: the latest upgrade first, then
    the period's own line (a downgrade credits back from these, by value)."""
    return (
        InvoiceLine.objects.filter(
            service=service,
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


@transaction.atomic
def service_change_plan(
    *, service: Service, product: Product, today: datetime.date | None = None, actor=None
) -> Invoice | None:
    """Upgrade or downgrade to another plan, prorated by day for the rest of the current
    period and at the new price for any later period already invoiced.

    - The current period: an upgrade is invoiced now (the difference for the days left, on
      the period's real bounds); a downgrade is given back as a credit note on what billed
      the period.
    - A renewal already issued for the next period (renewals go out before the due date):
      paid, the difference for that whole period is charged on the same invoice (upgrade)
      or credited on the renewal (downgrade); not yet paid, its line is credited and the
      period is billed again at the new plan's price, so the customer pays the new price
      on one invoice instead of the old price plus a correction.

    Returns the invoice issued, else the first credit note, else None (nothing to bill).
    Lock order: Service → Allocation (capacity follows the new plan and moves first) →
    Customer → the invoices credited, in id order → numbers: credit notes, then the invoice.
    """
    today = today or clock.today()
    locked = (
        Service.objects.select_for_update(of=("self",))
        .select_related("product", "customer")
        .get(pk=service.pk)
    )
    if locked.status != Service.Status.ACTIVE:
        raise InvalidServiceTransition(_("Only active services can change plan."))
    if product.pk == locked.product_id:
        raise ValidationError({"product": [_("That is already the service's plan.")]})
    if not product.is_active or product.kind != Product.Kind.PLAN:
        raise ValidationError(
            {"product": [_("%(name)s cannot be ordered.") % {"name": product.name}]}
        )
    new_price = _price(product, locked.currency, locked.cycle)
    old_amount, new_amount = locked.recurring_amount, new_price.amount
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

    charges: list[billing.LineSpec] = []
    credits: list[_Credit] = []
    rebill: list[datetime.date] = []  # starts of later periods billed again at the new price
    quantity = Decimal(locked.quantity)
    recurring = locked.next_due_date is not None and locked.cycle != BillingCycle.ONE_TIME
    if recurring and locked.next_due_date > today:
        share = prorate(
            new_amount - old_amount,
            period=current_period(locked, today=today),
            on=today,
            currency=locked.currency,
        )
        days = f"{share.days} of {share.of_days} days"
        if share.amount > 0:
            charges.append(
                billing.LineSpec(
                    description=f"Upgrade to {product.name}: {days} "
                    f"({share.first_day:%Y-%m-%d} to {share.last_day:%Y-%m-%d})",
                    unit_price=share.amount,
                    quantity=quantity,
                    tax_class_code=product.tax_class.code,
                    kind=InvoiceLine.Kind.ADJUSTMENT,
                    service_id=locked.pk,
                    # The days it pays for: a later downgrade credits back from this line too.
                    period_start=share.first_day,
                    period_end=share.last_day,
                )
            )
        elif share.amount < 0:
            # Credit exactly the unused share, by value, from what was billed for these days
            # (never a rounded quantity).
            to_credit = -share.amount * quantity
            for billed in _paid_lines_covering(locked, today):
                take = min(to_credit, billing_selectors.line_credit_left(billed))
                if take <= 0:
                    continue
                credits.append(_Credit(billed, take, f"Downgrade to {product.name}"))
                to_credit -= take
                if to_credit <= 0:
                    break
    if recurring:
        ahead = (
            _live_service_lines(locked.pk)
            .filter(period_start__gt=today)
            .select_related("invoice")
            .order_by("period_start", "id")
        )
        for renewal in ahead:
            bounds = f"{renewal.period_start:%Y-%m-%d} to {renewal.period_end:%Y-%m-%d}"
            left = billing_selectors.line_credit_left(renewal)
            if renewal.invoice.status != Invoice.Status.PAID:
                # Not paid yet: that period is billed again at the new price, below.
                if left > 0:
                    credits.append(
                        _Credit(
                            renewal,
                            left,
                            f"Plan changed to {product.name}: {bounds} billed at its price",
                        )
                    )
                rebill.append(renewal.period_start)
                continue
            difference = round_money((new_amount - old_amount) * quantity, locked.currency)
            if difference > 0:
                charges.append(
                    billing.LineSpec(
                        description=f"Upgrade to {product.name}: renewed period ({bounds})",
                        unit_price=new_amount - old_amount,
                        quantity=quantity,
                        tax_class_code=product.tax_class.code,
                        kind=InvoiceLine.Kind.ADJUSTMENT,
                        service_id=locked.pk,
                        period_start=renewal.period_start,
                        period_end=renewal.period_end,
                    )
                )
            elif difference < 0 and left > 0:
                credits.append(
                    _Credit(
                        renewal,
                        min(-difference, left),
                        f"Downgrade to {product.name}: renewed period ({bounds})",
                    )
                )

    fields = ["product", "recurring_amount", "resources"]
    before = audit.snapshot(locked, fields)
    old_name = locked.product.name
    locked.product = product
    locked.recurring_amount = new_amount
    locked.resources = product.resources or {}
    locked.save(update_fields=fields)
    charges.extend(_service_line(locked, start) for start in rebill)

    notes: list[Invoice] = []
    invoice = None
    if credits:
        # Customer → the credited invoices in id order, before any number is taken.
        Customer.objects.select_for_update().get(pk=locked.customer_id)
        list(
            Invoice.objects.select_for_update()
            .filter(pk__in={credit.line.invoice_id for credit in credits})
            .order_by("pk")
        )
    for credit in credits:
        notes.append(
            billing.credit_note_create(
                invoice=credit.line.invoice,
                reason=credit.reason,
                lines=[{"line_id": credit.line.pk, "amount": credit.amount}],
                issue_date=today,
                actor=actor,
            )
        )
    if charges:
        invoice = billing.invoice_create_draft(
            customer=locked.customer, lines=charges, currency=locked.currency, actor=actor
        )
        invoice = billing.invoice_issue(invoice=invoice, issue_date=today, actor=actor)
    document = invoice or (notes[0] if notes else None)
    audit.audit_record(
        SERVICE_PLAN_CHANGED,
        actor=actor,
        obj=locked,
        changes=audit.diff(before, audit.snapshot(locked, fields)),
        detail={
            "from": old_name,
            "to": product.name,
            "document": document.number if document is not None else "",
            "documents": [doc.number for doc in ([invoice] if invoice else []) + notes],
        },
    )
    _hook("changed", locked)
    return document


# --------------------------------------------------------------------------------------
# Add-ons on an existing service


@dataclass(frozen=True)
class AddonAdded:
    service: Service  # the add-on's service: pending until its invoice is paid
    invoice: Invoice


def _billed_until(plan: Service) -> datetime.date:
    """The day after the last period of `plan` already invoiced (its next due date, or the
    end of a renewal issued ahead of it)."""
    until = plan.next_due_date
    if plan.invoiced_period_start is not None and plan.invoiced_period_start >= until:
        until = next_period_start(plan.invoiced_period_start, plan.cycle)
    return until


def _addon_refusal(plan: Service, addon: Product) -> ValidationError | None:
    """Why `addon` cannot go on `plan` (None: it can). The plan's state is checked apart."""
    if plan.parent_id is not None:
        return ValidationError({"addon": [_("Add-ons go on a plan, not on another add-on.")]})
    offered = plan.product.addons.filter(pk=addon.pk, is_active=True, kind=Product.Kind.ADDON)
    if not offered.exists():
        return ValidationError(
            {
                "addon": [
                    _("%(name)s is not offered with %(name2)s.")
                    % {"name": addon.name, "name2": plan.product.name}
                ]
            }
        )
    if plan.customer.currency != plan.currency:
        return ValidationError(
            {
                "addon": [
                    _(
                        "This service is billed in %(currency)s but the customer now pays in "
                        "%(currency2)s: an add-on cannot be billed with it."
                    )
                    % {"currency": plan.currency, "currency2": plan.customer.currency}
                ]
            }
        )
    if not Price.objects.filter(product=addon, currency=plan.currency, cycle=plan.cycle).exists():
        cycle = BillingCycle(plan.cycle).label.lower()
        return ValidationError(
            {
                "addon": [
                    _("%(name)s has no %(cycle)s price in %(currency)s.")
                    % {"name": addon.name, "cycle": cycle, "currency": plan.currency}
                ]
            }
        )
    if (
        addon.once_per_service
        and Service.objects.filter(
            parent=plan,
            product=addon,
            status__in=[Service.Status.PENDING, *Service.HOLDS_CAPACITY],
        ).exists()
    ):
        return ValidationError(
            {
                "addon": [
                    _("%(name)s already has %(name2)s; it is sold once per service.")
                    % {"name": plan.product.name, "name2": addon.name}
                ]
            }
        )
    return None


@transaction.atomic
def service_addon_add(
    *,
    service: Service,
    addon: Product,
    source: str = Order.Source.STAFF,
    today: datetime.date | None = None,
    created_by=None,
    actor=None,
) -> AddonAdded:
    """Put an add-on on an existing, active service, renewing on the plan's due date.

    It is charged now, prorated (`prorate`) from today to the end of the plan's current
    period, plus any later period of the plan already invoiced, so that plan and add-on
    renew together on one invoice. It starts when that invoice is paid, or at once when
    there is nothing to pay. It is recorded as an order of its own (source: staff, portal
    or API), so an unpaid portal one expires like any abandoned checkout.

    Lock order: the plan's Service row, the new add-on's (a higher id) → Allocation (only
    when it starts at once) → Invoice → NumberSequence.
    """
    today = today or clock.today()
    plan = (
        Service.objects.select_for_update(of=("self",))
        .select_related("product", "customer")
        .get(pk=service.pk)
    )
    if plan.status != Service.Status.ACTIVE:
        raise InvalidServiceTransition(
            _("%(name)s is %(status)s: add-ons are added to active services only.")
            % {"name": plan.product.name, "status": plan.get_status_display().lower()}
        )
    if plan.cancel_at_period_end:
        raise InvalidServiceTransition(
            _("%(name)s ends at the end of its term: no add-on can be added to it.")
            % {"name": plan.product.name}
        )
    refusal = _addon_refusal(plan, addon)
    if refusal is not None:
        raise refusal
    price = _price(addon, plan.currency, plan.cycle)
    order = Order.objects.create(
        customer=plan.customer,
        source=source,
        currency=plan.currency,
        created_by=created_by,
        notes=f"Add-on for service #{plan.pk} ({plan.product.name})",
    )
    transition(order, Order.Status.ACCEPTED, noun=_("Order #%(id)s") % {"id": order.pk})
    order.accepted_at = timezone.now()
    order.save(update_fields=["status", "accepted_at"])
    item = OrderItem.objects.create(
        order=order,
        product=addon,
        cycle=plan.cycle,
        quantity=plan.quantity,
        unit_price=price.amount,
        setup_fee=price.setup_fee,
        label=plan.label,
        parent=plan.order_item,
    )
    added = Service.objects.create(
        customer=plan.customer,
        product=addon,
        order_item=item,
        parent=plan,
        label=plan.label,
        cycle=plan.cycle,
        quantity=plan.quantity,
        currency=plan.currency,
        recurring_amount=price.amount,
        resources=addon.resources or {},
    )
    lines: list[billing.LineSpec] = []
    if price.setup_fee > 0:
        lines.append(
            billing.LineSpec(
                description=f"Setup: {addon.name}",
                unit_price=price.setup_fee,
                quantity=Decimal(plan.quantity),
                tax_class_code=addon.tax_class.code,
                kind=InvoiceLine.Kind.SETUP,
                service_id=added.pk,
            )
        )
    due = None
    if plan.cycle == BillingCycle.ONE_TIME or plan.next_due_date is None:
        # Nothing to align with: one whole period, from the day it is paid.
        lines.append(_service_line(added, None))
    else:
        period = current_period(plan, today=today)
        share = prorate(price.amount, period=period, on=today, currency=plan.currency)
        starts = [period[1]]
        if share.days:
            # The first period runs to the plan's: only the days left are charged.
            lines.append(
                replace(
                    _service_line(added, share.first_day, unit_price=share.amount),
                    description=f"{_describe(added, share.first_day, share.last_day)}, "
                    f"{share.days} of {share.of_days} days",
                    period_end=share.last_day,
                )
            )
            added.invoiced_period_start = share.first_day
        # Periods of the plan already invoiced ahead are billed whole, to renew together.
        until = _billed_until(plan)
        while starts[-1] < until:
            lines.append(_service_line(added, starts[-1]))
            added.invoiced_period_start = starts[-1]
            starts.append(next_period_start(starts[-1], plan.cycle))
        due = starts[-1]
        added.save(update_fields=["invoiced_period_start"])
    free = all(line.unit_price * line.quantity == 0 for line in lines)
    if free:
        # Service → Allocation before Invoice → NumberSequence.
        added = service_activate(service=added, today=today, due=due, actor=actor)
    invoice = billing.invoice_create_draft(
        customer=plan.customer, lines=lines, currency=plan.currency, actor=actor
    )
    invoice = billing.invoice_issue(invoice=invoice, issue_date=today, actor=actor)
    audit.audit_record(
        SERVICE_ADDON_ADDED,
        actor=actor if actor is not None else created_by,
        obj=added,
        changes={"status": [None, added.status]},
        detail={
            "plan": plan.pk,
            "addon": addon.name,
            "order": order.pk,
            "invoice": invoice.number,
            "total": invoice.total,
            "currency": invoice.currency,
        },
    )
    return AddonAdded(service=added, invoice=invoice)


# --------------------------------------------------------------------------------------
# Reacting to payments


def _lock_services_of(lines: list[InvoiceLine]) -> dict[int, Service]:
    """The services these lines bill, and their add-ons (which move with them), locked in
    id order (two callers never deadlock)."""
    billed = {line.service_id for line in lines}
    return {
        service.pk: service
        for service in Service.objects.select_for_update()
        .filter(Q(pk__in=billed) | Q(parent_id__in=billed))
        .order_by("pk")
    }


def _line_period(line: InvoiceLine, service: Service) -> tuple[datetime.date, datetime.date] | None:
    """The days a service line bills (first and last): its own dates or, for the first
    invoice of an order that started on payment (it states the period's length, not its
    dates), the service's first period. None: no period (one time, or never started)."""
    if line.period_start and line.period_end:
        return line.period_start, line.period_end
    if service.first_period_start and CYCLE_MONTHS[BillingCycle(service.cycle)]:
        return service.first_period_start, period_end(service.first_period_start, service.cycle)
    return None


def _extend_paid_period(service: Service, line: InvoiceLine) -> tuple[bool, datetime.date | None]:
    """Move the service's next due date past the line's period, if it is not already, and
    on past the later periods already paid or waived; returns whether it moved and the date
    it had.

    A period that starts after the next due date moves nothing: the period due is earlier,
    owed again (credited unpaid, or refunded) and waiting to be billed again, and paying or
    waiving a later one never covers it. Once that one is paid or waived, the due date
    moves past both."""
    before = service.next_due_date
    period = _line_period(line, service)
    if period is None or service.cycle == BillingCycle.ONE_TIME:
        return False, before
    if before is not None and period[0] > before:
        return False, before
    paid_until = period[1] + datetime.timedelta(days=1)
    if before is not None and paid_until <= before:
        return False, before
    service.next_due_date = _settled_from(service, paid_until)
    service.save(update_fields=["next_due_date"])
    return True, before


def _settled_from(service: Service, day: datetime.date) -> datetime.date:
    """The first day from `day` on that no paid or waived period of the service covers."""
    waived = {
        detail.get("invoice_line")
        for detail in AuditEvent.objects.filter(
            action=SERVICE_PERIOD_WAIVED.code, object_id=str(service.pk)
        ).values_list("detail", flat=True)
    }
    paid = service_lines_billing().filter(
        service=service, invoice__status=Invoice.Status.PAID, period_start__gte=day
    )
    gone = InvoiceLine.objects.filter(
        service=service,
        kind=InvoiceLine.Kind.SERVICE,
        pk__in=waived - {None},
        period_start__gte=day,
    )
    ends = {}
    for start, end in [
        *paid.values_list("period_start", "period_end"),
        *gone.values_list("period_start", "period_end"),
    ]:
        if end is not None:
            ends[start] = max(end, ends.get(start, end))
    while day in ends:
        day = ends[day] + datetime.timedelta(days=1)
    return day


def _still_overdue(service: Service, *, paid_invoice_id: int | None = None) -> bool:
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
    # Every line that names a service counts for lifting a suspension (an upgrade's
    # adjustment line too: its unpaid invoice is what suspended the service); only service
    # lines start services and extend paid periods. The lines are read, not locked, so the
    # read needs no transaction, and an invoice without any opens none.
    lines = list(
        InvoiceLine.objects.filter(invoice_id=invoice_id, service__isnull=False).order_by("id")
    )
    if not lines:
        return
    with transaction.atomic():
        locked = _lock_services_of(lines)
        paid_on: datetime.date | None = None  # read when a service starts on payment
        for line in lines:
            service = locked[line.service_id]
            # A plan on an earlier line may have moved this add-on with it a moment ago.
            service.refresh_from_db(
                fields=["status", "next_due_date", "suspended_for_nonpayment", "parent"]
            )
            if line.kind == InvoiceLine.Kind.SERVICE:
                if service.status == Service.Status.PENDING:
                    if line.period_start is None:
                        # The invoice stated the period's length: it starts today, on payment.
                        paid_on = paid_on or _paid_on(invoice_id)
                        start, due = paid_on, None
                    else:
                        start, due = line.period_start, None
                        if line.period_end:
                            due = line.period_end + datetime.timedelta(days=1)
                    locked[service.pk] = service_activate(
                        service=service, today=start, due=due, actor=actor
                    )
                    continue
                if service_lines_billing().filter(pk=line.pk).exists():
                    # A line credited in full bills nothing: its period is owed again (or
                    # was waived), and paying the rest of the invoice does not pay it.
                    _extend_paid_period(service, line)
            if (
                service.status == Service.Status.SUSPENDED
                and service.suspended_for_nonpayment
                and not _still_overdue(service, paid_invoice_id=invoice_id)
                # An add-on of a suspended plan resumes with its plan, not before.
                and (service.parent is None or service.parent.status == Service.Status.ACTIVE)
            ):
                locked[service.pk] = service_unsuspend(service=service, actor=actor)


def _paid_on(invoice_id: int) -> datetime.date:
    """The day the invoice was settled, where the instance does business (never before the
    day it was issued)."""
    paid_at, issued = Invoice.objects.filter(pk=invoice_id).values_list(
        "paid_at", "issue_date"
    ).first() or (None, None)
    day = (
        timezone.localtime(paid_at, clock.instance_time_zone()).date() if paid_at else clock.today()
    )
    return max(day, issued) if issued else day


def service_periods_rebill_or_waive(*, line_ids: list[int], waive: bool, actor=None) -> None:
    """Periods whose invoice lines were credited or voided before anyone paid: either the
    next renewal run bills them again (the service is marked not invoiced for them), or
    they are given away — the service is paid up to the period's end, unless an earlier
    period is still owed (`_extend_paid_period`) — with an event."""
    with transaction.atomic():
        lines = list(
            InvoiceLine.objects.filter(
                pk__in=line_ids, kind=InvoiceLine.Kind.SERVICE, service__isnull=False
            ).order_by("service_id", "period_start")
        )
        locked = _lock_services_of(lines)
        for line in lines:
            service = locked[line.service_id]
            bounds = _line_period(line, service)
            period = f"{bounds[0]:%Y-%m-%d} to {bounds[1]:%Y-%m-%d}" if bounds else line.description
            if waive:
                moved, before = _extend_paid_period(service, line)
                if moved or bounds is not None:
                    # Recorded even when the service was already paid past the period (an
                    # order started at once): the period was given away, on record.
                    audit.audit_record(
                        SERVICE_PERIOD_WAIVED,
                        actor=actor,
                        obj=service,
                        changes={"next_due_date": [before, service.next_due_date]} if moved else {},
                        detail={"period": period, "invoice_line": line.pk},
                    )
                continue
            if service.cycle == BillingCycle.ONE_TIME or bounds is None:
                continue
            if _billed_again(line, bounds[0]):
                continue  # a plan change already billed this period at the new price
            before = audit.snapshot(service, ["next_due_date", "invoiced_period_start"])
            # The period is owed again from its start: renewals bill it on their next pass.
            if service.next_due_date is None or service.next_due_date > bounds[0]:
                service.next_due_date = bounds[0]
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


def _billed_again(line: InvoiceLine, start: datetime.date) -> bool:
    """Does another live service line bill the period from `start` of the same service (the
    line was credited because a plan change replaced it)?"""
    return (
        _live_service_lines(line.service_id)
        .filter(period_start=start)
        .exclude(pk=line.pk)
        .exclude(invoice_id=line.invoice_id)
        .exists()
    )
