"""Customer portal pages of card payments: pay an invoice by card, the result page, and
the customer's saved cards ("Payment methods": default, remove, automatic renewals).

The customer reaches only their own invoices (`billing.selectors.get_invoice_for`) and their
own card payments (`selectors.get_card_payment_for`): anyone else's is a 404. The card is
typed into Stripe.js (static/js/cards.js; values passed as data- attributes, no inline
script); the card number never reaches this server.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views import View

from tenant_apps.accounts.permissions import CustomerRequiredMixin
from tenant_apps.billing.models import Invoice
from tenant_apps.billing.selectors import get_invoice_for
from tenant_apps.billing.services import billing_settings_get
from tenant_apps.clients.selectors import customer_for_user
from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.money import format_money

from . import autocharge, gateway, selectors, services
from .forms import CardSettingsForm
from .models import CardPayment, SavedCard
from .stripe_js import allow_stripe_js, stripe_origins  # noqa: F401 (stripe_origins: public)


def _invoice_or_404(request, pk) -> Invoice:
    try:
        return get_invoice_for(request.user, pk)
    except Invoice.DoesNotExist as exc:
        raise Http404("No such invoice.") from exc


def _card_payment_or_404(request, pk) -> CardPayment:
    try:
        return selectors.get_card_payment_for(request.user, pk)
    except CardPayment.DoesNotExist as exc:
        raise Http404("No such card payment.") from exc


class CardPayView(CustomerRequiredMixin, View):
    """The card form for what is due on one of the customer's invoices."""

    template_name = "cards/pay.html"

    def get(self, request, pk: int):
        invoice = _invoice_or_404(request, pk)
        context = {
            "invoice": invoice,
            "amount_due": format_money(invoice.amount_due, invoice.currency),
        }
        if not selectors.card_setup().ready:
            context["problem"] = gateway.NOT_SET_UP
            return render(request, self.template_name, context)
        if not selectors.invoice_payable_by_card(invoice):
            context["problem"] = gettext("Nothing is due on invoice %(invoice)s.") % {
                "invoice": invoice
            }
            return render(request, self.template_name, context)
        try:
            checkout = services.card_payment_start(invoice=invoice, actor=request.user)
        except DomainError as exc:
            context["problem"] = str(exc)
            return render(request, self.template_name, context, status=exc.status_code)
        card_payment = checkout.card_payment
        if not card_payment.is_open:
            return redirect("portal_cards:result", pk=card_payment.pk)
        context.update(
            checkout=checkout,
            card_payment=card_payment,
            saved_cards=selectors.saved_cards_for(card_payment.customer),
            stripe_js_url=settings.UPLINE_STRIPE_JS_URL,
            charge_url=reverse("portal_cards:charge", args=[card_payment.pk]),
            result_url=reverse("portal_cards:result", args=[card_payment.pk]),
        )
        return allow_stripe_js(render(request, self.template_name, context))


class CardChargeView(CustomerRequiredMixin, View):
    """POST from cards.js with the PaymentMethod Stripe.js made: charge it (JSON answer)."""

    def post(self, request, pk: int):
        card_payment = _card_payment_or_404(request, pk)
        try:
            result = services.card_payment_pay(
                card_payment=card_payment,
                payment_method_id=request.POST.get("payment_method", ""),
                save_card=request.POST.get("save_card") == "1",
                actor=request.user,
            )
        except DomainError as exc:
            return JsonResponse({"status": "error", "message": str(exc)}, status=exc.status_code)
        paid = result.card_payment
        return JsonResponse(
            {
                "status": result.status,
                "message": result.message,
                "client_secret": result.client_secret,
                "result_url": reverse("portal_cards:result", args=[paid.pk]),
            }
        )


def _state(card_payment: CardPayment) -> dict:
    return {
        "status": card_payment.status,
        "label": card_payment.get_status_display(),
        "message": card_payment.failure_message,
        "final": not card_payment.is_open or card_payment.status == CardPayment.Status.FAILED,
    }


def _refreshed(request, card_payment: CardPayment) -> tuple[CardPayment, str]:
    """The card payment as Stripe reports it now (applied through the same service as the
    webhook, so whichever comes first records the one payment)."""
    try:
        return services.card_payment_refresh(card_payment=card_payment, actor=request.user), ""
    except DomainError as exc:
        return card_payment, str(exc)


