"""Console tables (django-tables2) and filters (django-filter)."""

import django_filters
import django_tables2 as tables
from django.db.models import Q
from django.utils.html import format_html
from django.utils.translation import gettext_lazy

from shared_apps.tenancy.models import Reseller


class ResellerTable(tables.Table):
    name = tables.Column(
        linkify=("console:reseller_detail", {"slug": tables.A("slug")}),
        verbose_name=gettext_lazy("Name"),
    )
    slug = tables.Column(verbose_name=gettext_lazy("Slug"))
    domain = tables.Column(empty_values=(), orderable=False, verbose_name=gettext_lazy("Domain"))
    status = tables.Column(verbose_name=gettext_lazy("Status"))
    provisioned_by = tables.Column(verbose_name=gettext_lazy("Built from"))
    created_at = tables.DateTimeColumn(format="Y-m-d H:i", verbose_name=gettext_lazy("Created"))

    class Meta:
        model = Reseller
        fields = ["name", "slug", "domain", "status", "provisioned_by", "created_at"]
        empty_text = gettext_lazy("No resellers match.")
        attrs = {"class": "table"}

    def render_domain(self, record):
        return record.primary_domain_name() or "—"

    def render_status(self, record):
        return format_html(
            '<span class="badge badge-{}">{}</span>', record.status, record.get_status_display()
        )


class ResellerFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=gettext_lazy("Search"))
    status = django_filters.ChoiceFilter(
        choices=Reseller.Status.choices,
        empty_label=gettext_lazy("Any status"),
        label=gettext_lazy("Status"),
    )

    class Meta:
        model = Reseller
        fields = ["q", "status"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(name__icontains=value)
            | Q(slug__icontains=value)
            | Q(legal_name__icontains=value)
            | Q(domains__domain__icontains=value)
        ).distinct()
