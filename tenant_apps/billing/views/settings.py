"""Staff screens of billing configuration: billing settings, tax rates and e-mail wording.

Every staff role may look; only the owner or an administrator changes anything, as the
actor of the change.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import TemplateView
from django_tables2 import RequestConfig

from tenant_apps.accounts.permissions import BillingManagerMixin, BillingManagerWriteMixin
from tenant_apps.instance import services as instance_services
from tenant_apps.instance.emails import email_template_default
from tenant_apps.instance.forms import form_add_service_errors as apply_service_errors
from tenant_apps.instance.models import EmailTemplate
from tenant_apps.instance.selectors import issuer_identity_get

from .. import services
from ..forms import BillingSettingsForm, EmailTemplateForm, TaxRateForm
from ..models import TaxRate
from ..selectors import get_tax_rate_for, tax_rate_list
from ..tables import TaxRateTable


class SettingsView(BillingManagerMixin, View):
    template_name = "billing/settings.html"

    def render_page(self, form):
        can_manage = self.request.user.can_manage_instance
        if not can_manage:
            for field in form.fields.values():
                field.disabled = True
        return render(
            self.request,
            self.template_name,
            {
                "form": form,
                "can_manage": can_manage,
                "tax_rate_count": tax_rate_list().count(),
                "customised_emails": EmailTemplate.objects.count(),
            },
        )

    def get(self, request):
        row = services.billing_settings_get()
        return self.render_page(BillingSettingsForm(initial=BillingSettingsForm.initial_from(row)))

    def post(self, request):
        self.require_manager()
        form = BillingSettingsForm(request.POST)
        if form.is_valid():
            try:
                services.billing_settings_update(actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Billing settings saved."))
                return redirect("billing:settings")
        return self.render_page(form)


# --------------------------------------------------------------------------------------
# Tax rates


class TaxRateListView(BillingManagerMixin, TemplateView):
    template_name = "billing/taxrate_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        can_manage = self.request.user.can_manage_instance
        table = TaxRateTable(tax_rate_list(), can_manage=can_manage)
        RequestConfig(self.request, paginate={"per_page": 50}).configure(table)
        context.update(table=table, can_manage=can_manage, issuer=issuer_identity_get())
        return context


def tax_rate_or_404(request, pk) -> TaxRate:
    try:
        return get_tax_rate_for(request.user, pk)
    except TaxRate.DoesNotExist as exc:
        raise Http404("No such tax rate.") from exc


class TaxRateFormView(BillingManagerWriteMixin, View):
    template_name = "billing/taxrate_form.html"

    def get_rate(self) -> TaxRate | None:
        pk = self.kwargs.get("pk")
        return None if pk is None else tax_rate_or_404(self.request, pk)

    def render_page(self, form, rate):
        return render(self.request, self.template_name, {"form": form, "rate": rate})

    def get(self, request, pk: int | None = None):
        rate = self.get_rate()
        initial = {}
        if rate is None:
            identity = issuer_identity_get()
            if identity and identity.country:
                initial["country"] = identity.country
        return self.render_page(TaxRateForm(instance=rate, initial=initial), rate)

    def post(self, request, pk: int | None = None):
        rate = self.get_rate()
        form = TaxRateForm(request.POST, instance=rate)
        if not form.is_valid():
            return self.render_page(form, rate)
        data = form.cleaned_data
        try:
            saved = services.tax_rate_set(
                country=data["country"],
                tax_class=data["tax_class"],
                rate=data["rate"],
                name=data["name"],
                tax_rate=rate,
                actor=request.user,
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
            return self.render_page(form, rate)
        messages.success(
            request,
            _("%(name)s %(tax_class)s in %(name2)s: %(rate)s %%.")
            % {
                "name": saved.name,
                "tax_class": saved.tax_class,
                "name2": saved.country.name,
                "rate": saved.rate,
            },
        )
        return redirect("billing:taxrate_list")


class TaxRateDeleteView(BillingManagerMixin, View):
    http_method_names = ["post"]

    def post(self, request, pk: int):
        self.require_manager()
        rate = tax_rate_or_404(request, pk)
        services.tax_rate_delete(tax_rate=rate, actor=request.user)
        messages.success(
            request,
            _("The %(tax_class)s rate for %(name)s was deleted.")
            % {"tax_class": rate.tax_class, "name": rate.country.name},
        )
        return redirect("billing:taxrate_list")


# --------------------------------------------------------------------------------------
# E-mail wording

# What each e-mail's template can use (the plain values `notifications` passes in).
EMAIL_VARIABLES = {
    EmailTemplate.Key.INVOICE_ISSUED: [
        "invoice.number",
        "invoice.issue_date",
        "invoice.due_date",
        "invoice.total",
        "invoice.amount_due",
        "invoice.url",
    ],
    EmailTemplate.Key.CREDIT_NOTE_ISSUED: [
        "invoice.number",
        "invoice.credited_invoice_number",
        "invoice.total",
        "invoice.url",
    ],
    EmailTemplate.Key.PAYMENT_RECEIPT: [
        "payment.amount",
        "payment.method",
        "payment.reference",
        "payment.received_on",
        "payment.to_credit",
        "invoice.number",
    ],
    EmailTemplate.Key.INVOICE_REMINDER: [
        "invoice.number",
        "invoice.amount_due",
        "invoice.due_date",
        "days_overdue",
        "level",
        "invoice.url",
    ],
    EmailTemplate.Key.SERVICE_SUSPENDED: ["service.name", "service.reason", "service.suspended_at"],
    EmailTemplate.Key.CARD_CHARGE_FAILED: [
        "invoice.number",
        "invoice.amount_due",
        "invoice.due_date",
        "charge.amount",
        "charge.card",
        "charge.reason",
        "charge.needs_authentication",
        "pay_url",
        "payment_methods_url",
    ],
}
COMMON_EMAIL_VARIABLES = ["customer.name", "customer.display_name", "issuer.name", "portal_url"]


class EmailTemplateMixin(BillingManagerMixin):
    def get_key(self) -> str:
        key = self.kwargs["key"]
        if key not in EmailTemplate.Key.values:
            raise Http404("No such e-mail.")
        return key


class EmailTemplateListView(BillingManagerMixin, TemplateView):
    template_name = "billing/emailtemplate_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        overrides = {t.key: t for t in EmailTemplate.objects.all()}
        context["templates"] = [
            {"key": key, "label": label, "override": overrides.get(key)}
            for key, label in EmailTemplate.Key.choices
        ]
        context["can_manage"] = self.request.user.can_manage_instance
        return context


class EmailTemplateEditView(EmailTemplateMixin, View):
    template_name = "billing/emailtemplate_form.html"

    def render_page(self, key: str, form, override):
        default = email_template_default(key)
        can_manage = self.request.user.can_manage_instance
        if not can_manage:
            for field in form.fields.values():
                field.disabled = True
        return render(
            self.request,
            self.template_name,
            {
                "key": key,
                "label": EmailTemplate.Key(key).label,
                "form": form,
                "override": override,
                "default_subject": default[0] if default else "",
                "default_body": default[1] if default else "",
                "has_default": default is not None,
                "can_manage": can_manage,
                "variables": [
                    "{{ " + name + " }}"
                    for name in [*EMAIL_VARIABLES.get(key, []), *COMMON_EMAIL_VARIABLES]
                ],
            },
        )

    def get(self, request, key: str):
        key = self.get_key()
        override = EmailTemplate.objects.filter(key=key).first()
        initial = {}
        if override is None:
            default = email_template_default(key)
            if default:
                initial = {"subject": default[0], "body": default[1]}
        form = EmailTemplateForm(instance=override, initial=initial)
        return self.render_page(key, form, override)

    def post(self, request, key: str):
        self.require_manager()
        key = self.get_key()
        override = EmailTemplate.objects.filter(key=key).first()
        form = EmailTemplateForm(request.POST, instance=override or EmailTemplate(key=key))
        if not form.is_valid():
            return self.render_page(key, form, override)
        instance_services.email_template_set(
            key=key,
            subject=form.cleaned_data["subject"],
            body=form.cleaned_data["body"],
            actor=request.user,
        )
        messages.success(
            request,
            _("“%(label)s” now uses your wording.") % {"label": EmailTemplate.Key(key).label},
        )
        return redirect("billing:emailtemplate_list")


class EmailTemplateResetView(EmailTemplateMixin, View):
    http_method_names = ["post"]

    def post(self, request, key: str):
        self.require_manager()
        key = self.get_key()
        instance_services.email_template_reset(key=key, actor=request.user)
        messages.success(
            request,
            _("“%(label)s” is back to the built-in wording.")
            % {"label": EmailTemplate.Key(key).label},
        )
        return redirect("billing:emailtemplate_list")
