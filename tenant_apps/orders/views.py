"""Staff screens of orders and services: lists, the staff order form, details and actions.

Reading is open to every staff member; placing, accepting, cancelling and changing services
needs the owner, an administrator or billing staff (support is read-only). Every write goes
through `services`; their domain errors come back as form errors or messages, never a 500.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import FormView, TemplateView
from django_tables2 import RequestConfig

from tenant_apps.accounts.permissions import StaffRequiredMixin
from tenant_apps.billing.models import Invoice
from tenant_apps.catalog.selectors import resource_choices
from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.forms import form_add_service_errors as apply_service_errors
from tenant_apps.instance.money import ZERO, format_money

from . import services
from .forms import (
    AddonAddForm,
    CancelForm,
    ChangePlanForm,
    OrderAcceptForm,
    ReasonForm,
    StaffOrderForm,
)
from .models import Order, Service
from .selectors import (
    addon_choices,
    can_take_addons,
    get_order_for,
    get_service_for,
    line_signed_net,
    order_invoices,
    order_list,
    plan_change_choices,
    service_counts_by_status,
    service_invoice_lines,
    service_list,
    user_can_manage_orders,
)
from .tables import (
    ORDER_BADGES,
    SERVICE_BADGES,
    OrderFilter,
    OrderTable,
    ServiceFilter,
    ServiceTable,
    optional_url,
)


class OrderManagerMixin(StaffRequiredMixin):
    """Screens that write: owner, administrators and billing staff (support reads only)."""

    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if user.is_authenticated and user.is_instance_staff and not user_can_manage_orders(user):
            raise PermissionDenied(
                _("Only the owner, administrators and billing staff can do this.")
            )
        return super().dispatch(request, *args, **kwargs)


def order_or_404(request, pk) -> Order:
    try:
        return get_order_for(request.user, pk)
    except Order.DoesNotExist as exc:
        raise Http404("No such order.") from exc


def service_or_404(request, pk) -> Service:
    try:
        return get_service_for(request.user, pk)
    except Service.DoesNotExist as exc:
        raise Http404("No such service.") from exc


def invoice_links(invoices, url_name: str) -> list[dict]:
    """Invoices with the href of their screen (None while billing has not shipped it)."""
    return [
        {
            "invoice": invoice,
            "url": optional_url(url_name, pk=invoice.pk),
            "total": format_money(invoice.total, invoice.currency),
            "due": format_money(invoice.amount_due, invoice.currency),
        }
        for invoice in invoices
    ]


def resources_held(service: Service) -> list[dict]:
    """The capacity the service holds, by resource, in the platform's order and units."""
    amounts = service.resources or {}
    known = {code: (name, unit) for code, name, unit in resource_choices()}
    rows = []
    for code, amount in amounts.items():
        name, unit = known.get(code, (code, ""))
        rows.append({"name": name, "unit": unit, "amount": int(amount) * service.quantity})
    return rows


# --------------------------------------------------------------------------------------
# Orders


class OrderListView(StaffRequiredMixin, TemplateView):
    template_name = "orders/order_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filterset = OrderFilter(self.request.GET or None, queryset=order_list())
        table = OrderTable(filterset.qs if filterset.is_bound else filterset.queryset)
        RequestConfig(self.request, paginate={"per_page": 25}).configure(table)
        context.update(
            filter=filterset,
            table=table,
            any_orders=Order.objects.exists(),
            pending_count=Order.objects.filter(status=Order.Status.PENDING).count(),
            can_manage=user_can_manage_orders(self.request.user),
        )
        return context


