"""Customer list table (django-tables2) and its filters (django-filter, also used by the API)."""

from __future__ import annotations

import django_filters
import django_tables2 as tables
from django.utils.html import format_html
from django.utils.translation import gettext, gettext_lazy
from django_countries import countries

from tenant_apps.instance.money import format_money

from .models import Customer
from .selectors import customer_countries, customer_list
from .tax_ids import is_eu_vat_id

TAX_STATUS_BADGES = {
    Customer.TaxIdStatus.VALID: "badge-success",
    Customer.TaxIdStatus.INVALID: "badge-danger",
    Customer.TaxIdStatus.UNVERIFIED: "badge-warning",
}
STATUS_BADGES = {Customer.Status.ACTIVE: "badge-active", Customer.Status.CLOSED: "badge-neutral"}


def tax_status_badge(customer: Customer) -> str:
    css = TAX_STATUS_BADGES.get(customer.tax_id_status)
    if not css:
        return ""
    label = customer.get_tax_id_status_display()
    if customer.tax_id_status == Customer.TaxIdStatus.UNVERIFIED and not is_eu_vat_id(
        customer.tax_id, str(customer.country)
    ):
        # No registry exists for these ids: nothing is pending, so no warning colour.
        css, label = "badge-neutral", gettext("Format checked")
    return format_html(
        '<span class="badge {}" title="{}">{}</span>',
        css,
        customer.tax_id_check_detail.splitlines()[0] if customer.tax_id_check_detail else "",
        label,
    )


class CustomerTable(tables.Table):
    name = tables.Column(
        linkify=("clients:customer_detail", {"pk": tables.A("pk")}),
        order_by=("sort_name", "pk"),
        verbose_name=gettext_lazy("Customer"),
    )
    email = tables.EmailColumn(linkify=False, verbose_name=gettext_lazy("E-mail"))
    country = tables.Column(verbose_name=gettext_lazy("Country"))
    kind = tables.Column(verbose_name=gettext_lazy("Kind"))
    tax_id = tables.Column(verbose_name=gettext_lazy("Tax id"))
    credit_balance = tables.Column(
        verbose_name=gettext_lazy("Credit"), attrs={"th": {"class": "num"}, "td": {"class": "num"}}
    )
    status = tables.Column(verbose_name=gettext_lazy("Status"))
    created_at = tables.DateTimeColumn(format="Y-m-d", verbose_name=gettext_lazy("Created"))

    class Meta:
        model = Customer
        fields = [
            "name",
            "email",
            "country",
            "kind",
            "tax_id",
            "credit_balance",
            "status",
            "created_at",
        ]
        empty_text = gettext_lazy("No customers match.")
        attrs = {"class": "table"}

    def render_name(self, record: Customer):
        if record.company_name and record.company_name != record.name:
            return format_html(
                '{}<div class="muted text-sm">{}</div>', record.company_name, record.name
            )
        return record.display_name

    def render_country(self, record: Customer):
        return format_html('<span title="{}">{}</span>', record.country.name, record.country.code)

    def render_kind(self, record: Customer):
        return record.get_kind_display()

    def render_tax_id(self, record: Customer):
        return format_html(
            '<span class="mono">{}</span> {}', record.tax_id, tax_status_badge(record)
        )

    def render_credit_balance(self, record: Customer):
        return format_money(record.credit_balance, record.currency)

    def render_status(self, record: Customer):
        return format_html(
            '<span class="badge {}">{}</span>',
            STATUS_BADGES.get(record.status, "badge-neutral"),
            record.get_status_display(),
        )


class CustomerFilter(django_filters.FilterSet):
    """q / status / kind / country; the filtering itself is `selectors.customer_list`."""

    q = django_filters.CharFilter(label=gettext_lazy("Search"))
    status = django_filters.ChoiceFilter(
        choices=Customer.Status.choices, empty_label=gettext_lazy("Any status")
    )
    kind = django_filters.ChoiceFilter(
        choices=Customer.Kind.choices, empty_label=gettext_lazy("Any kind")
    )
    country = django_filters.ChoiceFilter(choices=(), empty_label=gettext_lazy("Any country"))

    class Meta:
        model = Customer
        fields = ["q", "status", "kind", "country"]

    def __init__(self, *args, all_countries: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        # Screens offer only countries customers are in (not 250 entries); the API accepts any.
        codes = [code for code, _ in countries] if all_countries else customer_countries()
        self.filters["country"].extra["choices"] = [
            (code, countries.name(code) or code) for code in codes
        ]
        self.form.fields["q"].widget.attrs.update(
            placeholder=gettext("Name, e-mail, tax id, city…")
        )

    def filter_queryset(self, queryset):
        data = self.form.cleaned_data
        return customer_list(
            search=data.get("q") or None,
            status=data.get("status") or None,
            kind=data.get("kind") or None,
            country=data.get("country") or None,
        )
