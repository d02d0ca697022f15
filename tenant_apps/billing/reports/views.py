"""Staff screens of the reports: one page per report, a date-range form read from the query
string, the tables, and downloads (`?export=csv|xlsx`, `&table=` picks a CSV's table).

Reports are for the owner, administrators and billing staff (`BillingWriteMixin`):
support staff and customers get a 403, anonymous visitors the sign-in page. A date that
cannot be read, or an end before the start, is shown on the form with a 400.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.generic import TemplateView
from django_tables2 import RequestConfig

from tenant_apps.accounts.permissions import BillingWriteMixin
from tenant_apps.clients.models import Customer
from tenant_apps.instance.money import format_money

from . import exporters, selectors, tables
from .forms import AgingForm, DateRangeForm, StatementCustomerForm, VatReportForm
from .statements import statement_filename, statement_pdf_render, statement_presentation

PER_PAGE = 50
UNKNOWN_EXPORT = gettext_lazy("Choose CSV or XLSX to download.")


def _query(form, **extra) -> str:
    values = {name: form.cleaned_data[name] for name in form.fields if name in form.cleaned_data}
    values.update(extra)
    return urlencode({key: value for key, value in values.items() if value not in (None, "")})


def money_totals(rows: list[dict], columns: Sequence[tuple[str, str]]) -> dict:
    """Per-currency totals as text, for the summary under a table: (key, header) columns."""
    return {
        "headers": [header for _key, header in columns],
        "rows": [
            {
                "currency": row["currency"],
                "cells": [
                    format_money(row[key], row["currency"])
                    if isinstance(row[key], Decimal)
                    else row[key]
                    for key, _header in columns
                ],
            }
            for row in rows
        ],
    }


class ReportView(BillingWriteMixin, View):
    """A report page: bind the form, compute, then show it or send it as a file."""

    template_name = ""
    form_class: type = DateRangeForm
    stem = "report"
    # CSV tables: (name, button label), the first the default; an XLSX has them all.
    csv_tables: Sequence[tuple[str, str]] = ()

    def compute(self, data: dict):  # pragma: no cover - every report defines it
        raise NotImplementedError

    def sheets(self, report) -> list[exporters.Sheet]:  # pragma: no cover
        raise NotImplementedError

    def context(self, report, form) -> dict:
        return {}

    def filename(self, form, table: str = "") -> str:
        """vat-2026-01-01_2026-03-31, vat-ec_sales-2026-01-01_2026-03-31 …"""
        data = form.cleaned_data
        dates = (
            f"{data['start']:%Y-%m-%d}_{data['end']:%Y-%m-%d}"
            if "start" in data
            else f"{data['as_of']:%Y-%m-%d}"
        )
        parts = [self.stem, table if table != self.stem else "", dates]
        return "-".join(part for part in parts if part)

    def render_page(self, form, *, report=None, status: int = 200):
        context = {"form": form, "report": report, "downloads": []}
        if report is not None:
            context.update(self.context(report, form))
            context["downloads"] = self.downloads(form)
        return render(self.request, self.template_name, context, status=status)

    def downloads(self, form) -> list[dict]:
        links = [
            {
                "label": f"CSV · {label}" if len(self.csv_tables) > 1 else "CSV",
                "url": f"?{_query(form, export='csv', table=table)}",
            }
            for table, label in self.csv_tables
        ]
        links.append({"label": "XLSX", "url": f"?{_query(form, export='xlsx')}"})
        return links

    def export(self, report, form, kind: str, table: str) -> HttpResponse:
        sheets = self.sheets(report)
        if kind == "xlsx":
            return exporters.xlsx_response(sheets, stem=self.filename(form))
        names = [name for name, _label in self.csv_tables]
        chosen = names.index(table) if table in names else 0
        return exporters.csv_response(sheets[chosen], stem=self.filename(form, names[chosen]))

    def get(self, request, *args, **kwargs):
        form = self.form_class.from_query(request.GET)
        export = request.GET.get("export", "")
        if not form.is_valid():
            return self.render_page(form, status=400)
        if export and export not in exporters.FORMATS:
            form.add_error(None, UNKNOWN_EXPORT)
            return self.render_page(form, status=400)
        report = self.compute(form.cleaned_data)
        if export:
            return self.export(report, form, export, request.GET.get("table", ""))
        return self.render_page(form, report=report)

    def table(self, table_class, rows, *, prefix: str, **kwargs):
        table = table_class(rows, prefix=prefix, **kwargs)
        RequestConfig(self.request, paginate={"per_page": PER_PAGE}).configure(table)
        return table


class ReportIndexView(BillingWriteMixin, TemplateView):
    template_name = "billing/reports/index.html"


class VatReportView(ReportView):
    template_name = "billing/reports/vat.html"
    form_class = VatReportForm
    stem = "vat"
    csv_tables = (("vat", "VAT"), ("ec_sales", "EC sales list"))

    def compute(self, data):
        return selectors.vat_report(start=data["start"], end=data["end"], period=data["period"])

    def sheets(self, report):
        return exporters.vat_sheets(report)

    def context(self, report, form):
        return {
            "vat_table": self.table(
                tables.VatTable, report.rows, prefix="vat-", period=report.period
            ),
            "ec_table": self.table(tables.EcSalesTable, report.ec_sales, prefix="ec-"),
            "totals": money_totals(report.totals, (("net", _("Net")), ("vat", _("VAT")))),
            "ec_totals": money_totals(report.ec_totals, (("net", _("Net")),)),
        }


class RevenueReportView(ReportView):
    template_name = "billing/reports/revenue.html"
    stem = "revenue"
    csv_tables = (("invoiced", "invoiced"), ("collected", "collected"), ("deferred", "deferred"))

    def compute(self, data):
        return selectors.revenue_report(start=data["start"], end=data["end"])

    def sheets(self, report):
        return exporters.revenue_sheets(report)

    def context(self, report, form):
        return {
            "invoiced_table": self.table(tables.InvoicedTable, report.invoiced, prefix="inv-"),
            "collected_table": self.table(tables.CollectedTable, report.collected, prefix="col-"),
            "deferred_table": self.table(tables.DeferredTable, report.deferred, prefix="def-"),
            "invoiced_totals": money_totals(
                report.invoiced_totals,
                (
                    ("net", _("Net")),
                    ("vat", _("VAT")),
                    ("gross", _("Gross")),
                    ("invoices", _("Invoices")),
                    ("credit_notes", _("Credit notes")),
                ),
            ),
            "collected_totals": money_totals(
                report.collected_totals,
                (
                    ("received", _("Received")),
                    ("refunded", _("Refunded")),
                    ("amount", _("Collected")),
                    ("payments", _("Payments")),
                ),
            ),
        }


class AgingReportView(ReportView):
    template_name = "billing/reports/aging.html"
    form_class = AgingForm
    stem = "aging"
    csv_tables = (("aging", "CSV"),)

    def compute(self, data):
        return selectors.aging_report(as_of=data["as_of"])

    def sheets(self, report):
        return exporters.aging_sheets(report)

    def context(self, report, form):
        return {
            "aging_table": self.table(tables.AgingTable, report.rows, prefix="aging-"),
            "totals": money_totals(
                report.totals,
                (
                    *((key, label) for key, label, _low, _high in selectors.AGING_BUCKETS),
                    ("total", _("Total owed")),
                    ("invoices", _("Open invoices")),
                ),
            ),
        }


class JournalView(ReportView):
    template_name = "billing/reports/journal.html"
    stem = "journal"
    csv_tables = (("journal", "CSV"),)

    def compute(self, data):
        return {"start": data["start"], "end": data["end"]}

    def export(self, report, form, kind, table):
        if kind == "csv":
            # Written by PostgreSQL and streamed: a year of documents never sits in memory.
            return exporters.journal_csv_response(**report, stem=self.filename(form))
        rows = selectors.journal_count(**report)
        if rows > exporters.XLSX_MAX_ROWS:
            form.add_error(None, exporters.too_many_rows_for_xlsx(rows))
            return self.render_page(form, report=report, status=400)
        return exporters.xlsx_response(
            [exporters.journal_sheet(**report)], stem=self.filename(form)
        )

    def context(self, report, form):
        return {
            "journal_table": self.table(
                tables.JournalTable, tables.JournalData(**report), prefix="j-"
            ),
            "totals": money_totals(
                selectors.journal_totals(**report),
                (
                    ("invoices", _("Invoices")),
                    ("credit_notes", _("Credit notes")),
                    ("net", _("Net")),
                    ("vat", _("VAT")),
                    ("gross", _("Gross")),
                    ("payments", _("Payments")),
                    ("received", _("Received")),
                    ("reversed", _("Reversed")),
                    ("refunded", _("Refunded")),
                ),
            ),
        }


# --------------------------------------------------------------------------------------
# Statements


class StatementPickView(BillingWriteMixin, View):
    """Statements: choose a customer, then read (or print) their statement."""

    template_name = "billing/reports/statement_pick.html"

    def get(self, request):
        form = StatementCustomerForm(request.GET or None)
        if form.is_bound and form.is_valid():
            return redirect(
                "billing:report_statement", customer_pk=form.cleaned_data["customer"].pk
            )
        status = 400 if form.is_bound else 200
        return render(request, self.template_name, {"form": form}, status=status)


class StatementPageMixin:
    """The statement of one customer for a range: the page, or `…/pdf/` as a PDF."""

    template_name = "billing/reports/statement.html"
    as_pdf = False
    layout = "layouts/staff.html"

    def get_customer(self) -> Customer:
        try:
            return selectors.get_statement_customer_for(
                self.request.user, self.kwargs["customer_pk"]
            )
        except Customer.DoesNotExist as exc:
            raise Http404("No such customer.") from exc

    def pdf_url(self, customer: Customer) -> str:  # pragma: no cover - each side names it
        raise NotImplementedError

    def page_url(self, customer: Customer) -> str:  # pragma: no cover
        raise NotImplementedError

    def get(self, request, customer_pk: int):
        customer = self.get_customer()
        form = DateRangeForm.from_query(request.GET)
        if not form.is_valid():
            if self.as_pdf:
                messages.error(request, _("Choose a valid date range for the statement."))
                return redirect(f"{self.page_url(customer)}?{request.GET.urlencode()}")
            return self.render_page(customer, form, None, status=400)
        statement = selectors.customer_statement(customer=customer, **form.cleaned_data)
        if self.as_pdf:
            response = HttpResponse(statement_pdf_render(statement), content_type="application/pdf")
            response["Content-Disposition"] = (
                f'attachment; filename="{statement_filename(statement)}"'
            )
            return response
        return self.render_page(customer, form, statement)

    def render_page(self, customer, form, statement, status: int = 200):
        context = {
            "customer": customer,
            "form": form,
            "layout": self.layout,
            "view": statement_presentation(statement) if statement else None,
            "pdf_url": f"{self.pdf_url(customer)}?{_query(form)}" if statement else "",
            "is_staff_page": self.layout == "layouts/staff.html",
        }
        return render(self.request, self.template_name, context, status=status)


class StatementView(BillingWriteMixin, StatementPageMixin, View):
    def pdf_url(self, customer):
        return reverse("billing:report_statement_pdf", args=[customer.pk])

    def page_url(self, customer):
        return reverse("billing:report_statement", args=[customer.pk])


class StatementPdfView(StatementView):
    as_pdf = True
