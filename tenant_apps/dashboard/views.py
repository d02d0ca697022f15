"""Instance staff area: dashboard, team, issuer identity, API tokens and activity."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.forms import ModelForm
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.generic import FormView, TemplateView
from rest_framework.authtoken.models import Token

from tenant_apps.accounts.models import STAFF_ROLES, User
from tenant_apps.accounts.permissions import StaffRequiredMixin
from tenant_apps.accounts.services import api_token_revoke, api_token_rotate
from tenant_apps.billing.issuer import issuer_missing_sentence
from tenant_apps.instance import ports
from tenant_apps.instance.models import IssuerIdentity
from tenant_apps.instance.selectors import issuer_identity_get
from tenant_apps.instance.services import issuer_identity_set

from .activity import ActivityPageMixin
from .first_steps import first_steps


@login_required
def home(request):
    """Send each user to their area: the console, the staff area or the customer portal."""
    if request.user.is_instance_staff:
        if request.tenant.is_operator:
            return redirect("console:dashboard")
        return redirect("dashboard:home")
    return redirect("portal:home")


def page_not_found(request, exception=None):
    return render(request, "404.html", status=404)


def permission_denied(request, exception=None):
    return render(request, "403.html", status=403)


class DashboardView(StaffRequiredMixin, TemplateView):
    template_name = "dashboard/home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["allocations"] = ports.allocations(self.request.tenant.schema_name)
        context["identity"] = issuer_identity_get()
        # Said before anyone tries to invoice: what the identity still lacks.
        context["issuer_missing"] = issuer_missing_sentence(context["identity"])
        context["team_size"] = User.objects.filter(role__in=STAFF_ROLES, is_active=True).count()
        context["customer_count"] = User.objects.filter(role="customer", is_active=True).count()
        steps = first_steps(context["identity"])
        context["first_steps"] = steps if not all(step.done for step in steps) else []
        return context


class IdentityForm(ModelForm):
    class Meta:
        model = IssuerIdentity
        fields = [
            "legal_name",
            "trading_name",
            "address_line1",
            "address_line2",
            "postal_code",
            "city",
            "country",
            "tax_id",
            "registration_number",
            "email",
            "phone",
            "currency",
            "time_zone",
            "bank_details",
            "invoice_footer",
            "brand_color",
            "logo",
        ]
        widgets = {"brand_color": forms.TextInput(attrs={"type": "color"})}

    LOGO_MAX_BYTES = 1024 * 1024
    LOGO_TYPES = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpeg"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["brand_color"].required = False

    def clean_brand_color(self):
        # Forms and scripts that do not send a colour keep the current one.
        return self.cleaned_data.get("brand_color") or self.instance.brand_color or "#4f46e5"

    def clean_logo(self):
        logo = self.cleaned_data.get("logo")
        if not logo or not hasattr(logo, "size") or getattr(logo, "_committed", False):
            return logo  # unchanged or cleared
        if logo.size > self.LOGO_MAX_BYTES:
            raise forms.ValidationError("The logo must be 1 MB or smaller.")
        head = logo.read(8)
        logo.seek(0)
        if not any(head.startswith(magic) for magic in self.LOGO_TYPES):
            raise forms.ValidationError("Upload the logo as a PNG or JPEG image.")
        return logo


class IdentityView(StaffRequiredMixin, FormView):
    template_name = "dashboard/identity.html"
    form_class = IdentityForm

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["issuer_missing"] = issuer_missing_sentence()
        return context

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["instance"] = issuer_identity_get()
        return kwargs

    def form_valid(self, form):
        if not self.request.user.can_manage_instance:
            messages.error(
                self.request, "Only the owner or an administrator can change the identity."
            )
            return redirect("dashboard:identity")
        data = dict(form.cleaned_data)
        if data.get("logo") is None:
            data.pop("logo", None)  # no new file: keep the current logo
        issuer_identity_set(legal_name=data.pop("legal_name"), actor=self.request.user, **data)
        messages.success(self.request, "Issuer identity saved. New invoices will carry it.")
        return redirect("dashboard:identity")


class ApiTokensView(StaffRequiredMixin, TemplateView):
    template_name = "dashboard/api_tokens.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["token"] = Token.objects.filter(user=self.request.user).first()
        return context

    def post(self, request, *args, **kwargs):
        if request.POST.get("action") == "revoke":
            api_token_revoke(user=request.user)
            messages.success(request, "Your API token was revoked.")
        else:
            api_token_rotate(user=request.user)
            messages.success(
                request, "A new API token was created; the previous one no longer works."
            )
        return redirect("dashboard:api_tokens")


class SupplierBillsView(StaffRequiredMixin, TemplateView):
    """The operator's invoices to this reseller, read-only (the operator is the issuer)."""

    template_name = "dashboard/supplier_bills.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["bills"] = ports.supplier_bills(self.request.tenant.schema_name)
        return context


class SupplierBillView(StaffRequiredMixin, TemplateView):
    template_name = "dashboard/supplier_bill.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rows = ports.supplier_bills(self.request.tenant.schema_name, invoice_id=self.kwargs["pk"])
        if not rows:
            raise Http404("No such bill.")
        context["bill"] = rows[0]
        return context


def supplier_bill_pdf(request, pk: int):
    """Serve the operator's stored PDF of one of this reseller's bills, and nothing else."""
    if not request.user.is_authenticated or not request.user.is_instance_staff:
        raise Http404("No such bill.")
    rows = ports.supplier_bills(request.tenant.schema_name, invoice_id=pk)
    if not rows or not rows[0]["pdf"]:
        raise Http404("This bill's PDF is not available yet.")
    handle = default_storage.open(rows[0]["pdf"], "rb")
    return FileResponse(
        handle,
        as_attachment=True,
        filename=f"{rows[0]['number']}.pdf",
        content_type="application/pdf",
    )


class ActivityView(StaffRequiredMixin, ActivityPageMixin, TemplateView):
    """The instance's audit trail: who did what, when, from where (owner and admins)."""

    template_name = "dashboard/activity.html"

    @property
    def csv_name(self) -> str:
        return self.request.tenant.schema_name
