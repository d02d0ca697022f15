"""Staff screens of card payments: the instance's Stripe connection (owner and
administrators) and refunds of a card payment from the invoice page (billing roles)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.generic import TemplateView

from tenant_apps.accounts.permissions import BillingWriteMixin, StaffRequiredMixin
from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.money import format_money

from . import gateway, platform_fee, selectors, services
from .forms import CardRefundForm
from .models import CardPayment

NOT_MANAGER = gettext_lazy("Only the owner or an administrator manages card payments.")


class CardManagerMixin(StaffRequiredMixin):
    """The Stripe connection: the owner and administrators only."""

    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if user.is_authenticated and user.is_instance_staff and not user.can_manage_instance:
            raise PermissionDenied(NOT_MANAGER)
        return super().dispatch(request, *args, **kwargs)


def _urls(request) -> dict[str, str]:
    return {
        "return_url": request.build_absolute_uri(reverse("cards:connect_return")),
        "refresh_url": request.build_absolute_uri(reverse("cards:connect_refresh")),
    }


class CardSettingsView(CardManagerMixin, TemplateView):
    """Card payments: is Stripe set up, the connected account's status, connect."""

    template_name = "cards/settings.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        setup = selectors.card_setup()
        context.update(
            setup=setup,
            connection=setup.connection or selectors.connection_get(),
            keys_configured=gateway.keys_configured(),
            not_set_up=gateway.NOT_SET_UP,
            # The operator's share of each payment on this instance's connected account.
            platform_fee_percent=None if setup.platform else platform_fee.current_percent(),
        )
        return context

    def post(self, request):
        return _connect(request)


def _connect(request):
    try:
        url = services.card_connection_connect(actor=request.user, **_urls(request))
    except DomainError as exc:
        messages.error(request, str(exc))
        return redirect("cards:settings")
    return redirect(url)


class CardConnectReturnView(CardManagerMixin, View):
    """Stripe sends staff back here after onboarding: read the account's status now."""

    def get(self, request):
        try:
            row = services.card_connection_refresh(actor=request.user)
        except DomainError as exc:
            messages.error(request, str(exc))
            return redirect("cards:settings")
        if row is not None and row.charges_enabled:
            messages.success(request, _("Your Stripe account takes card payments."))
        else:
            messages.info(request, _("Stripe still needs details before card payments start."))
        return redirect("cards:settings")


class CardConnectRefreshView(CardManagerMixin, View):
    """An onboarding link expired: Stripe sends staff here for a fresh one."""

    def get(self, request):
        return _connect(request)


class CardRefundView(BillingWriteMixin, View):
    """Refund all or part of a card payment (the card is refunded through Stripe and the
    credit note issued in the books)."""

    def post(self, request, pk: int):
        try:
            card_payment = selectors.get_card_payment_for(request.user, pk)
        except CardPayment.DoesNotExist as exc:
            raise Http404(_("No such card payment.")) from exc
        back = reverse("billing:invoice_detail", args=[card_payment.invoice_id])
        form = CardRefundForm(request.POST)
        if not form.is_valid():
            for errors in form.errors.values():
                for error in errors:
                    messages.error(request, error)
            return redirect(back)
        try:
            refund = services.card_payment_refund(
                card_payment=card_payment, actor=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            for error in exc.messages:
                messages.error(request, error)
            return redirect(back)
        except DomainError as exc:
            messages.error(request, str(exc))
            return redirect(back)
        notes = (
            ", ".join(n.number for n in refund.refund.credit_notes.all()) if refund.refund else ""
        )
        messages.success(
            request,
            (
                _("%(amount)s refunded to the card; credit note %(notes)s issued.")
                if notes
                else _("%(amount)s refunded to the card.")
            )
            % {"amount": format_money(refund.amount, refund.currency), "notes": notes},
        )
        return redirect(back)