class OrderCreateView(OrderManagerMixin, FormView):
    """Staff order: placed and accepted in one step (nothing is written if either refuses)."""

    template_name = "orders/order_form.html"
    form_class = StaffOrderForm

    def get_initial(self):
        initial = super().get_initial()
        customer = self.request.GET.get("customer", "")
        if customer.isdecimal():
            initial["customer"] = int(customer)
        return initial

    def form_valid(self, form):
        data = form.cleaned_data
        referer = data["referer"]
        try:
            with transaction.atomic():
                order = services.order_place(
                    customer=data["customer"],
                    items=form.items(),
                    source=Order.Source.STAFF,
                    referer=referer,
                    referer_source=Order.RefererSource.STAFF if referer else "",
                    created_by=self.request.user,
                    notes=data["notes"],
                    actor=self.request.user,
                )
                invoice = services.order_accept(
                    order=order, activate=data["activate"], actor=self.request.user
                )
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return self.form_invalid(form)
        except DomainError as exc:  # quota exceeded, closed customer…
            form.add_error(None, str(exc))
            return self.form_invalid(form)
        started = (
            "its services are active"
            if data["activate"]
            else "its services start when the invoice is paid"
        )
        messages.success(
            self.request,
            _(
                "Order #%(order_id)s accepted: invoice %(invoice)s (%(total)s) issued "
                "and %(started)s."
            )
            % {
                "order_id": order.pk,
                "invoice": invoice,
                "total": format_money(invoice.total, invoice.currency),
                "started": started,
            },
        )
        return redirect("orders:order_detail", pk=order.pk)


class OrderDetailView(StaffRequiredMixin, TemplateView):
    template_name = "orders/order_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        order = order_or_404(self.request, self.kwargs["pk"])
        items = list(order.items.all())
        rows = []
        for item in items:
            service = getattr(item, "service", None)
            rows.append(
                {
                    "item": item,
                    "is_addon": item.parent_id is not None,
                    "unit_price": format_money(item.unit_price, order.currency),
                    "setup_fee": (
                        format_money(item.setup_fee, order.currency) if item.setup_fee else "—"
                    ),
                    "total": format_money(
                        (item.unit_price + item.setup_fee) * item.quantity, order.currency
                    ),
                    "service": service,
                    "service_badge": SERVICE_BADGES.get(service.status) if service else None,
                }
            )
        first_total = sum(((i.unit_price + i.setup_fee) * i.quantity for i in items), start=ZERO)
        invoices = order_invoices(order)
        context.update(
            order=order,
            status_badge=ORDER_BADGES.get(order.status, "neutral"),
            rows=rows,
            first_total=format_money(first_total, order.currency),
            invoices=invoice_links(invoices, "billing:invoice_detail"),
            # Accepted but never paid: one action cancels it and credits its invoices.
            can_cancel_accepted=order.status == Order.Status.ACCEPTED
            and not any(invoice.amount_paid > 0 for invoice in invoices)
            and any(invoice.status != Invoice.Status.CREDITED for invoice in invoices),
            customer_url=optional_url("clients:customer_detail", pk=order.customer_id),
            accept_form=OrderAcceptForm(),
            can_manage=user_can_manage_orders(self.request.user),
        )
        return context


class OrderActionView(OrderManagerMixin, View):
    """POST-only: accept a pending order, or cancel one (pending, or accepted and unpaid),
    then back to its page."""

    action = ""

    def post(self, request, pk):
        order = order_or_404(request, pk)
        try:
            if self.action == "accept":
                form = OrderAcceptForm(request.POST)
                activate = form.cleaned_data["activate"] if form.is_valid() else False
                invoice = services.order_accept(order=order, activate=activate, actor=request.user)
                messages.success(
                    request,
                    (
                        _(
                            "Order #%(id)s accepted; invoice %(invoice)s issued and its "
                            "services are active."
                        )
                        if activate
                        else _("Order #%(id)s accepted; invoice %(invoice)s issued.")
                    )
                    % {"id": order.pk, "invoice": invoice},
                )
            else:
                was_accepted = order.status == Order.Status.ACCEPTED
                services.order_cancel(order=order, actor=request.user)
                messages.success(
                    request,
                    (
                        _(
                            "Order #%(id)s cancelled: its services stopped and its invoices "
                            "were credited in full."
                        )
                        if was_accepted
                        else _("Order #%(id)s cancelled.")
                    )
                    % {"id": order.pk},
                )
        except DomainError as exc:
            messages.error(request, str(exc))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("orders:order_detail", pk=order.pk)


