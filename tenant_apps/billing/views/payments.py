"""Staff screens of money received: the payments list (and recording one), one payment
(its allocations, refunds, and refunding or reversing it), a customer's credit.

Reading is open to every staff role; recording, refunding or reversing a payment and
adjusting credit need `can_bill` and name the signed-in user as the actor.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views import View
from django_tables2 import RequestConfig

from tenant_apps.accounts.permissions import BillingStaffMixin
from tenant_apps.clients.models import Customer
from tenant_apps.clients.selectors import get_customer_for
from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.forms import form_add_service_errors as apply_service_errors
from tenant_apps.instance.money import format_money

from .. import services, settlement
from ..forms import CustomerCreditForm, PaymentRecordForm, RefundForm, ReverseForm
from ..models import Payment
from ..selectors import (
    customer_credit_balances,
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
                oldest_first=bool(
                    form.cleaned_data["oldest_first"] and not form.cleaned_data["invoice"]
                ),
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
            _("Payment of %(amount)s from %(customer)s recorded.")
            % {
                "amount": format_money(payment.amount, payment.currency),
                "customer": payment.customer,
            },
        )
        return redirect("billing:payment_detail", pk=payment.pk)


class PaymentDetailView(BillingStaffMixin, View):
    """One payment: what it settled, what was paid back; billing staff refund or reverse it."""

    template_name = "billing/payment_detail.html"

    def get_payment(self) -> Payment:
        try:
            return payment_list().get(pk=self.kwargs["pk"])
        except Payment.DoesNotExist as exc:
            raise Http404("No such payment.") from exc

    def render_page(self, payment: Payment, *, refund_form=None, reverse_form=None, status=200):
        can_write = self.user_can_bill()
        money = lambda amount: format_money(amount, payment.currency)  # noqa: E731
        allocations = [
            {"allocation": a, "amount": money(a.amount), "refunded": money(a.refunded)}
            for a in payment.allocations.select_related("invoice")
        ]
        refunds = [
            {
                "refund": r,
                "amount": money(r.amount),
                "from_credit": money(r.from_credit),
                "notes": list(r.credit_notes.all()),
            }
            for r in payment.refunds.select_related("created_by")
        ]
        context = {
            "payment": payment,
            "customer_url": customer_url(payment.customer_id),
            "amount": money(payment.amount),
            "applied": money(payment.applied_amount),
            "to_credit": money(payment.amount - payment.applied_amount),
            "refunded": money(payment.refunded_amount),
            "refundable": money(payment.refundable),
            "allocations": allocations,
            "refunds": refunds,
            "can_refund": can_write and payment.refundable > 0,
            "can_reverse": can_write and not payment.is_reversed and not payment.refunded_amount,
            "refund_form": refund_form
            or RefundForm(
                prefix="refund",
                initial={"amount": payment.refundable, "method": payment.method},
            ),
            "reverse_form": reverse_form or ReverseForm(prefix="reverse"),
            "open_form": "refund" if refund_form else "reverse" if reverse_form else "",
        }
        return render(self.request, self.template_name, context, status=status)

    def get(self, request, pk: int):
        return self.render_page(self.get_payment())

    def post(self, request, pk: int):
        self.require_billing()
        payment = self.get_payment()
        if request.POST.get("action") == "reverse":
            form = ReverseForm(request.POST, prefix="reverse")
            if not form.is_valid():
                return self.render_page(payment, reverse_form=form, status=400)
            try:
                settlement.payment_reverse(
                    payment=payment, reason=form.cleaned_data["reason"], actor=request.user
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
                return self.render_page(payment, reverse_form=form, status=400)
            except DomainError as exc:
                form.add_error(None, str(exc))
                return self.render_page(payment, reverse_form=form, status=exc.status_code)
            messages.success(
                request, _("Payment reversed: the invoices it settled are open again.")
            )
            return redirect("billing:payment_detail", pk=payment.pk)
        form = RefundForm(request.POST, prefix="refund")
        if not form.is_valid():
            return self.render_page(payment, refund_form=form, status=400)
        try:
            refund = settlement.payment_refund(
                payment=payment, actor=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return self.render_page(payment, refund_form=form, status=400)
        except DomainError as exc:
            form.add_error(None, str(exc))
            return self.render_page(payment, refund_form=form, status=exc.status_code)
        notes = ", ".join(note.number for note in refund.credit_notes.all())
        messages.success(
            request,
            (
                _("Refund of %(amount)s recorded; credit note %(notes)s issued.")
                if notes
                else _("Refund of %(amount)s recorded from the customer's credit.")
            )
            % {"amount": format_money(refund.amount, refund.currency), "notes": notes},
        )
        return redirect("billing:payment_detail", pk=payment.pk)


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
                # Credit left in a former currency (a credit note on an old invoice).
                "other_balances": [
                    format_money(amount, currency)
                    for currency, amount in customer_credit_balances(customer.pk).items()
                    if currency != customer.currency and amount
                ],
                "entries": [
                    {"entry": e, "amount": format_money(e.amount, e.currency)} for e in entries
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
            _("Credit of %(updated)s is now %(credit_balance)s.")
            % {
                "updated": updated,
                "credit_balance": format_money(updated.credit_balance, updated.currency),
            },
        )
        return redirect("billing:customer_credit", customer_pk=customer.pk)
