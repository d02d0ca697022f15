"""Staff screens of recurring billing: the runs, one run with its log, and "Run now"."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import TemplateView
from django_tables2 import RequestConfig
from django_tenants.utils import schema_context

from tenant_apps.accounts.permissions import BillingStaffMixin, BillingWriteMixin
from tenant_apps.billing import services as billing
from tenant_apps.billing.selectors import with_balance
from tenant_apps.billing.tables import InvoiceTable
from tenant_apps.instance import clock
from tenant_apps.instance.errors import DomainError

from . import services
from .models import BillingRun
from .selectors import billing_run_companions, billing_run_list, get_billing_run_for
from .tables import BillingRunTable, run_summary


class RunListView(BillingStaffMixin, TemplateView):
    template_name = "recurring/run_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        table = BillingRunTable(billing_run_list())
        RequestConfig(self.request, paginate={"per_page": 25}).configure(table)
        context.update(
            table=table,
            any_runs=BillingRun.objects.exists(),
            can_bill=self.user_can_bill(),
            settings_row=billing.billing_settings_get(),
            today=clock.today(),
        )
        return context


class RunNowView(BillingWriteMixin, View):
    """Renewals, then dunning, for today: what the nightly schedule does, on demand."""

    http_method_names = ["post"]

    def post(self, request):
        today = clock.today()
        actor = request.user.email
        # Each run enters this instance explicitly: a Celery task run eagerly (no broker, as
        # in dev) resets the connection to the public schema when it ends, and renewals
        # enqueue PDF tasks; dunning must not run in the operator's schema after that.
        schema = request.tenant.schema_name
        try:
            with schema_context(schema):
                renewals = services.renewals_run(
                    today=today, triggered_by=actor, actor=request.user
                )
        except (DomainError, ValidationError) as exc:
            messages.error(
                request, _("The renewal run stopped: %(sentence)s") % {"sentence": _sentence(exc)}
            )
            return redirect("recurring:run_list")
        try:
            with schema_context(schema):
                dunning = services.dunning_run(today=today, triggered_by=actor, actor=request.user)
        except (DomainError, ValidationError) as exc:
            messages.error(
                request, _("The dunning run stopped: %(sentence)s") % {"sentence": _sentence(exc)}
            )
            return redirect("recurring:run_detail", pk=renewals.pk)
        if renewals.status == BillingRun.Status.FAILED:
            # Refused without raising (an incomplete issuer identity): its log says why.
            messages.error(
                request, _("The renewal run stopped: %(log)s") % {"log": renewals.log[-1]}
            )
            return redirect("recurring:run_detail", pk=renewals.pk)
        messages.success(
            request,
            _("Billing run done: %(run_summary)s; %(run_summary2)s.")
            % {"run_summary": run_summary(renewals), "run_summary2": run_summary(dunning)},
        )
        return redirect("recurring:run_detail", pk=renewals.pk)


def _sentence(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


class RunDetailView(BillingStaffMixin, TemplateView):
    template_name = "recurring/run_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        try:
            run = get_billing_run_for(self.request.user, self.kwargs["pk"])
        except BillingRun.DoesNotExist as exc:
            raise Http404("No such billing run.") from exc
        invoices = with_balance(run.invoices.select_related("customer"))
        table = InvoiceTable(invoices, prefix="inv-")
        RequestConfig(self.request, paginate={"per_page": 25}).configure(table)
        context.update(
            run=run,
            summary=run_summary(run),
            companions=billing_run_companions(run),
            invoice_table=table,
            has_invoices=run.invoices_created > 0 or invoices.exists(),
            duration=(run.finished_at - run.started_at) if run.finished_at else None,
        )
        return context
