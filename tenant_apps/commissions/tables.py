"""Tables (django-tables2) and filter bars (django-filter) of the commission screens."""

from __future__ import annotations

import django_filters
import django_tables2 as tables
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from tenant_apps.referrals.models import Referer

from .models import CommissionEntry, CommissionRule, Payout
from .selectors import entry_list


def _status_badge(entry: CommissionEntry) -> str:
    if entry.payout_id:
        return format_html('<span class="badge badge-{}">{}</span>', "active", _("Paid out"))
    if entry.matures_on > timezone.localdate():
        return format_html('<span class="badge badge-{}">{}</span>', "pending", _("Pending"))
    return format_html('<span class="badge badge-{}">{}</span>', "issued", _("Payable"))


class EntryTable(tables.Table):
    created_at = tables.DateTimeColumn(
        format="Y-m-d", verbose_name=gettext_lazy("Date"), attrs={"td": {"class": "nowrap"}}
    )
    referer = tables.Column(verbose_name=gettext_lazy("Partner"), order_by=("referer__name",))
    level = tables.Column(attrs={"td": {"class": "num"}}, verbose_name=gettext_lazy("Level"))
    kind = tables.Column(verbose_name=gettext_lazy("Entry"))
    invoice = tables.Column(
        linkify=("billing:invoice_detail", {"pk": tables.A("invoice_id")}),
        order_by=("invoice_id",),
        attrs={"td": {"class": "nowrap"}},
        verbose_name=gettext_lazy("Invoice"),
    )
    base = tables.Column(verbose_name=gettext_lazy("Net amount"), attrs={"td": {"class": "num"}})
    amount = tables.Column(verbose_name=gettext_lazy("Commission"), attrs={"td": {"class": "num"}})
    currency = tables.Column(verbose_name=gettext_lazy("Currency"))
    matures_on = tables.DateColumn(
        format="Y-m-d", verbose_name=gettext_lazy("Payable from"), attrs={"td": {"class": "nowrap"}}
    )
    status = tables.Column(empty_values=(), orderable=False, verbose_name=gettext_lazy("Status"))

    class Meta:
        model = CommissionEntry
        fields = [
            "created_at",
            "referer",
            "level",
            "kind",
            "invoice",
            "base",
            "amount",
            "currency",
            "matures_on",
        ]
        empty_text = gettext_lazy("No ledger entries match.")
        attrs = {"class": "table"}

    def render_referer(self, record):
        return record.referer.name

    def render_status(self, record):
        return _status_badge(record)


class PartnerEntryTable(EntryTable):
    """The partner's own ledger in the portal: no links into staff screens."""

    invoice = tables.Column(verbose_name=gettext_lazy("Invoice"), order_by=("invoice_id",))

    class Meta(EntryTable.Meta):
        exclude = ["referer"]


class EntryFilter(django_filters.FilterSet):
    referer = django_filters.ModelChoiceFilter(
        queryset=Referer.objects.order_by("name"),
        label=gettext_lazy("Partner"),
        empty_label=gettext_lazy("Any partner"),
    )
    currency = django_filters.CharFilter(label=gettext_lazy("Currency"))
    status = django_filters.ChoiceFilter(
        label=gettext_lazy("Status"),
        choices=[
            ("pending", gettext_lazy("Pending")),
            ("payable", gettext_lazy("Payable")),
            ("paid", gettext_lazy("Paid out")),
        ],
        empty_label=gettext_lazy("Any status"),
    )

    class Meta:
        model = CommissionEntry
        fields = ["referer", "currency", "status"]

    def filter_queryset(self, queryset):
        data = self.form.cleaned_data
        referer = data.get("referer")
        return entry_list(
            referer_id=referer.pk if referer else None,
            currency=(data.get("currency") or "").strip().upper() or None,
            status=data.get("status") or None,
        )


