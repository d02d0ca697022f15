"""Staff tables (django-tables2) and filters (django-filter) of orders and services."""

from __future__ import annotations

import django_filters
import django_tables2 as tables
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tenant_apps.catalog.models import Product
from tenant_apps.clients.models import Customer
from tenant_apps.instance.money import format_money
from tenant_apps.referrals.models import Referer

from .models import Order, Service
from .selectors import order_list, service_list

ORDER_BADGES = {
    Order.Status.PENDING: "warning",
    Order.Status.ACCEPTED: "active",
    Order.Status.CANCELLED: "neutral",
}
SERVICE_BADGES = {
    Service.Status.PENDING: "warning",
    Service.Status.ACTIVE: "active",
    Service.Status.SUSPENDED: "suspended",
    Service.Status.TERMINATED: "terminated",
    Service.Status.CANCELLED: "neutral",
}


def optional_url(name: str, **kwargs) -> str | None:
    """The URL of a screen another app may not have shipped yet (None until it has)."""
    try:
        return reverse(name, kwargs=kwargs)
    except NoReverseMatch:
        return None


def status_badge(status: str, label: str, badges: dict) -> str:
    return format_html(
        '<span class="badge badge-{}">{}</span>', badges.get(status, "neutral"), label
    )


def customer_link(customer: Customer) -> str:
    url = optional_url("clients:customer_detail", pk=customer.pk)
    if url is None:
        return format_html("{}", customer.display_name)
    return format_html('<a href="{}">{}</a>', url, customer.display_name)


def items_summary(order: Order) -> str:
    """e.g. "Pro hosting — example.com + Backups" (plans with their add-ons)."""
    items = list(order.items.all())
    parts = []
    for item in (i for i in items if i.parent_id is None):
        text = f"{item.quantity} × {item.product.name}" if item.quantity > 1 else item.product.name
        if item.label:
            text += f" — {item.label}"
        addons = [i.product.name for i in items if i.parent_id == item.pk]
        if addons:
            text += " + " + ", ".join(addons)
        parts.append(text)
    return "; ".join(parts) or "—"


class OrderTable(tables.Table):
    id = tables.Column(
        verbose_name=gettext_lazy("#"), linkify=("orders:order_detail", {"pk": tables.A("pk")})
    )
    customer = tables.Column(order_by=("customer__name",), verbose_name=gettext_lazy("Customer"))
    items = tables.Column(empty_values=(), orderable=False, verbose_name=gettext_lazy("Items"))
    referer = tables.Column(order_by=("referer__name",), verbose_name=gettext_lazy("Referer"))
    source = tables.Column(verbose_name=gettext_lazy("Source"))
    status = tables.Column(verbose_name=gettext_lazy("Status"))
    created_at = tables.DateTimeColumn(format="Y-m-d H:i", verbose_name=gettext_lazy("Created"))

    class Meta:
        model = Order
        fields = ["id", "customer", "items", "referer", "source", "status", "created_at"]
        empty_text = gettext_lazy("No orders match.")
        attrs = {"class": "table"}

    def render_id(self, value):
        return f"#{value}"

    def render_customer(self, record):
        return customer_link(record.customer)

    def render_items(self, record):
        return items_summary(record)

    def render_referer(self, record):
        if record.referer is None:
            return "—"
        return format_html(
            '{} <span class="text-muted text-xs">{}</span>',
            record.referer.name,
            record.get_referer_source_display(),
        )

    def render_source(self, record):
        return record.get_source_display()

    def render_status(self, record):
        return status_badge(record.status, record.get_status_display(), ORDER_BADGES)


class OrderFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=gettext_lazy("Search"))
    status = django_filters.ChoiceFilter(
        choices=Order.Status.choices,
        empty_label=gettext_lazy("Any status"),
        label=gettext_lazy("Status"),
    )
    source = django_filters.ChoiceFilter(
        choices=Order.Source.choices,
        empty_label=gettext_lazy("Any source"),
        label=gettext_lazy("Source"),
    )
    referer = django_filters.ModelChoiceFilter(
        queryset=Referer.objects.order_by("name"),
        empty_label=gettext_lazy("Any referer"),
        label=gettext_lazy("Referer"),
    )

    class Meta:
        model = Order
        fields = ["q", "status", "source", "referer"]

    def search(self, queryset, name, value):
        return queryset.filter(pk__in=order_list(search=value).values("pk"))


class ServiceTable(tables.Table):
    product = tables.Column(
        order_by=("product__name",),
        linkify=("orders:service_detail", {"pk": tables.A("pk")}),
        verbose_name=gettext_lazy("Product"),
    )
    label = tables.Column(verbose_name=gettext_lazy("Label"))
    customer = tables.Column(order_by=("customer__name",), verbose_name=gettext_lazy("Customer"))
    status = tables.Column(verbose_name=gettext_lazy("Status"))
    cycle = tables.Column(verbose_name=gettext_lazy("Cycle"))
    recurring_amount = tables.Column(
        verbose_name=gettext_lazy("Recurring"),
        attrs={"th": {"class": "num"}, "td": {"class": "num"}},
    )
    next_due_date = tables.DateColumn(format="Y-m-d", verbose_name=gettext_lazy("Next due"))
    cancel_at_period_end = tables.Column(verbose_name=gettext_lazy("Ends at term"))

    class Meta:
        model = Service
        fields = [
            "product",
            "label",
            "customer",
            "status",
            "cycle",
            "recurring_amount",
            "next_due_date",
            "cancel_at_period_end",
        ]
        empty_text = gettext_lazy("No services match.")
        attrs = {"class": "table"}

    def render_product(self, record):
        if record.parent_id:
            return format_html(
                '{} <span class="text-muted text-xs">add-on of {}</span>',
                record.product.name,
                record.parent.product.name,
            )
        return record.product.name

    def render_customer(self, record):
        return customer_link(record.customer)

    def render_status(self, record):
        return status_badge(record.status, record.get_status_display(), SERVICE_BADGES)

    def render_cycle(self, record):
        return record.get_cycle_display()

    def render_recurring_amount(self, record):
        amount = format_money(record.recurring_amount * record.quantity, record.currency)
        return f"{record.quantity} × {amount}" if record.quantity > 1 else amount

    def render_cancel_at_period_end(self, value):
        if value:
            return format_html(
                '<span class="badge badge-warning">{}</span>', _("Cancels at term end")
            )
        return "—"


class ServiceFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=gettext_lazy("Search"))
    status = django_filters.ChoiceFilter(
        choices=Service.Status.choices,
        empty_label=gettext_lazy("Any status"),
        label=gettext_lazy("Status"),
    )
    product = django_filters.ModelChoiceFilter(
        queryset=Product.objects.order_by("position", "name"),
        empty_label=gettext_lazy("Any product"),
        label=gettext_lazy("Product"),
    )
    customer = django_filters.ModelChoiceFilter(
        queryset=Customer.objects.order_by("name", "id"),
        empty_label=gettext_lazy("Any customer"),
        label=gettext_lazy("Customer"),
    )

    class Meta:
        model = Service
        fields = ["q", "status", "product", "customer"]

    def search(self, queryset, name, value):
        return queryset.filter(pk__in=service_list(search=value).values("pk"))
