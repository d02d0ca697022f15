"""Reads of orders and services shared by staff screens, the portal and the API.

Permission-checking fetchers (`get_order_for`, `get_service_for`) are the only way views load
one order or service: staff of the serving instance see any, a customer only their own.
Other instances' rows are not even visible (each instance is its own schema).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Prefetch, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from tenant_apps.billing.models import Invoice, InvoiceLine
from tenant_apps.catalog.models import Product
from tenant_apps.catalog.selectors import orderable_products

from .models import Order, OrderItem, Service


# Staff roles that may place, accept and cancel orders and change services; support reads.
def user_can_manage_orders(user) -> bool:
    """Orders take money: the same people who may bill (owner, admin, billing)."""
    return bool(user and user.is_authenticated and user.can_bill)


# --------------------------------------------------------------------------------------
# Orders


def _order_items() -> Prefetch:
    return Prefetch(
        "items",
        # Each plan followed by its add-ons (add-ons are created after their plan).
        queryset=OrderItem.objects.select_related("product", "service").order_by(
            Coalesce("parent_id", "id"), "id"
        ),
    )


def order_list(
    *,
    customer_id: int | None = None,
    status: str | None = None,
    source: str | None = None,
    referer_id: int | None = None,
    search: str | None = None,
) -> QuerySet[Order]:
    """Orders with customer, referer and items (with products) loaded."""
    orders = Order.objects.select_related("customer", "referer").prefetch_related(_order_items())
    if customer_id is not None:
        orders = orders.filter(customer_id=customer_id)
    if status:
        orders = orders.filter(status=status)
    if source:
        orders = orders.filter(source=source)
    if referer_id is not None:
        orders = orders.filter(referer_id=referer_id)
    if search and search.strip():
        text = search.strip()
        match = (
            Q(customer__name__icontains=text)
            | Q(customer__company_name__icontains=text)
            | Q(customer__email__icontains=text)
            | Q(items__label__icontains=text)
            | Q(items__product__name__icontains=text)
        )
        if text.lstrip("#").isdecimal():
            match |= Q(pk=int(text.lstrip("#")))
        # Filter on ids so the item join adds no duplicate orders.
        orders = orders.filter(pk__in=Order.objects.filter(match).values("pk"))
    return orders


def get_order_for(user, pk) -> Order:
    """Staff see any order of this instance; a customer only their own.

    Raises Order.DoesNotExist (also for another customer's order: existence is not revealed)
    or PermissionDenied for anyone else.
    """
    orders = order_list().select_related("created_by")
    if user.is_authenticated and user.is_instance_staff:
        return orders.get(pk=pk)
    if user.is_authenticated and user.is_customer:
        return orders.get(pk=pk, customer__user=user)
    raise PermissionDenied(_("Sign in as staff or as the customer who placed this order."))


def order_invoices(order: Order) -> list[Invoice]:
    """Invoices that billed the services this order created (the first one, then renewals)."""
    return list(
        Invoice.objects.filter(kind=Invoice.Kind.INVOICE, lines__service__order_item__order=order)
        .distinct()
        .order_by("created_at", "id")
    )


# --------------------------------------------------------------------------------------
# Services


def service_list(
    *,
    customer_id: int | None = None,
    status: str | None = None,
    product_id: int | None = None,
    search: str | None = None,
) -> QuerySet[Service]:
    """Services with product and customer loaded; `search` matches label, product, customer."""
    services = Service.objects.select_related("product", "customer", "parent__product")
    if customer_id is not None:
        services = services.filter(customer_id=customer_id)
    if status:
        services = services.filter(status=status)
    if product_id is not None:
        services = services.filter(product_id=product_id)
    if search and search.strip():
        text = search.strip()
        services = services.filter(
            Q(label__icontains=text)
            | Q(product__name__icontains=text)
            | Q(product__code__icontains=text)
            | Q(customer__name__icontains=text)
            | Q(customer__company_name__icontains=text)
            | Q(customer__email__icontains=text)
        )
    return services


def get_service_for(user, pk) -> Service:
    """Staff see any service of this instance; a customer only their own.

    Raises Service.DoesNotExist (also for another customer's service) or PermissionDenied.
    """
    services = (
        service_list()
        .select_related("order_item__order")
        .prefetch_related(Prefetch("addons", queryset=Service.objects.select_related("product")))
    )
    if user.is_authenticated and user.is_instance_staff:
        return services.get(pk=pk)
    if user.is_authenticated and user.is_customer:
        return services.get(pk=pk, customer__user=user)
    raise PermissionDenied(_("Sign in as staff or as the customer this service belongs to."))


def service_invoice_lines(service: Service) -> QuerySet[InvoiceLine]:
    """Lines of issued documents that billed this service, newest first."""
    return (
        InvoiceLine.objects.filter(service=service)
        .exclude(invoice__status=Invoice.Status.DRAFT)
        .select_related("invoice")
        .order_by("-invoice__issue_date", "-invoice_id", "position", "id")
    )


def line_signed_net(line: InvoiceLine):
    """A line's net as the service's history reads it: a credit note's lines give back."""
    return -line.net_amount if line.invoice.kind == Invoice.Kind.CREDIT_NOTE else line.net_amount


def service_counts_by_status() -> dict[str, int]:
    return dict(Service.objects.values_list("status").annotate(n=Count("id")).order_by())


def plan_change_choices(service: Service) -> QuerySet[Product]:
    """Other active plans sold in the service's currency and cycle (what it can move to)."""
    return (
        Product.objects.filter(
            is_active=True,
            kind=Product.Kind.PLAN,
            prices__currency=service.currency,
            prices__cycle=service.cycle,
        )
        .exclude(pk=service.product_id)
        .prefetch_related("prices")
        .distinct()
        .order_by("position", "name")
    )


def addon_choices(service: Service) -> QuerySet[Product]:
    """Add-ons that can go on `service` now: offered with its plan, on sale, priced in its
    currency and cycle; one sold once per service is left out when the service has it."""
    if not can_take_addons(service):
        return Product.objects.none()
    held = Service.objects.filter(
        parent=service,
        status__in=[Service.Status.PENDING, *Service.HOLDS_CAPACITY],
        product__once_per_service=True,
    ).values("product_id")
    return (
        Product.objects.filter(
            parent_products=service.product_id,
            is_active=True,
            kind=Product.Kind.ADDON,
            prices__currency=service.currency,
            prices__cycle=service.cycle,
        )
        .exclude(pk__in=held)
        .prefetch_related("prices")
        .distinct()
        .order_by("position", "name")
    )


def can_take_addons(service: Service) -> bool:
    """An active plan that is not ending can be given add-ons."""
    return (
        service.parent_id is None
        and service.status == Service.Status.ACTIVE
        and not service.cancel_at_period_end
    )


def orderable_plans(currency: str) -> QuerySet[Product]:
    """Plans a customer paying in `currency` can order, with prices and add-ons loaded."""
    return orderable_products(currency=currency).order_by("position", "name")
