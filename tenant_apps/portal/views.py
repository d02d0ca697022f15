"""Customer portal: the client area each instance offers its own customers."""

from django import forms
from django.contrib import messages
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import FormView, TemplateView

from tenant_apps.accounts.permissions import CustomerRequiredMixin
from tenant_apps.accounts.services import user_profile_update
from tenant_apps.billing.tables import status_badge as invoice_badge
from tenant_apps.helpdesk.tables import portal_status_badge
from tenant_apps.instance.money import format_money
from tenant_apps.orders.tables import SERVICE_BADGES
from tenant_apps.orders.tables import status_badge as service_badge

from .selectors import portal_overview


class PortalHomeView(CustomerRequiredMixin, TemplateView):
    """The overview: the customer's latest services, invoices and tickets."""

    template_name = "portal/home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        overview = portal_overview(self.request.user)
        context.update(
            overview=overview,
            service_rows=[
                {
                    "service": service,
                    "status": service_badge(
                        service.status, service.get_status_display(), SERVICE_BADGES
                    ),
                    "amount": format_money(
                        service.recurring_amount * service.quantity, service.currency
                    ),
                }
                for service in overview.services
            ],
            invoice_rows=[
                {
                    "invoice": invoice,
                    "status": invoice_badge(invoice),
                    "total": format_money(invoice.total, invoice.currency),
                }
                for invoice in overview.invoices
            ],
            ticket_rows=[
                {"ticket": ticket, "status": portal_status_badge(ticket)}
                for ticket in overview.tickets
            ],
        )
        return context


class ProfileForm(forms.Form):
    full_name = forms.CharField(label=gettext_lazy("Full name"), max_length=200)


class ProfileView(CustomerRequiredMixin, FormView):
    template_name = "portal/profile.html"
    form_class = ProfileForm

    def get_initial(self):
        return {"full_name": self.request.user.full_name}

    def form_valid(self, form):
        user_profile_update(user=self.request.user, full_name=form.cleaned_data["full_name"])
        messages.success(self.request, _("Your profile was saved."))
        return redirect("portal:profile")