# --------------------------------------------------------------------------------------
# Services


class ServiceListView(StaffRequiredMixin, TemplateView):
    template_name = "orders/service_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filterset = ServiceFilter(self.request.GET or None, queryset=service_list())
        table = ServiceTable(filterset.qs if filterset.is_bound else filterset.queryset)
        RequestConfig(self.request, paginate={"per_page": 25}).configure(table)
        counts = service_counts_by_status()
        context.update(
            filter=filterset,
            table=table,
            any_services=bool(counts),
            counts={
                "active": counts.get(Service.Status.ACTIVE, 0),
                "pending": counts.get(Service.Status.PENDING, 0),
                "suspended": counts.get(Service.Status.SUSPENDED, 0),
                "ended": counts.get(Service.Status.TERMINATED, 0)
                + counts.get(Service.Status.CANCELLED, 0),
            },
            can_manage=user_can_manage_orders(self.request.user),
        )
        return context


class ServiceDetailView(StaffRequiredMixin, TemplateView):
    template_name = "orders/service_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        service = service_or_404(self.request, self.kwargs["pk"])
        lines = [
            {
                "line": line,
                "invoice": line.invoice,
                "url": optional_url("billing:invoice_detail", pk=line.invoice_id),
                "net": format_money(line_signed_net(line), line.invoice.currency),
            }
            for line in service_invoice_lines(service)[:50]
        ]
        status = service.status
        holds = status in (Service.Status.ACTIVE, Service.Status.SUSPENDED)
        order = service.order_item.order if service.order_item else None
        change_plan_form = (
            ChangePlanForm(service=service, choices=plan_change_choices(service))
            if status == Service.Status.ACTIVE
            else None
        )
        context.update(
            service=service,
            status_badge=SERVICE_BADGES.get(status, "neutral"),
            recurring=format_money(service.recurring_amount * service.quantity, service.currency),
            unit_price=format_money(service.recurring_amount, service.currency),
            resources=resources_held(service),
            lines=lines,
            order=order,
            customer_url=optional_url("clients:customer_detail", pk=service.customer_id),
            can_manage=user_can_manage_orders(self.request.user),
            can_suspend=status == Service.Status.ACTIVE,
            can_unsuspend=status == Service.Status.SUSPENDED,
            can_terminate=holds,
            can_cancel_at_term=holds and not service.cancel_at_period_end,
            can_cancel_now=holds or status == Service.Status.PENDING,
            change_plan_form=change_plan_form,
            has_other_plans=change_plan_form is not None
            and change_plan_form.fields["product"].queryset.exists(),
            **addon_context(service),
        )
        return context


