"""Billing tables (django-tables2) and filter bars (django-filter), staff and portal."""

from __future__ import annotations

import datetime

import django_filters
import django_tables2 as tables
from django import forms
from django.db.models import Q
from django.middleware.csrf import get_token
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tenant_apps.instance import clock
from tenant_apps.instance.money import format_money

from .models import Invoice, Payment, TaxRate
from .selectors import open_invoice_q, overdue_invoice_q

# Status → badge class of the design system.
STATUS_BADGES = {
    Invoice.Status.DRAFT: "badge-neutral",
    Invoice.Status.ISSUED: "badge-info",
    Invoice.Status.PARTIALLY_PAID: "badge-warning",
    Invoice.Status.PAID: "badge-success",
    Invoice.Status.CREDITED: "badge-neutral",
    Invoice.Status.VOID: "badge-terminated",
}


def customer_url(customer_id: int) -> str | None:
    """The staff page of a customer, when the clients screens provide one."""
    try:
        return reverse("clients:customer_detail", args=[customer_id])
    except NoReverseMatch:
        return None


def is_overdue(invoice: Invoice, today: datetime.date | None = None) -> bool:
    return (
        invoice.kind == Invoice.Kind.INVOICE
        and invoice.status in (Invoice.Status.ISSUED, Invoice.Status.PARTIALLY_PAID)
        and invoice.due_date is not None
        and invoice.due_date < (today or clock.today())
    )


def status_badge(invoice: Invoice, today: datetime.date | None = None) -> str:
    """The status as a badge; an unpaid invoice past its due date shows “Overdue”."""
    if is_overdue(invoice, today):
        return format_html(
            '<span class="badge badge-danger" title="{}">{}</span>',
            invoice.get_status_display(),
            _("Overdue"),
        )
    return format_html(
        '<span class="badge {}">{}</span>',
        STATUS_BADGES.get(invoice.status, "badge-neutral"),
        invoice.get_status_display(),
    )


def kind_badge(invoice: Invoice) -> str:
    if invoice.kind == Invoice.Kind.CREDIT_NOTE:
        return format_html('<span class="badge badge-accent">{}</span>', _("Credit note"))
    return _("Invoice")


class MoneyColumn(tables.Column):
    """An amount in the record's currency, right-aligned."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("attrs", {"th": {"class": "num"}, "td": {"class": "num nowrap"}})
        super().__init__(*args, **kwargs)

    def render(self, value, record):
        return format_money(value, record.currency)


class InvoiceTable(tables.Table):
    number = tables.Column(
        verbose_name=gettext_lazy("Number"), order_by=("number", "id"), empty_values=()
    )
    kind = tables.Column(verbose_name=gettext_lazy("Kind"))
    customer = tables.Column(order_by=("customer__name",), verbose_name=gettext_lazy("Customer"))
    status = tables.Column(verbose_name=gettext_lazy("Status"))
    issue_date = tables.DateColumn(format="Y-m-d", verbose_name=gettext_lazy("Issued"))
    due_date = tables.DateColumn(format="Y-m-d", verbose_name=gettext_lazy("Due"))
    total = MoneyColumn(verbose_name=gettext_lazy("Total"))
    balance = MoneyColumn(verbose_name=gettext_lazy("Amount due"))

    class Meta:
        model = Invoice
        fields = [
            "number",
            "kind",
            "customer",
            "status",
            "issue_date",
            "due_date",
            "total",
            "balance",
        ]
        empty_text = gettext_lazy("No invoices match these filters.")
        attrs = {"class": "table"}

    detail_url_name = "billing:invoice_detail"

    def render_number(self, record):
        label = record.number or _("Draft #%(id)s") % {"id": record.pk}
        css = "mono" if record.number else "muted"
        return format_html(
            '<a class="{}" href="{}">{}</a>',
            css,
            reverse(self.detail_url_name, args=[record.pk]),
            label,
        )

    def render_kind(self, record):
        return kind_badge(record)

    def render_due_date(self, record, value):
        if value is None or record.kind == Invoice.Kind.CREDIT_NOTE:
            return "—"  # drafts have no due date yet; credit notes are never paid
        return value.strftime("%Y-%m-%d")

    def render_balance(self, record, value):
        if record.status in (Invoice.Status.DRAFT, Invoice.Status.VOID) or (
            record.kind == Invoice.Kind.CREDIT_NOTE
        ):
            return mark_safe('<span class="muted">—</span>')  # nothing can be owed
        return format_money(value, record.currency)

    def render_customer(self, record):
        url = customer_url(record.customer_id)
        if url is None:
            return str(record.customer)
        return format_html('<a href="{}">{}</a>', url, record.customer)

    def render_status(self, record):
        if not hasattr(self, "_today"):
            self._today = clock.today()  # once per table, not once per row
        return status_badge(record, self._today)


class PortalInvoiceTable(InvoiceTable):
    """The customer's own documents: no customer column, links stay in the portal."""

    detail_url_name = "portal_billing:invoice_detail"
    pdf = tables.Column(empty_values=(), orderable=False, verbose_name="")

    class Meta(InvoiceTable.Meta):
        exclude = ["customer"]
        sequence = ["number", "kind", "status", "issue_date", "due_date", "total", "balance", "pdf"]
        empty_text = gettext_lazy("No invoices yet.")

    def render_pdf(self, record):
        if not record.pdf:
            return format_html('<span class="muted text-sm">{}</span>', _("PDF soon"))
        return format_html(
            '<a class="btn btn-ghost btn-sm" href="{}">PDF</a>',
            reverse("portal_billing:invoice_pdf", args=[record.pk]),
        )


class InvoiceFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=gettext_lazy("Search"))
    status = django_filters.ChoiceFilter(
        choices=[("open", gettext_lazy("Open (not yet paid)")), *Invoice.Status.choices],
        empty_label=gettext_lazy("Any status"),
        method="with_status",
        label=gettext_lazy("Status"),
    )
    kind = django_filters.ChoiceFilter(
        choices=Invoice.Kind.choices,
        empty_label=gettext_lazy("Any kind"),
        label=gettext_lazy("Kind"),
    )
    overdue = django_filters.BooleanFilter(
        method="only_overdue", label=gettext_lazy("Overdue only"), widget=forms.CheckboxInput
    )

    class Meta:
        model = Invoice
        fields = ["q", "status", "kind", "overdue"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.form.fields["q"].widget.attrs["placeholder"] = _("Number or customer")

    def search(self, queryset, name, value):
        text = value.strip()
        if not text:
            return queryset
        query = (
            Q(number__icontains=text)
            | Q(customer__name__icontains=text)
            | Q(customer__company_name__icontains=text)
            | Q(customer__email__icontains=text)
        )
        # "Draft #12" and "#12" find drafts, which have no number yet.
        digits = text.lower().removeprefix("draft").strip().lstrip("#")
        if digits.isdecimal():
            query |= Q(pk=int(digits))
        return queryset.filter(query)

    def with_status(self, queryset, name, value):
        if value == "open":
            return queryset.filter(open_invoice_q())
        return queryset.filter(status=value)

    def only_overdue(self, queryset, name, value):
        return queryset.filter(overdue_invoice_q()) if value else queryset


class PaymentTable(tables.Table):
    received_on = tables.Column(verbose_name=gettext_lazy("Received"))
    customer = tables.Column(order_by=("customer__name",), verbose_name=gettext_lazy("Customer"))
    invoice = tables.Column(
        order_by=("invoice__number",), verbose_name=gettext_lazy("Invoice"), empty_values=()
    )
    method = tables.Column(verbose_name=gettext_lazy("Method"))
    reference = tables.Column(verbose_name=gettext_lazy("Reference"))
    amount = MoneyColumn(verbose_name=gettext_lazy("Amount"))
    applied_amount = MoneyColumn(verbose_name=gettext_lazy("On invoices"))
    refunded_amount = MoneyColumn(verbose_name=gettext_lazy("Refunded"))
    created_by = tables.Column(
        verbose_name=gettext_lazy("Recorded by"), order_by=("created_by__email",)
    )

    class Meta:
        model = Payment
        fields = [
            "received_on",
            "customer",
            "invoice",
            "method",
            "reference",
            "amount",
            "applied_amount",
            "refunded_amount",
            "created_by",
        ]
        empty_text = gettext_lazy("No payments match these filters.")
        attrs = {"class": "table"}

    def render_customer(self, record):
        url = customer_url(record.customer_id)
        if url is None:
            return str(record.customer)
        return format_html('<a href="{}">{}</a>', url, record.customer)

    def render_received_on(self, value, record):
        label = format_html(
            '<a href="{}">{}</a>',
            reverse("billing:payment_detail", args=[record.pk]),
            value.isoformat(),
        )
        if record.is_reversed:
            return format_html(
                '{} <span class="badge badge-danger">{}</span>', label, _("Reversed")
            )
        return label

    def render_invoice(self, record):
        if record.invoice_id is None:
            return _("Several") if record.applied_amount else "—"
        return format_html(
            '<a class="mono" href="{}">{}</a>',
            reverse("billing:invoice_detail", args=[record.invoice_id]),
            record.invoice,
        )

    def render_method(self, record):
        return record.get_method_display()

    def render_created_by(self, record):
        return format_html('<span class="muted">{}</span>', record.created_by.email)


class PaymentFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=gettext_lazy("Search"))
    method = django_filters.ChoiceFilter(
        choices=Payment.Method.choices,
        empty_label=gettext_lazy("Any method"),
        label=gettext_lazy("Method"),
    )
    received_after = django_filters.DateFilter(
        field_name="received_on",
        lookup_expr="gte",
        label=gettext_lazy("From"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    received_before = django_filters.DateFilter(
        field_name="received_on",
        lookup_expr="lte",
        label=gettext_lazy("To"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    class Meta:
        model = Payment
        fields = ["q", "method", "received_after", "received_before"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.form.fields["q"].widget.attrs["placeholder"] = _("Customer, invoice or reference")

    def search(self, queryset, name, value):
        text = value.strip()
        if not text:
            return queryset
        return queryset.filter(
            Q(customer__name__icontains=text)
            | Q(customer__company_name__icontains=text)
            | Q(invoice__number__icontains=text)
            | Q(reference__icontains=text)
        )


class TaxRateTable(tables.Table):
    country = tables.Column(verbose_name=gettext_lazy("Country"))
    tax_class = tables.Column(order_by=("tax_class__name",), verbose_name=gettext_lazy("Tax class"))
    name = tables.Column(verbose_name=gettext_lazy("Name"))
    rate = tables.Column(
        attrs={"th": {"class": "num"}, "td": {"class": "num"}}, verbose_name=gettext_lazy("Rate")
    )
    actions = tables.Column(empty_values=(), orderable=False, verbose_name="")

    class Meta:
        model = TaxRate
        fields = ["country", "tax_class", "name", "rate"]
        empty_text = gettext_lazy("No tax rates yet.")
        attrs = {"class": "table"}

    def __init__(self, *args, can_manage: bool = False, **kwargs):
        if not can_manage:
            kwargs["exclude"] = ["actions"]
        super().__init__(*args, **kwargs)

    def render_country(self, record):
        return format_html(
            '<span class="mono">{}</span> {}', record.country.code, record.country.name
        )

    def render_rate(self, record):
        return f"{record.rate.normalize():f} %"

    def render_actions(self, record):
        return format_html(
            '<div class="actions">'
            '<a class="btn btn-ghost btn-sm" href="{}">{}</a>'
            '<form method="post" action="{}" class="inline" data-confirm="{}">'
            '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
            '<button class="btn btn-ghost btn-sm">{}</button></form></div>',
            reverse("billing:taxrate_edit", args=[record.pk]),
            _("Edit"),
            reverse("billing:taxrate_delete", args=[record.pk]),
            _("Delete the %(tax_class)s rate for %(country)s?")
            % {"tax_class": record.tax_class, "country": record.country.name},
            get_token(self.request),
            _("Delete"),
        )
