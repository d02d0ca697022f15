"""Referer table (django-tables2) and filter bar (django-filter)."""

from __future__ import annotations

import django_filters
import django_tables2 as tables
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .links import share_link
from .models import Referer
from .selectors import referer_list


class RefererTable(tables.Table):
    name = tables.Column(
        verbose_name=gettext_lazy("Name"),
        linkify=("referrals:referer_edit", {"pk": tables.A("pk")}),
    )
    code = tables.Column(verbose_name=gettext_lazy("Code"), attrs={"td": {"class": "mono"}})
    email = tables.Column(verbose_name=gettext_lazy("E-mail"))
    customer = tables.Column(verbose_name=gettext_lazy("Customer"))
    is_active = tables.Column(verbose_name=gettext_lazy("Status"))
    orders_count = tables.Column(
        verbose_name=gettext_lazy("Orders"), attrs={"td": {"class": "num"}}
    )
    link = tables.Column(empty_values=(), orderable=False, verbose_name=gettext_lazy("Share link"))
    created_at = tables.DateTimeColumn(
        format="Y-m-d", verbose_name=gettext_lazy("Since"), attrs={"td": {"class": "nowrap"}}
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
        empty_text = gettext_lazy("No referers match.")
        attrs = {"class": "table"}

    def __init__(self, *args, base_url: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.base_url = base_url

    def render_customer(self, record):
        return record.customer.display_name

    def render_is_active(self, record):
        if record.is_active:
            return format_html('<span class="badge badge-{}">{}</span>', "active", _("Active"))
        return format_html('<span class="badge badge-{}">{}</span>', "terminated", _("Inactive"))

    def render_link(self, record):
        if not record.is_active:
            return "—"
        # A long address breaks anywhere rather than pushing the table past its card.
        return format_html(
            '<code class="mono share-link">{}</code>', share_link(self.base_url, record.code)
        )


class RefererFilter(django_filters.FilterSet):
    """The filter bar; the query itself is `selectors.referer_list`."""

    q = django_filters.CharFilter(label=gettext_lazy("Search"))
    active = django_filters.ChoiceFilter(
        label=gettext_lazy("Status"),
        choices=[("1", gettext_lazy("Active")), ("0", gettext_lazy("Inactive"))],
        empty_label=gettext_lazy("Any status"),
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
