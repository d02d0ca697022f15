"""Staff screens of commissions: the ledger with balances, rules, payouts with statements,
the programme's settings, and correcting the referer of an order."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.generic import TemplateView
from django_tables2 import RequestConfig

from tenant_apps.accounts.permissions import StaffRequiredMixin
from tenant_apps.instance.forms import form_add_service_errors
from tenant_apps.orders.models import Order
from tenant_apps.referrals import services as referrals
from tenant_apps.referrals.selectors import programme_settings

from . import selectors, services, statements
from .forms import OrderRefererForm, PayoutForm, ProgrammeForm, RuleForm
from .models import CommissionEntry, CommissionRule, Payout
from .tables import EntryFilter, EntryTable, PayoutTable, RuleTable


class ManagersOnlyMixin(StaffRequiredMixin):
    """Rules and programme settings: the owner and administrators."""

    refusal = gettext_lazy("Only the owner or an administrator can change commission rules.")

    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if user.is_authenticated and user.is_instance_staff and not user.can_manage_instance:
            raise PermissionDenied(self.refusal)
        return super().dispatch(request, *args, **kwargs)


class BillingRolesMixin(StaffRequiredMixin):
    """Payouts and referer corrections move money: the roles that bill."""

    refusal = gettext_lazy("Only staff who bill can record payouts or change an order's referer.")

    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if user.is_authenticated and user.is_instance_staff and not user.can_bill:
            raise PermissionDenied(self.refusal)
        return super().dispatch(request, *args, **kwargs)


class LedgerView(StaffRequiredMixin, TemplateView):
    template_name = "commissions/ledger.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filterset = EntryFilter(self.request.GET or None, queryset=selectors.entry_list())
        table = EntryTable(filterset.qs)
        RequestConfig(self.request, paginate={"per_page": 25}).configure(table)
        context.update(
            filter=filterset,
            table=table,
            any_entries=CommissionEntry.objects.exists(),
            payable=selectors.payable_partners(),
            can_bill=self.request.user.can_bill,
        )
        return context


class RuleListView(StaffRequiredMixin, TemplateView):
    template_name = "commissions/rule_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        table = RuleTable(selectors.rule_list())
        RequestConfig(self.request, paginate={"per_page": 25}).configure(table)
        context.update(
            table=table,
            any_rules=CommissionRule.objects.exists(),
            can_manage=self.request.user.can_manage_instance,
            settings_row=programme_settings(),
        )
        return context


class RuleFormView(ManagersOnlyMixin, View):
    template_name = "commissions/rule_form.html"

    def get_rule(self) -> CommissionRule | None:
        pk = self.kwargs.get("pk")
        if pk is None:
            return None
        rule = selectors.rule_list().filter(pk=pk).first()
        if rule is None:
            raise Http404("No such rule.")
        return rule

    def get(self, request, pk: int | None = None):
        rule = self.get_rule()
        form = RuleForm.for_rule(rule) if rule else RuleForm()
        return render(request, self.template_name, {"form": form, "rule": rule})

    def post(self, request, pk: int | None = None):
        rule = self.get_rule()
        form = RuleForm(request.POST)
        if form.is_valid():
            data = dict(form.cleaned_data)
            tiers = data.pop("tiers")
            try:
                if rule is None:
                    data.pop("is_active")
                    rule = services.commission_rule_create(**data, tiers=tiers, actor=request.user)
                else:
                    rule = services.commission_rule_update(
                        rule=rule, **data, tiers=tiers, actor=request.user
                    )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                messages.success(request, _("Rule “%(name)s” saved.") % {"name": rule.name})
                return redirect("commissions:rule_list")
        return render(request, self.template_name, {"form": form, "rule": rule})


class ProgrammeView(ManagersOnlyMixin, View):
    template_name = "commissions/programme.html"
    refusal = gettext_lazy("Only the owner or an administrator can change the referral programme.")

    def get(self, request):
        form = ProgrammeForm(instance=programme_settings())
        return render(request, self.template_name, {"form": form})

    def post(self, request):
        form = ProgrammeForm(request.POST, instance=programme_settings())
        if form.is_valid():
            try:
                referrals.programme_settings_update(
                    **{name: form.cleaned_data[name] for name in form.Meta.fields},
                    actor=request.user,
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                messages.success(request, _("Referral programme settings saved."))
                return redirect("commissions:rule_list")
        return render(request, self.template_name, {"form": form})


class PayoutListView(StaffRequiredMixin, TemplateView):
    template_name = "commissions/payout_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        table = PayoutTable(selectors.payout_list())
        RequestConfig(self.request, paginate={"per_page": 25}).configure(table)
        context.update(
            table=table,
            any_payouts=Payout.objects.exists(),
            payable=selectors.payable_partners(),
            can_bill=self.request.user.can_bill,
        )
        return context


class PayoutCreateView(BillingRolesMixin, View):
    template_name = "commissions/payout_form.html"

    def get(self, request):
        initial = {}
        if request.GET.get("referer", "").isdigit():
            initial["referer"] = int(request.GET["referer"])
        if request.GET.get("currency"):
            initial["currency"] = request.GET["currency"][:3]
        form = PayoutForm(initial=initial)
        return render(request, self.template_name, {"form": form})

    def post(self, request):
        form = PayoutForm(request.POST)
        if form.is_valid():
            try:
                payout = services.payout_record(**form.cleaned_data, actor=request.user)
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    _(
                        "Paid %(amount)s %(currency)s to %(name)s; the statement is ready to "
                        "download."
                    )
                    % {
                        "amount": payout.amount,
                        "currency": payout.currency,
                        "name": payout.referer.name,
                    },
                )
                return redirect("commissions:payout_list")
        return render(request, self.template_name, {"form": form})


def statement_response(request, pk: int, fmt: str) -> HttpResponse:
    """A payout's statement, for staff or for the partner it paid (others get a 404)."""
    try:
        payout = selectors.get_payout_for(request.user, pk)
    except Payout.DoesNotExist as exc:
        raise Http404("No such statement.") from exc
    if fmt == "csv":
        response = HttpResponse(statements.statement_csv(payout), content_type="text/csv")
    elif fmt == "pdf":
        response = HttpResponse(statements.statement_pdf(payout), content_type="application/pdf")
    else:
        raise Http404("Statements are PDF or CSV.")
    filename = statements.statement_filename(payout, fmt)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class StatementView(StaffRequiredMixin, View):
    def get(self, request, pk: int, fmt: str):
        return statement_response(request, pk, fmt)


class OrderRefererView(BillingRolesMixin, View):
    """Set or correct the partner an order is credited to (with the reason, audited)."""

    template_name = "commissions/order_referer.html"

    def get_order(self, pk: int) -> Order:
        order = Order.objects.select_related("customer", "referer").filter(pk=pk).first()
        if order is None:
            raise Http404("No such order.")
        return order

    def get(self, request, pk: int):
        order = self.get_order(pk)
        form = OrderRefererForm(initial={"referer": order.referer_id})
        return render(request, self.template_name, {"form": form, "order": order})

    def post(self, request, pk: int):
        order = self.get_order(pk)
        form = OrderRefererForm(request.POST)
        if form.is_valid():
            try:
                services.order_referer_correct(
                    order=order,
                    referer=form.cleaned_data["referer"],
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("Order #%(order_id)s's referer was changed.") % {"order_id": order.pk},
                )
                return redirect("orders:order_detail", pk=order.pk)
        return render(request, self.template_name, {"form": form, "order": order})
