"""Catalog tables (django-tables2), filters (django-filter) and short price/resource summaries."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import django_filters
import django_tables2 as tables
from babel.numbers import format_currency
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tenant_apps.instance.money import format_money

from .models import BillingCycle, Price, Product, TaxClass
from .selectors import product_list, resource_choices, sorted_prices

CYCLE_SUFFIX = {
    BillingCycle.MONTHLY: "/mo",
    BillingCycle.QUARTERLY: "/qtr",
    BillingCycle.SEMIANNUAL: "/6 mo",
    BillingCycle.ANNUAL: "/yr",
    BillingCycle.ONE_TIME: " once",
}


def compact_money(amount: Decimal, currency: str) -> str:
    """€99 rather than €99.00 in summaries; cents are kept when there are some."""
    if amount == amount.to_integral_value():
        return format_currency(
            amount, currency, locale="en", format="¤#,##0", currency_digits=False
        )
    return format_money(amount, currency)


def price_summary(prices: Iterable[Price], *, limit: int = 4) -> str:
    """e.g. "€9.90/mo · €99/yr" (and "+2 more" past `limit`)."""
    ordered = sorted_prices(prices)
    parts = [
        f"{compact_money(p.amount, p.currency)}{CYCLE_SUFFIX.get(p.cycle, '')}"
        for p in ordered[:limit]
    ]
    if len(ordered) > limit:
        parts.append(f"+{len(ordered) - limit} more")
    return " · ".join(parts)


def _quantity(name: str, amount: int, unit: str) -> str:
    # "Domains 3", not "Domains 3 domains": the unit is left out when the name says it.
    if unit and unit.lower().rstrip("s") in name.lower():
        return f"{name} {amount}"
    return f"{name} {amount} {unit}".rstrip()


def resource_summary(resources: dict, choices: list[tuple[str, str, str]]) -> str:
    """e.g. "Disk space 10 GB · Hosting accounts 1", in the platform's order."""
    return " · ".join(
        _quantity(name, resources[code], unit)
        for code, name, unit in choices
        if resources.get(code)
    )


class ProductTable(tables.Table):
    name = tables.Column(linkify=("catalog:product_detail", {"pk": tables.A("pk")}))
    code = tables.Column(attrs={"td": {"class": "mono"}})
    kind = tables.Column()
    is_active = tables.Column(verbose_name=gettext_lazy("Status"))
    prices = tables.Column(empty_values=(), orderable=False, verbose_name=gettext_lazy("Prices"))
    resources = tables.Column(
        empty_values=(), orderable=False, verbose_name=gettext_lazy("Resources")
    )

    class Meta:
        model = Product
        fields = ["name", "code", "kind", "is_active", "prices", "resources"]
        empty_text = gettext_lazy("No products match.")
        attrs = {"class": "table"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.resource_choices = resource_choices()  # once per table, not once per row

    def render_kind(self, record):
        return format_html('<span class="badge badge-info">{}</span>', record.get_kind_display())

    def render_is_active(self, record):
        if record.is_active:
            return format_html('<span class="badge badge-{}">{}</span>', "active", _("Active"))
        return format_html('<span class="badge badge-{}">{}</span>', "terminated", _("Archived"))

    def render_prices(self, record):
        return price_summary(record.prices.all()) or "—"

    def render_resources(self, record):
        return resource_summary(record.resources or {}, self.resource_choices) or "—"


class ProductFilter(django_filters.FilterSet):
    """The filter bar; the query itself is `selectors.product_list`."""

    q = django_filters.CharFilter(label=gettext_lazy("Search"))
    kind = django_filters.ChoiceFilter(
        choices=Product.Kind.choices,
        empty_label=gettext_lazy("Any kind"),
        label=gettext_lazy("Kind"),
    )
    active = django_filters.ChoiceFilter(
        label=gettext_lazy("Status"),
        choices=[("1", gettext_lazy("Active")), ("0", gettext_lazy("Archived"))],
        empty_label=gettext_lazy("Any status"),
    )

    class Meta:
        model = Product
        fields = ["q", "kind", "active"]

    def filter_queryset(self, queryset):
        data = self.form.cleaned_data
        active = {"1": True, "0": False}.get(data.get("active") or "")
        return product_list(
            search=(data.get("q") or "").strip() or None,
            kind=data.get("kind") or None,
            active=active,
        )


class TaxClassTable(tables.Table):
    name = tables.Column(verbose_name=gettext_lazy("Name"))
    code = tables.Column(attrs={"td": {"class": "mono"}}, verbose_name=gettext_lazy("Code"))
    product_count = tables.Column(
        verbose_name=gettext_lazy("Products"), attrs={"td": {"class": "num"}}
    )
    edit = tables.Column(empty_values=(), orderable=False, verbose_name="")

    class Meta:
        model = TaxClass
        fields = ["name", "code", "product_count"]
        empty_text = gettext_lazy("No tax classes yet.")
        attrs = {"class": "table"}

    def __init__(self, *args, can_manage: bool = False, **kwargs):
        if not can_manage:
            kwargs["exclude"] = ["edit"]
        super().__init__(*args, **kwargs)

    def render_edit(self, record):
        return format_html(
            '<a class="btn btn-ghost btn-sm" href="{}">{}</a>',
            reverse("catalog:taxclass_edit", args=[record.pk]),
            _("Edit"),
        )
