"""Staff screens of money received: the payments list (and recording one), a customer's credit.

Reading is open to every staff role; recording a payment or adjusting credit needs
`can_bill` and names the signed-in user as the actor.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views import View
from django_tables2 import RequestConfig

from tenant_apps.accounts.permissions import BillingStaffMixin
from tenant_apps.clients.models import Customer
from tenant_apps.clients.selectors import get_customer_for
from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.forms import form_add_service_errors as apply_service_errors
from tenant_apps.instance.money import format_money

from .. import services
from ..forms import CustomerCreditForm, PaymentRecordForm
from ..selectors import (
    customer_credit_entries,
    invoice_list,
    open_invoice_q,
    payment_list,
    with_balance,
)
from ..tables import PaymentFilter, PaymentTable, customer_url


class PaymentListView(BillingStaffMixin, View):
    template_name = "billing/payment_list.html"

    def render_page(self, form=None, status: int = 200):
        filterset = PaymentFilter(self.request.GET or None, queryset=payment_list())
        table = PaymentTable(filterset.qs)
        RequestConfig(self.request, paginate={"per_page": 25}).configure(table)
        can_write = self.user_can_bill()
        context = {
            "filter": filterset,
            "table": table,
            "any_payments": table.paginator.count > 0 or bool(self.request.GET),
            "can_bill": can_write,
            "form": (form or PaymentRecordForm(prefix="pay")) if can_write else None,
            "show_form": form is not None,
        }
        return render(self.request, self.template_name, context, status=status)

    def get(self, request):
        return self.render_page()

    def post(self, request):
        """Record a payment on account or against an open invoice (any customer)."""
        self.require_billing()
        form = PaymentRecordForm(request.POST, prefix="pay")
        if not form.is_valid():
            return self.render_page(form)
        try:
            payment = services.payment_record(
                customer=form.cleaned_data["customer"],
                invoice=form.cleaned_data["invoice"],
                created_by=request.user,
                actor=request.user,
                **form.arguments(),
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return self.render_page(form)
        except DomainError as exc:
            form.add_error(None, str(exc))
            return self.render_page(form)
        messages.success(
            request,
            f"Payment of {format_money(payment.amount, payment.currency)} from "
            f"{payment.customer} recorded.",
        )
        return redirect("billing:payment_list")


class CustomerCreditView(BillingStaffMixin, View):
    """A customer's credit balance and ledger; billing staff adjust it with a note."""

    template_name = "billing/customer_credit.html"

    def get_customer(self) -> Customer:
        try:
            return get_customer_for(self.request.user, self.kwargs["customer_pk"])
        except Customer.DoesNotExist as exc:
            raise Http404("No such customer.") from exc

    def render_page(self, customer: Customer, form=None):
        entries = customer_credit_entries(customer.pk)
        return render(
            self.request,
            self.template_name,
            {
                "customer": customer,
                "customer_url": customer_url(customer.pk),
                "balance": format_money(customer.credit_balance, customer.currency),
                "entries": [
                    {"entry": e, "amount": format_money(e.amount, customer.currency)}
                    for e in entries
                ],
                "open_invoices": [
                    {"invoice": invoice, "due": format_money(invoice.balance, invoice.currency)}
                    for invoice in with_balance(
                        invoice_list(customer_id=customer.pk).filter(open_invoice_q())
                    ).order_by("due_date", "id")
                ],
                "form": form or CustomerCreditForm(),
                "can_bill": self.user_can_bill(),
            },
        )

    def get(self, request, customer_pk: int):
        return self.render_page(self.get_customer())

    def post(self, request, customer_pk: int):
        self.require_billing()
        customer = self.get_customer()
        form = CustomerCreditForm(request.POST)
        if not form.is_valid():
            return self.render_page(customer, form)
        try:
            updated = services.customer_credit_adjust(
                customer=customer,
                amount=form.cleaned_data["amount"],
                note=form.cleaned_data["note"],
                actor=request.user,
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return self.render_page(customer, form)
        messages.success(
            request,
            f"Credit of {updated} is now {format_money(updated.credit_balance, updated.currency)}.",
        )
        return redirect("billing:customer_credit", customer_pk=customer.pk)
