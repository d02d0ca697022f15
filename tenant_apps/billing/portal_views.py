"""Customer portal pages of billing: the signed-in customer's own invoices and credit notes.

Everything goes through `get_invoice_for` / `portal_invoice_list`, which only ever return the
customer's own issued documents: a draft, or another customer's document, is a 404 — the
page does not even reveal that it exists.
"""

from __future__ import annotations

from decimal import Decimal

from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView
from django_tables2 import RequestConfig

from tenant_apps.accounts.permissions import CustomerRequiredMixin
from tenant_apps.clients.selectors import customer_for_user
from tenant_apps.instance.money import ZERO, format_money

from .selectors import portal_invoice_list
from .tables import PortalInvoiceTable
from .views.common import document_page_context, invoice_or_404, pdf_response


class PortalInvoiceListView(CustomerRequiredMixin, TemplateView):
    template_name = "billing/portal/invoice_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        documents = portal_invoice_list(self.request.user)
        table = PortalInvoiceTable(documents)
        RequestConfig(self.request, paginate={"per_page": 25}).configure(table)
        owed: dict[str, Decimal] = {}
        for invoice in documents.filter(balance__gt=0):
            owed[invoice.currency] = owed.get(invoice.currency, ZERO) + invoice.balance
        customer = customer_for_user(self.request.user)
        currency = customer.currency if customer else "EUR"
        context.update(
            table=table,
            any_documents=documents.exists(),
            owed=[format_money(amount, code) for code, amount in sorted(owed.items())],
            nothing_owed=format_money(ZERO, currency),
            credit=format_money(customer.credit_balance if customer else ZERO, currency),
        )
        return context


class PortalInvoiceDetailView(CustomerRequiredMixin, TemplateView):
    template_name = "billing/portal/invoice_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        invoice = invoice_or_404(self.request, self.kwargs["pk"])
        # The same presentation as the staff page and the PDF.
        context.update(document_page_context(invoice))
        return context


class PortalInvoicePdfView(CustomerRequiredMixin, View):
    def get(self, request, pk: int):
        invoice = invoice_or_404(request, pk)
        return pdf_response(
            request,
            invoice,
            back_url=reverse("portal_billing:invoice_detail", args=[invoice.pk]),
        )
