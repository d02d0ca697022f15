"""Customer portal pages of e-invoicing: how the customer receives documents, and each of
their own issued documents as an e-invoice.

Only the signed-in customer's own issued documents are reachable (`get_invoice_for`): a
draft or another customer's document is a 404, as on billing's portal pages.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views import View

from tenant_apps.accounts.permissions import CustomerRequiredMixin
from tenant_apps.billing.models import Invoice
from tenant_apps.billing.selectors import get_invoice_for
from tenant_apps.clients.selectors import customer_for_user
from tenant_apps.instance.forms import form_add_service_errors

from . import services
from .documents import EInvoiceRefused, NotIssued, einvoice_produce
from .formats import parse_format
from .forms import CustomerEInvoicingForm
from .models import CustomerEInvoicing
from .selectors import customer_profile_get
from .views import file_response, refused_page


class PortalSettingsView(CustomerRequiredMixin, View):
    template_name = "einvoice/portal_settings.html"

    def _customer(self):
        customer = customer_for_user(self.request.user)
        if customer is None:
            raise Http404("No customer account is linked to this sign-in.")
        return customer

    def render_page(self, form, status=200):
        return render(self.request, self.template_name, {"form": form}, status=status)

    def get(self, request):
        customer = self._customer()
        profile = customer_profile_get(customer.pk) or CustomerEInvoicing(customer=customer)
        return self.render_page(CustomerEInvoicingForm(instance=profile))

    def post(self, request):
        customer = self._customer()
        profile = customer_profile_get(customer.pk) or CustomerEInvoicing(customer=customer)
        form = CustomerEInvoicingForm(request.POST, instance=profile)
        if not form.is_valid():
            return self.render_page(form, status=400)
        try:
            services.customer_einvoicing_update(
                customer=customer, actor=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            form_add_service_errors(form, exc)
            return self.render_page(form, status=400)
        messages.success(
            request, gettext("Saved: your next invoices come in the format you chose.")
        )
        return redirect("portal_einvoice:settings")


class PortalDocumentDownloadView(CustomerRequiredMixin, View):
    def get(self, request, pk: int, fmt: str):
        fmt = parse_format(fmt)
        if fmt is None:
            raise Http404("No such format.")
        try:
            invoice = get_invoice_for(request.user, pk)
        except Invoice.DoesNotExist as exc:
            raise Http404("No such invoice.") from exc
        back = reverse("portal_billing:invoice_detail", args=[invoice.pk])
        try:
            return file_response(einvoice_produce(invoice=invoice, fmt=fmt))
        except NotIssued as exc:
            raise Http404("No such invoice.") from exc
        except EInvoiceRefused as exc:
            return refused_page(
                request, fmt=fmt, problems=exc.problems, back_url=back, layout="layouts/portal.html"
            )
