"""Staff screens of e-invoicing: the settings, a customer's details, one document's
download, the accountant's ZIP export, and the operator's bills for a reseller.

Every staff role reads and downloads; settings need the owner or an administrator, a
customer's details and the export are billing work (owner, administrators, billing).
A document that cannot be produced valid is never served: the page says why instead.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy
from django.views import View

from tenant_apps.accounts.permissions import BillingStaffMixin
from tenant_apps.billing.models import Invoice
from tenant_apps.billing.selectors import get_invoice_for
from tenant_apps.clients.models import Customer
from tenant_apps.instance.forms import form_add_service_errors

from . import ports, services
from .documents import EInvoiceRefused, NotIssued, einvoice_produce
from .export import einvoice_zip_stream, export_name
from .formats import SHORT_NAMES, EInvoiceFile, parse_format
from .forms import CustomerEInvoicingForm, ExportForm, IssuerEInvoicingForm
from .models import CustomerEInvoicing
from .selectors import customer_profile_get, issuer_settings_get

NOT_MANAGER = gettext_lazy("Only the owner or an administrator can change e-invoicing settings.")


def file_response(produced: EInvoiceFile) -> HttpResponse:
    response = HttpResponse(produced.content, content_type=produced.content_type)
    response["Content-Disposition"] = f'attachment; filename="{produced.filename}"'
    return response


def refused_page(request, *, fmt: str, problems, back_url: str, layout: str):
    """Why a document has no valid e-invoice, in plain words (422: nothing is served)."""
    return render(
        request,
        "einvoice/refused.html",
        {
            "format_name": SHORT_NAMES.get(fmt, fmt),
            "problems": problems,
            "back_url": back_url,
            "layout": layout,
        },
        status=422,
    )


class SettingsView(BillingStaffMixin, View):
    template_name = "einvoice/settings.html"

    def render_page(self, form, status=200):
        return render(
            self.request,
            self.template_name,
            {"form": form, "can_manage": self.request.user.can_manage_instance},
            status=status,
        )

    def get(self, request):
        return self.render_page(IssuerEInvoicingForm(instance=issuer_settings_get()))

    def post(self, request):
        if not request.user.can_manage_instance:
            raise PermissionDenied(NOT_MANAGER)
        form = IssuerEInvoicingForm(request.POST, instance=issuer_settings_get())
        if not form.is_valid():
            return self.render_page(form, status=400)
        try:
            services.issuer_einvoicing_update(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form_add_service_errors(form, exc)
            return self.render_page(form, status=400)
        messages.success(request, gettext("E-invoicing settings saved."))
        return redirect("einvoice:settings")


class CustomerDetailsView(BillingStaffMixin, View):
    """A customer's format and references, as staff see and change them."""

    template_name = "einvoice/customer.html"

    def render_page(self, customer, form, status=200):
        return render(
            self.request,
            self.template_name,
            {"customer": customer, "form": form, "can_bill": self.user_can_bill()},
            status=status,
        )

    def get(self, request, pk: int):
        customer = get_object_or_404(Customer, pk=pk)
        profile = customer_profile_get(customer.pk) or CustomerEInvoicing(customer=customer)
        return self.render_page(customer, CustomerEInvoicingForm(instance=profile))

    def post(self, request, pk: int):
        self.require_billing()
        customer = get_object_or_404(Customer, pk=pk)
        profile = customer_profile_get(customer.pk) or CustomerEInvoicing(customer=customer)
        form = CustomerEInvoicingForm(request.POST, instance=profile)
        if not form.is_valid():
            return self.render_page(customer, form, status=400)
        try:
            services.customer_einvoicing_update(
                customer=customer, actor=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            form_add_service_errors(form, exc)
            return self.render_page(customer, form, status=400)
        messages.success(
            request, gettext("E-invoicing details of %(customer)s saved.") % {"customer": customer}
        )
        next_url = request.POST.get("next", "")
        if next_url.startswith("/staff/") and "//" not in next_url:
            return redirect(next_url)
        return redirect("einvoice:customer", pk=customer.pk)


class DocumentDownloadView(BillingStaffMixin, View):
    """One issued document as Factur-X, Peppol or XRechnung — validated, or refused."""

    def get(self, request, pk: int, fmt: str):
        fmt = parse_format(fmt)
        if fmt is None:
            raise Http404("No such format.")
        try:
            invoice = get_invoice_for(request.user, pk)
        except Invoice.DoesNotExist as exc:
            raise Http404("No such invoice.") from exc
        back = reverse("billing:invoice_detail", args=[invoice.pk])
        try:
            return file_response(einvoice_produce(invoice=invoice, fmt=fmt))
        except NotIssued as exc:
            messages.error(request, str(exc))
            return redirect(back)
        except EInvoiceRefused as exc:
            return refused_page(
                request,
                fmt=fmt,
                problems=exc.problems,
                back_url=back,
                layout="layouts/staff.html",
            )


class ExportView(BillingStaffMixin, View):
    """The accountant's ZIP of a period's documents, streamed as it is built."""

    template_name = "einvoice/export.html"

    def get(self, request):
        if not request.GET:
            return render(request, self.template_name, {"form": ExportForm()})
        form = ExportForm(request.GET)
        if not form.is_valid():
            return render(request, self.template_name, {"form": form}, status=400)
        start, end, fmt = (form.cleaned_data[k] for k in ("start", "end", "format"))
        response = StreamingHttpResponse(
            einvoice_zip_stream(start=start, end=end, fmt=fmt), content_type="application/zip"
        )
        response["Content-Disposition"] = f'attachment; filename="{export_name(start, end, fmt)}"'
        return response


class SupplierBillDownloadView(BillingStaffMixin, View):
    """The operator's bill to this reseller as an e-invoice (the operator's books answer,
    through `ports.supplier_bill_einvoice`, for this instance's own bills only)."""

    def get(self, request, pk: int, fmt: str):
        fmt = parse_format(fmt)
        if fmt is None:
            raise Http404("No such format.")
        back = reverse("dashboard:supplier_bill", args=[pk])
        try:
            produced = ports.supplier_bill_einvoice(request.tenant.schema_name, pk, fmt)
        except EInvoiceRefused as exc:
            return refused_page(
                request, fmt=fmt, problems=exc.problems, back_url=back, layout="layouts/staff.html"
            )
        if produced is None:
            raise Http404("No such bill.")
        return file_response(produced)
