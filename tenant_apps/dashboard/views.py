"""Instance staff area: dashboard, team, issuer identity, API tokens and activity."""

from __future__ import annotations

import re
from urllib.parse import quote

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.forms import ModelForm
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.generic import FormView, TemplateView
from rest_framework.authtoken.models import Token

from tenant_apps.accounts.models import STAFF_ROLES, User
from tenant_apps.accounts.permissions import StaffRequiredMixin
from tenant_apps.accounts.services import api_token_revoke, api_token_rotate
from tenant_apps.billing.issuer import issuer_missing_sentence
from tenant_apps.instance import ports
from tenant_apps.instance.brand_images import logo_prepare
from tenant_apps.instance.branding import branding_for_request, contrast_ratio, palette_for
from tenant_apps.instance.models import IssuerIdentity
from tenant_apps.instance.selectors import issuer_identity_get
from tenant_apps.instance.services import issuer_identity_set

from .activity import ActivityPageMixin
from .first_steps import first_steps

BRAND_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


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


class _CurrentLogo:
    """The stored logo as the file input shows it: linked at the address pages load it
    from (uploads are not served from a media folder)."""

    def __init__(self, name: str) -> None:
        self.name = name
        # One address per stored file, so a browser never shows a replaced logo here.
        self.url = f"/brand/logo/?file={quote(str(self))}"

    def __str__(self) -> str:
        return self.name.rsplit("/", 1)[-1]


class LogoInput(forms.ClearableFileInput):
    def is_initial(self, value) -> bool:
        return bool(value and getattr(value, "name", ""))

    def format_value(self, value):
        return _CurrentLogo(value.name) if self.is_initial(value) else None


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
        widgets = {
            "brand_color": forms.TextInput(attrs={"type": "color"}),
            "logo": LogoInput(attrs={"accept": "image/png,image/jpeg"}),
        }
        labels = {
            "legal_name": gettext_lazy("Legal name"),
            "trading_name": gettext_lazy("Trading name"),
            "address_line1": gettext_lazy("Address line1"),
            "address_line2": gettext_lazy("Address line2"),
            "postal_code": gettext_lazy("Postal code"),
            "city": gettext_lazy("City"),
            "country": gettext_lazy("Country"),
            "registration_number": gettext_lazy("Registration number"),
            "email": gettext_lazy("Email"),
            "phone": gettext_lazy("Phone"),
            "currency": gettext_lazy("Currency"),
            "time_zone": gettext_lazy("Time zone"),
            "bank_details": gettext_lazy("Bank details"),
            "invoice_footer": gettext_lazy("Invoice footer"),
            "brand_color": gettext_lazy("Brand color"),
            "logo": gettext_lazy("Logo"),
        }
        help_texts = {
            "brand_color": gettext_lazy(
                "The accent of every page, invoice and e-mail of this instance: "
                "buttons, links, the menu. Text on it is chosen to stay readable."
            ),
            "logo": gettext_lazy(
                "PNG or JPEG, up to 1 MB, 16 to 4000 pixels a side. Pages show it about "
                "30 pixels high, and browsers as the tab icon. SVG is not accepted."
            ),
        }

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
        # Type, size and dimensions checked, then re-encoded (brand_images says why).
        return logo_prepare(logo)


class IdentityView(StaffRequiredMixin, FormView):
    template_name = "dashboard/identity.html"
    form_class = IdentityForm

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["issuer_missing"] = issuer_missing_sentence()
        palette = branding_for_request(self.request).palette
        context["preview_contrast"] = {
            "on_accent": contrast_ratio(palette.on_accent, palette.accent),
            "links": contrast_ratio(palette.accent_text, "#ffffff"),
        }
        return context

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["instance"] = issuer_identity_get()
        return kwargs

    def form_valid(self, form):
        if not self.request.user.can_manage_instance:
            messages.error(
                self.request, _("Only the owner or an administrator can change the identity.")
            )
            return redirect("dashboard:identity")
        data = dict(form.cleaned_data)
        if data.get("logo") is None:
            data.pop("logo", None)  # no new file: keep the current logo
        elif data["logo"] is False:
            data["logo"] = ""  # "Clear" ticked: no logo (pages show the monogram)
        issuer_identity_set(legal_name=data.pop("legal_name"), actor=self.request.user, **data)
        messages.success(self.request, _("Issuer identity saved. New invoices will carry it."))
        return redirect("dashboard:identity")


class IdentityPaletteView(StaffRequiredMixin, View):
    """The palette a brand colour gives (the identity screen's live preview): the same
    derivation /brand.css applies, with the contrast of each pair."""

    def get(self, request):
        color = request.GET.get("color", "")
        if not BRAND_COLOR.match(color):
            return JsonResponse({"detail": _("Give a colour like #4f46e5.")}, status=400)
        palette = palette_for(color)
        return JsonResponse(
            {
                **palette.as_dict(),
                "contrast_on_accent": round(contrast_ratio(palette.on_accent, palette.accent), 2),
                "contrast_of_links": round(contrast_ratio(palette.accent_text, "#ffffff"), 2),
            }
        )


class ApiTokensView(StaffRequiredMixin, TemplateView):
    template_name = "dashboard/api_tokens.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["token"] = Token.objects.filter(user=self.request.user).first()
        return context

    def post(self, request, *args, **kwargs):
        if request.POST.get("action") == "revoke":
            api_token_revoke(user=request.user)
            messages.success(request, _("Your API token was revoked."))
        else:
            api_token_rotate(user=request.user)
            messages.success(
                request, _("A new API token was created; the previous one no longer works.")
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