class CardResultView(CustomerRequiredMixin, View):
    """Where the browser lands after paying: the payment's outcome and the invoice's state."""

    template_name = "cards/result.html"

    def get(self, request, pk: int):
        card_payment, problem = _refreshed(request, _card_payment_or_404(request, pk))
        invoice = Invoice.objects.get(pk=card_payment.invoice_id)
        return render(
            request,
            self.template_name,
            {
                "card_payment": card_payment,
                "invoice": invoice,
                "amount": format_money(card_payment.amount, card_payment.currency),
                "amount_due": format_money(invoice.amount_due, invoice.currency),
                "state": _state(card_payment),
                "problem": problem,
                "status_url": reverse("portal_cards:status", args=[card_payment.pk]),
            },
        )


class CardStatusView(CustomerRequiredMixin, View):
    """JSON the result page polls while the payment is processing."""

    def get(self, request, pk: int):
        card_payment, _ = _refreshed(request, _card_payment_or_404(request, pk))
        return JsonResponse(_state(card_payment))


# --------------------------------------------------------------------------------------
# Payment methods (saved cards)


def _saved_card_or_404(request, pk) -> SavedCard:
    try:
        return selectors.get_saved_card_for(request.user, pk)
    except SavedCard.DoesNotExist as exc:
        raise Http404("No such saved card.") from exc


class PaymentMethodsView(CustomerRequiredMixin, View):
    """The customer's saved cards, which one is the default, and automatic renewals."""

    template_name = "cards/payment_methods.html"

    def _render(self, request, form=None, status: int = 200):
        customer = customer_for_user(request.user)
        context = {"customer": customer}
        if customer is not None:
            settings_row = selectors.card_settings_for(customer)
            cards = selectors.saved_cards_for(customer)
            context.update(
                cards=cards,
                default_card=next((card for card in cards if card.is_default), None),
                card_settings=settings_row,
                form=form
                or CardSettingsForm(
                    initial={"auto_charge_renewals": settings_row.auto_charge_renewals}
                ),
                setup=selectors.card_setup(),
                retry_days=autocharge.retry_days(billing_settings_get()),
                max_attempts=autocharge.MAX_ATTEMPTS_PER_INVOICE,
            )
        return render(request, self.template_name, context, status=status)

    def get(self, request):
        return self._render(request)

    def post(self, request):
        """The automatic-renewal choice."""
        customer = customer_for_user(request.user)
        if customer is None:
            raise Http404("No customer account.")
        form = CardSettingsForm(request.POST)
        if not form.is_valid():
            return self._render(request, form=form, status=400)
        try:
            row = services.card_settings_update(
                customer=customer,
                auto_charge_renewals=form.cleaned_data["auto_charge_renewals"],
                actor=request.user,
            )
        except DomainError as exc:
            form.add_error("auto_charge_renewals", str(exc))
            return self._render(request, form=form, status=exc.status_code)
        messages.success(
            request,
            gettext("Renewal invoices will be charged to your default card.")
            if row.auto_charge_renewals
            else gettext("Renewal invoices will not be charged automatically."),
        )
        return redirect("portal_cards:payment_methods")


class PaymentMethodDefaultView(CustomerRequiredMixin, View):
    def post(self, request, pk: int):
        card = services.saved_card_set_default(
            card=_saved_card_or_404(request, pk), actor=request.user
        )
        messages.success(request, gettext("%(card)s is now your default card.") % {"card": card})
        return redirect("portal_cards:payment_methods")


class PaymentMethodRemoveView(CustomerRequiredMixin, View):
    def post(self, request, pk: int):
        card = _saved_card_or_404(request, pk)
        label = str(card)
        try:
            stopped = services.saved_card_remove(card=card, actor=request.user)
        except DomainError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, gettext("%(label)s was removed.") % {"label": label})
            if stopped:
                messages.warning(
                    request,
                    gettext(
                        "Automatic payment of renewal invoices is now off: you have no saved card "
                        "left to charge. Save a card and turn it on again to keep it."
                    ),
                )
        return redirect("portal_cards:payment_methods")
