"""Customer-portal pages of orders: my services, one service, the checkout and its receipt.

A portal user sees only their own customer's services and orders (the fetchers check it).
A portal user with no customer record yet cannot order: the pages say so and link to the
billing details form instead.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import TemplateView

from tenant_apps.accounts.permissions import CustomerRequiredMixin
from tenant_apps.billing.ports import online_payment_url
from tenant_apps.clients.models import Customer
from tenant_apps.clients.selectors import customer_for_user
from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.forms import form_add_service_errors as apply_service_errors
from tenant_apps.instance.money import format_money
from tenant_apps.referrals.selectors import referer_from_request

from . import services
from .forms import AddonAddForm, CheckoutForm
from .models import Order, Service
from .selectors import (
    addon_choices,
    get_order_for,
    get_service_for,
    line_signed_net,
    order_invoices,
    orderable_plans,
    service_invoice_lines,
    service_list,
)
from .tables import SERVICE_BADGES, optional_url
from .views import addon_added_message, addon_context, invoice_links, resources_held


class PortalCustomerMixin(CustomerRequiredMixin):
    """Portal pages that need the signed-in user's customer record."""

    customer: Customer | None = None

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and request.user.is_customer:
            self.customer = customer_for_user(request.user)
            if self.customer is None:
                return render(
                    request,
                    "orders/portal/no_customer.html",
                    {"billing_details_url": optional_url("portal_clients:billing_details")},
                )
        return super().dispatch(request, *args, **kwargs)


def _order_or_404(request, pk) -> Order:
    try:
        return get_order_for(request.user, pk)
    except Order.DoesNotExist as exc:
        raise Http404("No such order.") from exc


def _service_or_404(request, pk) -> Service:
    try:
        return get_service_for(request.user, pk)
    except Service.DoesNotExist as exc:
        raise Http404("No such service.") from exc


class PortalServiceListView(PortalCustomerMixin, TemplateView):
    template_name = "orders/portal/service_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rows = [
            {
                "service": service,
                "badge": SERVICE_BADGES.get(service.status, "neutral"),
                "amount": format_money(
                    service.recurring_amount * service.quantity, service.currency
                ),
            }
            # Newest plans first, each followed by its add-ons.
            for service in service_list(customer_id=self.customer.pk).order_by(
                Coalesce("parent_id", "id").desc(), F("parent_id").asc(nulls_first=True), "id"
            )
        ]
        context.update(rows=rows)
        return context


class PortalServiceDetailView(PortalCustomerMixin, TemplateView):
    template_name = "orders/portal/service_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        service = _service_or_404(self.request, self.kwargs["pk"])
        lines = [
            {
                "line": line,
                "invoice": line.invoice,
                "url": optional_url("portal_billing:invoice_detail", pk=line.invoice_id),
                "net": format_money(line_signed_net(line), line.invoice.currency),
            }
            for line in service_invoice_lines(service)[:24]
        ]
        context.update(
            service=service,
            badge=SERVICE_BADGES.get(service.status, "neutral"),
            amount=format_money(service.recurring_amount * service.quantity, service.currency),
            resources=resources_held(service),
            lines=lines,
            can_cancel=(
                service.status in (Service.Status.ACTIVE, Service.Status.SUSPENDED)
                and not service.cancel_at_period_end
            ),
            addons=[
                {"service": addon, "badge": SERVICE_BADGES.get(addon.status, "neutral")}
                for addon in service.addons.all()
            ],
            **addon_context(service),
        )
        return context


class PortalServiceAddonView(PortalCustomerMixin, View):
    """POST-only: the customer puts an add-on on their service; it is invoiced now (for
    the days left until the service's next due date) and starts when that invoice is paid."""

    def post(self, request, pk):
        service = _service_or_404(request, pk)
        form = AddonAddForm(request.POST, service=service, choices=addon_choices(service))
        if not form.is_valid():
            messages.error(request, _("Choose one of the add-ons offered for this service."))
            return redirect("portal_orders:service_detail", pk=service.pk)
        try:
            # The message is composed before the commit (see the staff service actions).
            with transaction.atomic():
                result = services.service_addon_add(
                    service=service,
                    addon=form.cleaned_data["addon"],
                    source=Order.Source.PORTAL,
                    created_by=request.user,
                    actor=request.user,
                )
                done = addon_added_message(result)
        except DomainError as exc:
            messages.error(request, str(exc))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, done)
        return redirect("portal_orders:service_detail", pk=service.pk)