class ServiceActionView(OrderManagerMixin, View):
    """POST-only lifecycle actions on one service; each redirects back to its page."""

    action = ""

    def post(self, request, pk):
        service = service_or_404(request, pk)
        handler = getattr(self, f"do_{self.action}")
        try:
            # Messages are composed before the commit: eager on-commit tasks (no broker)
            # leave the connection in the public schema, where reads would go wrong.
            with transaction.atomic():
                handler(service)
        except DomainError as exc:  # illegal transition, quota exceeded…
            messages.error(request, str(exc))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("orders:service_detail", pk=service.pk)

    def _reason(self) -> str:
        form = ReasonForm(self.request.POST)
        return form.cleaned_data["reason"] if form.is_valid() else ""

    def do_suspend(self, service):
        services.service_suspend(service=service, reason=self._reason(), actor=self.request.user)
        messages.success(self.request, _("%(service)s is suspended.") % {"service": service})

    def do_unsuspend(self, service):
        services.service_unsuspend(service=service, actor=self.request.user)
        messages.success(self.request, _("%(service)s is active again.") % {"service": service})

    def do_terminate(self, service):
        services.service_terminate(service=service, reason=self._reason(), actor=self.request.user)
        messages.success(
            self.request,
            _("%(service)s is terminated; its capacity is released.") % {"service": service},
        )

    def do_cancel(self, service):
        form = CancelForm(self.request.POST)
        immediately = form.is_valid() and form.cleaned_data["immediately"]
        reason = form.cleaned_data.get("reason", "") if form.is_valid() else ""
        updated = services.service_cancel(
            service=service, immediately=immediately, reason=reason, actor=self.request.user
        )
        if immediately:
            messages.success(self.request, _("%(service)s is cancelled.") % {"service": service})
        else:
            until = f" on {updated.next_due_date:%Y-%m-%d}" if updated.next_due_date else ""
            messages.success(
                self.request,
                _("%(service)s will be cancelled at the end of its term%(until)s.")
                % {"service": service, "until": until},
            )

    def do_add_addon(self, service):
        form = AddonAddForm(self.request.POST, service=service, choices=addon_choices(service))
        if not form.is_valid():
            messages.error(self.request, _("Choose one of the add-ons offered for this service."))
            return
        result = services.service_addon_add(
            service=service,
            addon=form.cleaned_data["addon"],
            source=Order.Source.STAFF,
            created_by=self.request.user,
            actor=self.request.user,
        )
        messages.success(self.request, addon_added_message(result))

    def do_change_plan(self, service):
        form = ChangePlanForm(
            self.request.POST, service=service, choices=plan_change_choices(service)
        )
        if not form.is_valid():
            messages.error(self.request, _("Choose one of the plans offered for this service."))
            return
        product = form.cleaned_data["product"]
        document = services.service_change_plan(
            service=service, product=product, actor=self.request.user
        )
        messages.success(self.request, plan_change_message(product.name, document))


def addon_context(service: Service) -> dict:
    """The "Add an add-on" card of a service page (staff and portal): the form, or why
    there is none."""
    if not can_take_addons(service):
        return {"addon_form": None, "has_addon_choices": False}
    form = AddonAddForm(service=service, choices=addon_choices(service))
    return {"addon_form": form, "has_addon_choices": form.fields["addon"].queryset.exists()}


def addon_added_message(result: services.AddonAdded) -> str:
    """What adding an add-on did, in one sentence."""
    invoice = result.invoice
    amount = format_money(invoice.total, invoice.currency)
    values = {"name": result.service.product.name, "invoice": invoice, "amount": amount}
    if result.service.status == Service.Status.PENDING:
        return (
            _(
                "%(name)s added: invoice %(invoice)s of %(amount)s issued; it starts when "
                "it is paid."
            )
            % values
        )
    return (
        _("%(name)s added and active: nothing to pay (invoice %(invoice)s of %(amount)s).") % values
    )


def plan_change_message(plan_name: str, document: Invoice | None) -> str:
    """What a plan change did to the bill, in one sentence."""
    if document is None:
        return _("Moved to %(plan)s; nothing to charge or credit for the current period.") % {
            "plan": plan_name
        }
    line = document.lines.first()
    detail = f" ({line.description})" if line else ""
    values = {
        "plan": plan_name,
        "document": document,
        "amount": format_money(document.total, document.currency),
        "detail": detail,
    }
    if document.kind == Invoice.Kind.CREDIT_NOTE:
        return (
            _(
                "Moved to %(plan)s; credit note %(document)s of %(amount)s issued for the "
                "unused part of the old plan%(detail)s."
            )
            % values
        )
    return (
        _("Moved to %(plan)s; prorated invoice %(document)s of %(amount)s issued%(detail)s.")
        % values
    )