class RuleTable(tables.Table):
    name = tables.Column(
        linkify=("commissions:rule_edit", {"pk": tables.A("pk")}), verbose_name=gettext_lazy("Name")
    )
    product = tables.Column(empty_values=(), verbose_name=gettext_lazy("Product"))
    terms = tables.Column(empty_values=(), orderable=False, verbose_name=gettext_lazy("Terms"))
    duration = tables.Column(empty_values=(), verbose_name=gettext_lazy("Paid on"), orderable=False)
    tiers = tables.Column(
        empty_values=(), orderable=False, verbose_name=gettext_lazy("Volume tiers")
    )
    second_level_rate = tables.Column(
        verbose_name=gettext_lazy("Second level"), attrs={"td": {"class": "num"}}
    )
    is_active = tables.Column(verbose_name=gettext_lazy("Status"))

    class Meta:
        model = CommissionRule
        fields = ["name", "product", "second_level_rate", "is_active"]
        sequence = (
            "name",
            "product",
            "terms",
            "duration",
            "tiers",
            "second_level_rate",
            "is_active",
        )
        empty_text = gettext_lazy("No rules.")
        attrs = {"class": "table"}

    def render_product(self, record):
        return record.product.name if record.product_id else _("Every product")

    def render_terms(self, record):
        if record.kind == CommissionRule.Kind.PERCENT:
            return f"{record.rate.normalize():f} %"
        return _("%(amount)s %(currency)s per invoice line") % {
            "amount": record.amount,
            "currency": record.currency,
        }

    def render_duration(self, record):
        if record.duration == CommissionRule.Duration.FIRST_INVOICE:
            return _("First invoice only")
        if record.months:
            return ngettext(
                "Recurring, %(count)s month", "Recurring, %(count)s months", record.months
            ) % {"count": record.months}
        return _("Recurring, always")

    def render_tiers(self, record):
        tiers = list(record.tiers.all())
        if not tiers:
            return "—"
        field = "rate" if record.kind == CommissionRule.Kind.PERCENT else "amount"
        return ", ".join(
            _("from %(orders)s: %(value)s")
            % {"orders": t.min_conversions, "value": getattr(t, field)}
            for t in tiers
        )

    def render_second_level_rate(self, value):
        return f"{value.normalize():f} %" if value else "—"

    def render_is_active(self, record):
        if record.is_active:
            return format_html('<span class="badge badge-{}">{}</span>', "active", _("Active"))
        return format_html('<span class="badge badge-{}">{}</span>', "terminated", _("Inactive"))


class PayoutTable(tables.Table):
    paid_on = tables.DateColumn(
        format="Y-m-d", verbose_name=gettext_lazy("Paid on"), attrs={"td": {"class": "nowrap"}}
    )
    referer = tables.Column(verbose_name=gettext_lazy("Partner"), order_by=("referer__name",))
    amount = tables.Column(attrs={"td": {"class": "num"}}, verbose_name=gettext_lazy("Amount"))
    currency = tables.Column(verbose_name=gettext_lazy("Currency"))
    method = tables.Column(verbose_name=gettext_lazy("Method"))
    reference = tables.Column(verbose_name=gettext_lazy("Reference"))
    statement = tables.Column(
        empty_values=(), orderable=False, verbose_name=gettext_lazy("Statement")
    )

    class Meta:
        model = Payout
        fields = ["paid_on", "referer", "amount", "currency", "method", "reference"]
        empty_text = gettext_lazy("No payouts yet.")
        attrs = {"class": "table"}

    statement_url = "commissions:statement"

    def render_referer(self, record):
        return record.referer.name

    def render_statement(self, record):
        pdf = reverse(self.statement_url, kwargs={"pk": record.pk, "fmt": "pdf"})
        csv = reverse(self.statement_url, kwargs={"pk": record.pk, "fmt": "csv"})
        return format_html('<a href="{}">PDF</a> · <a href="{}">CSV</a>', pdf, csv)


class PartnerPayoutTable(PayoutTable):
    statement_url = "portal_commissions:statement"

    class Meta(PayoutTable.Meta):
        exclude = ["referer"]
