"""The partner's page in the customer portal: its clicks, sign-ups, orders, conversions,
pending and payable balances, ledger and payout statements — its own data only."""

from __future__ import annotations

from django.http import Http404
from django.views import View
from django.views.generic import TemplateView
from django_tables2 import RequestConfig

from tenant_apps.accounts.permissions import CustomerRequiredMixin
from tenant_apps.referrals.links import base_url, share_link
from tenant_apps.referrals.selectors import partner_activity, partner_referers_for

from . import selectors
from .tables import PartnerEntryTable, PartnerPayoutTable
from .views import statement_response


class PartnerHomeView(CustomerRequiredMixin, TemplateView):
    template_name = "commissions/portal/partner.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        referers = list(partner_referers_for(self.request.user))
        if not referers:
            raise Http404("You are not a referral partner of this business.")
        ids = [referer.pk for referer in referers]
        entries = PartnerEntryTable(
            selectors.entry_list().filter(referer_id__in=ids), prefix="entries-"
        )
        RequestConfig(self.request, paginate={"per_page": 20}).configure(entries)
        payouts = PartnerPayoutTable(
            selectors.payout_list().filter(referer_id__in=ids), prefix="payouts-"
        )
        RequestConfig(self.request, paginate={"per_page": 20}).configure(payouts)
        base = base_url(self.request)
        context.update(
            referers=[(referer, share_link(base, referer.code)) for referer in referers],
            activity=partner_activity(referers),
            conversions=selectors.conversions_of(referers),
            balances=selectors.balances_for(referers).values(),
            entries=entries,
            payouts=payouts,
        )
        return context


class PartnerStatementView(CustomerRequiredMixin, View):
    def get(self, request, pk: int, fmt: str):
        return statement_response(request, pk, fmt)