class PortalServiceCancelView(PortalCustomerMixin, View):
    """POST-only: the customer cancels their service at the end of its paid term."""

    def post(self, request, pk):
        service = _service_or_404(request, pk)
        try:
            updated = services.service_cancel(
                service=service,
                immediately=False,
                reason="Cancelled by the customer",
                actor=request.user,
            )
        except DomainError as exc:
            messages.error(request, str(exc))
        else:
            until = f" on {updated.next_due_date:%Y-%m-%d}" if updated.next_due_date else ""
            messages.success(
                request,
                _("%(service)s will end at the end of its term%(until)s; it will not be renewed.")
                % {"service": service, "until": until},
            )
        return redirect("portal_orders:service_detail", pk=service.pk)


class PortalOrderCreateView(PortalCustomerMixin, View):
    """Checkout: order one plan; it is invoiced at once and starts when the invoice is paid."""

    template_name = "orders/portal/order_form.html"

    def get_form(self, data=None) -> CheckoutForm:
        return CheckoutForm(
            data,
            plans=list(orderable_plans(self.customer.currency)),
            currency=self.customer.currency,
            cookie_referer=referer_from_request(self.request),
            # ?plan=<code> preselects a plan (links from a pricing page).
            initial_plan_code=self.request.GET.get("plan", ""),
        )

    def render_form(self, form, status=200):
        return render(
            self.request,
            self.template_name,
            {"form": form, "customer": self.customer, "plan_groups": form.plan_groups()},
            status=status,
        )

    def get(self, request):
        return self.render_form(self.get_form())

    def post(self, request):
        form = self.get_form(request.POST)
        if not form.is_valid():
            return self.render_form(form)
        try:
            with transaction.atomic():
                order = services.order_place(
                    customer=self.customer,
                    items=form.items(),
                    source=Order.Source.PORTAL,
                    referer=form.referer,
                    referer_source=form.referer_source,
                    created_by=request.user,
                    actor=request.user,
                )
                # Portal orders are invoiced now and start when the first invoice is paid.
                invoice = services.order_accept(order=order, activate=False, actor=request.user)
        except ValidationError as exc:
            apply_service_errors(form, exc, aliases={"cycle": "price", "product": "price"})
            return self.render_form(form)
        except DomainError as exc:
            form.add_error(None, str(exc))
            return self.render_form(form)
        # Straight on to paying when the instance takes cards (billing's port, which card
        # payments answer: orders and cards do not import each other); else the order page
        # with the invoice and its bank details.
        pay_url = online_payment_url(invoice) if invoice is not None else ""
        if pay_url:
            messages.success(
                request,
                _(
                    "Order #%(order_id)s is placed. Pay invoice %(invoice)s now and your "
                    "service starts at once."
                )
                % {"order_id": order.pk, "invoice": invoice},
            )
            return redirect(pay_url)
        return redirect("portal_orders:order_detail", pk=order.pk)


class PortalOrderDetailView(PortalCustomerMixin, TemplateView):
    """The confirmation (and later, the record) of one of the customer's orders."""

    template_name = "orders/portal/order_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        order = _order_or_404(self.request, self.kwargs["pk"])
        invoices = invoice_links(order_invoices(order), "portal_billing:invoice_detail")
        rows = [
            {
                "item": item,
                "is_addon": item.parent_id is not None,
                "price": format_money(item.unit_price * item.quantity, order.currency),
                "setup_fee": (
                    format_money(item.setup_fee * item.quantity, order.currency)
                    if item.setup_fee
                    else ""
                ),
                "service": getattr(item, "service", None),
            }
            for item in order.items.all()
        ]
        first = (invoices or [None])[0]
        context.update(
            order=order,
            rows=rows,
            invoices=invoices,
            invoice=first,
            # "Pay now by card" while the first invoice is unpaid and the instance takes cards.
            pay_url=online_payment_url(first["invoice"]) if first else "",
        )
        return context
