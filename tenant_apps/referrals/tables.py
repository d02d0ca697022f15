"""Referer table (django-tables2) and filter bar (django-filter)."""

from __future__ import annotations

import django_filters
import django_tables2 as tables
from django.utils.html import format_html

from .links import share_link
from .models import Referer
from .selectors import referer_list


class RefererTable(tables.Table):
    name = tables.Column(linkify=("referrals:referer_edit", {"pk": tables.A("pk")}))
    code = tables.Column(attrs={"td": {"class": "mono"}})
    email = tables.Column(verbose_name="E-mail")
    customer = tables.Column(verbose_name="Customer")
    is_active = tables.Column(verbose_name="Status")
    orders_count = tables.Column(verbose_name="Orders", attrs={"td": {"class": "num"}})
    link = tables.Column(
        empty_values=(),
        orderable=False,
        verbose_name="Share link",
        attrs={"td": {"class": "nowrap"}},
    )
    created_at = tables.DateTimeColumn(
        format="Y-m-d", verbose_name="Since", attrs={"td": {"class": "nowrap"}}
    )

    class Meta:
        model = Referer
        fields = ["name", "code", "email", "customer", "is_active", "orders_count", "link"]
        sequence = (
            "name",
            "code",
            "email",
            "customer",
            "is_active",
            "orders_count",
            "link",
            "created_at",
        )
        empty_text = "No referers match."
        attrs = {"class": "table"}

    def __init__(self, *args, base_url: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.base_url = base_url

    def render_customer(self, record):
        return record.customer.display_name

    def render_is_active(self, record):
        if record.is_active:
            return format_html('<span class="badge badge-{}">{}</span>', "active", "Active")
        return format_html('<span class="badge badge-{}">{}</span>', "terminated", "Inactive")

    def render_link(self, record):
        if not record.is_active:
            return "—"
        return format_html('<code class="mono">{}</code>', share_link(self.base_url, record.code))


class RefererFilter(django_filters.FilterSet):
    """The filter bar; the query itself is `selectors.referer_list`."""

    q = django_filters.CharFilter(label="Search")
    active = django_filters.ChoiceFilter(
        label="Status", choices=[("1", "Active"), ("0", "Inactive")], empty_label="Any status"
    )

    class Meta:
        model = Referer
        fields = ["q", "active"]

    def filter_queryset(self, queryset):
        data = self.form.cleaned_data
        return referer_list(
            search=(data.get("q") or "").strip() or None,
            active={"1": True, "0": False}.get(data.get("active") or ""),
        )
