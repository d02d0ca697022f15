"""The customer's own statement in the portal (page and PDF).

`get_statement_customer_for` returns only the signed-in customer's own account: another
customer's statement is a 404, and the page does not reveal that it exists.
"""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views import View

from tenant_apps.accounts.permissions import CustomerRequiredMixin
from tenant_apps.clients.selectors import customer_for_user

from .views import StatementPageMixin


class OwnStatementView(CustomerRequiredMixin, View):
    """/portal/billing/statement/: the signed-in customer's statement, wherever it lives."""

    def get(self, request):
        customer = customer_for_user(request.user)
        if customer is None:
            raise Http404("No customer account is linked to this login.")
        url = reverse("portal_billing:statement", args=[customer.pk])
        query = request.GET.urlencode()
        return redirect(f"{url}?{query}" if query else url)


class PortalStatementView(CustomerRequiredMixin, StatementPageMixin, View):
    layout = "layouts/portal.html"

    def pdf_url(self, customer):
        return reverse("portal_billing:statement_pdf", args=[customer.pk])

    def page_url(self, customer):
        return reverse("portal_billing:statement", args=[customer.pk])


class PortalStatementPdfView(PortalStatementView):
    as_pdf = True
