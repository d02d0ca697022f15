"""Reads of the catalog shared by staff screens, the API, ordering and billing."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from . import ports
from .models import BillingCycle, Price, Product, TaxClass

# Cycles from shortest to one-time: the order people read a price list in.
CYCLE_ORDER = {cycle: position for position, cycle in enumerate(BillingCycle.values)}


def resource_choices() -> list[tuple[str, str, str]]:
    """(code, name, unit) of every resource a product can need, as the platform defines them."""
    return list(ports.resource_choices())


def product_list(
    *, search: str | None = None, kind: str | None = None, active: bool | None = None
) -> QuerySet[Product]:
    """Products with their tax class and prices loaded, ready for a table or the API."""
    products = Product.objects.select_related("tax_class").prefetch_related(
        "prices", Prefetch("addons", queryset=Product.objects.order_by("position", "name"))
    )
    if search:
        products = products.filter(
            Q(name__icontains=search) | Q(code__icontains=search) | Q(description__icontains=search)
        )
    if kind:
        products = products.filter(kind=kind)
    if active is not None:
        products = products.filter(is_active=active)
    return products


def get_product_for(user, product_id: int) -> Product:
    """The product if `user` may see the catalog; raises PermissionDenied or DoesNotExist."""
    if not (user and user.is_authenticated and user.is_instance_staff):
        raise PermissionDenied(_("Only staff can see the catalog."))
    return product_list().get(pk=product_id)


def orderable_products(*, currency: str) -> QuerySet[Product]:
    """Active plans with at least one price in `currency`.

    `prices` holds every price of each plan (use `product_price` to pick one); `addons` holds
    only the active add-ons that also have a price in `currency`, with their prices.
    """
    currency = (currency or "").strip().upper()
    priced_in = Product.objects.filter(prices__currency=currency).values("pk")
    addons = (
        Product.objects.filter(is_active=True, kind=Product.Kind.ADDON, pk__in=priced_in)
        .prefetch_related("prices")
        .order_by("position", "name")
    )
    return (
        Product.objects.filter(is_active=True, kind=Product.Kind.PLAN, pk__in=priced_in)
        .select_related("tax_class")
        .prefetch_related("prices", Prefetch("addons", queryset=addons))
    )


def sorted_prices(prices: Iterable[Price]) -> list[Price]:
    """Prices by currency, then monthly → annual → one time (not alphabetically by cycle)."""
    return sorted(prices, key=lambda p: (p.currency, CYCLE_ORDER.get(p.cycle, 99)))


def product_price(*, product: Product, currency: str, cycle: str) -> Price | None:
    """The price of `product` in `currency` for `cycle`, or None when it is not sold that way."""
    currency = (currency or "").strip().upper()
    if "prices" in getattr(product, "_prefetched_objects_cache", {}):
        return next(
            (p for p in product.prices.all() if p.currency == currency and p.cycle == cycle),
            None,
        )
    return Price.objects.filter(product=product, currency=currency, cycle=cycle).first()


def tax_class_list() -> QuerySet[TaxClass]:
    """Tax classes with how many products use each."""
    # Aggregation drops Meta.ordering, so order explicitly (stable pagination).
    return TaxClass.objects.annotate(product_count=Count("products")).order_by("name", "pk")


def get_tax_class_for(user, tax_class_id: int) -> TaxClass:
    """The tax class if `user` may see the catalog; raises PermissionDenied or DoesNotExist."""
    if not (user and user.is_authenticated and user.is_instance_staff):
        raise PermissionDenied(_("Only staff can see the catalog."))
    return tax_class_list().get(pk=tax_class_id)
