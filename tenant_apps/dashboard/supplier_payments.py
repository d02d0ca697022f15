"""Staff area: pay the operator's bills by card, keep cards with the operator, and let it
charge them automatically.

The bills, card payments and saved cards live in the operator's books; these views reach
them through `ports.supplier_cards`, naming this instance's schema, so another reseller's
bill is a 404 whatever id is typed. The card page is the portal's own form and script
(templates/cards/_pay_form.html, static/js/cards.js) on the platform's Stripe account.

Every view here keeps working while the instance is suspended for non-payment
(`payment_hold_exempt`): paying is how the suspension ends. Staff who can bill (owner,
administrators, billing) pay and manage cards; every staff member sees the bills.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from tenant_apps.accounts.permissions import StaffRequiredMixin
from tenant_apps.cards.stripe_js import allow_stripe_js
from tenant_apps.instance import ports as instance_ports
from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.money import format_money
from tenant_apps.instance.payment_hold import payment_hold_exempt

from .ports import SupplierBillNotFound, SupplierPayment, supplier_cards

RESUMED = gettext_lazy(
    "Your instance is active again: everything works as before, for your team and your customers."
)
CARDS_WHO = gettext_lazy("Only the owner, administrators and billing staff can pay supplier bills.")


def _actor(request) -> str:
    """Who acts, as the operator's trail names them (a user of another instance)."""
    return f"{request.user.email} ({request.tenant.name})"[:254]


def _schema(request) -> str:
    return request.tenant.schema_name


class SupplierCardsMixin(StaffRequiredMixin):
    """Staff who can bill; a bill, payment or card of anyone else is a 404."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and request.user.is_instance_staff:
            if request.tenant.is_operator:
                raise Http404("The operator's instance has no supplier.")
            if not request.user.can_bill:
                raise PermissionDenied(CARDS_WHO)
        try:
            return super().dispatch(request, *args, **kwargs)
        except SupplierBillNotFound as exc:
            raise Http404(str(exc)) from exc


def exempt(view_class):
    """The view as a URL's callable, working in full while the instance is held."""
    return payment_hold_exempt(view_class.as_view())


class SupplierBillPayView(SupplierCardsMixin, View):
    """The card form for what is due on one of this reseller's supplier bills."""

    template_name = "dashboard/supplier_bill_pay.html"

    def get(self, request, pk: int):
        rows = instance_ports.supplier_bills(_schema(request), invoice_id=pk)
        if not rows:
            raise Http404("No such bill.")
        bill = rows[0]
        context = {"bill": bill, "amount_due": format_money(bill["amount_due"], bill["currency"])}
        if not bill["payable"]:
            context["problem"] = _("Nothing is due on bill %(number)s.") % {
                "number": bill["number"]
            }
            return render(request, self.template_name, context)
        try:
            checkout = supplier_cards.implementation.checkout(
                _schema(request), invoice_id=pk, actor=_actor(request)
            )
        except SupplierBillNotFound:
            raise
        except DomainError as exc:
            context["problem"] = str(exc)
            return render(request, self.template_name, context, status=exc.status_code)
        if not checkout.is_open:
            return redirect("dashboard:supplier_card_result", pk=checkout.card_payment_id)
        context.update(
            checkout=checkout,
            saved_cards=checkout.saved_cards,
            stripe_js_url=settings.UPLINE_STRIPE_JS_URL,
            charge_url=reverse("dashboard:supplier_card_charge", args=[checkout.card_payment_id]),
            result_url=reverse("dashboard:supplier_card_result", args=[checkout.card_payment_id]),
        )
        return allow_stripe_js(render(request, self.template_name, context))


class SupplierCardChargeView(SupplierCardsMixin, View):
    """POST from cards.js with the PaymentMethod Stripe.js made: charge it (JSON answer)."""

    def post(self, request, pk: int):
        try:
            result = supplier_cards.implementation.pay(
                _schema(request),
                card_payment_id=pk,
                payment_method_id=request.POST.get("payment_method", ""),
                save_card=request.POST.get("save_card") == "1",
                actor=_actor(request),
            )
        except SupplierBillNotFound as exc:
            return JsonResponse({"status": "error", "message": str(exc)}, status=404)
        except DomainError as exc:
            return JsonResponse({"status": "error", "message": str(exc)}, status=exc.status_code)
        if request.tenant.is_held_for_payment and result.instance_active:
            messages.success(request, RESUMED)  # shown on the result page, next
        return JsonResponse(
            {
                "status": result.status,
                "message": result.message,
                "client_secret": result.client_secret,
                "result_url": reverse(
                    "dashboard:supplier_card_result", args=[result.card_payment_id]
                ),
            }
        )


def _state(payment: SupplierPayment) -> dict:
    return {
        "status": payment.status,
        "label": payment.status_label,
        "message": payment.message,
        "final": payment.final,
    }


def _payment(request, pk: int) -> SupplierPayment:
    return supplier_cards.implementation.payment(
        _schema(request), card_payment_id=pk, actor=_actor(request)
    )


class SupplierCardResultView(SupplierCardsMixin, View):
    """Where the browser lands after paying: the outcome, the bill, and the instance."""

    template_name = "dashboard/supplier_card_result.html"

    def get(self, request, pk: int):
        payment = _payment(request, pk)
        # This request was routed while the hold was on, and the payment (confirmed after
        # the bank's 3-D Secure step) has just lifted it: say so, and drop the banner.
        lifted = bool(request.tenant.is_held_for_payment and payment.instance_active)
        if lifted:
            messages.success(request, RESUMED)
        return render(
            request,
            self.template_name,
            {
                "payment": payment,
                "amount": format_money(payment.amount, payment.currency),
                "amount_due": format_money(payment.amount_due, payment.currency),
                "state": _state(payment),
                "payment_hold_lifted": lifted,
                "status_url": reverse("dashboard:supplier_card_status", args=[payment.id]),
            },
        )


class SupplierCardStatusView(SupplierCardsMixin, View):
    """JSON the result page polls while the payment is processing."""

    def get(self, request, pk: int):
        return JsonResponse(_state(_payment(request, pk)))


def _card_action(request, action, said) -> HttpResponse:
    """Run one change of the supplier cards; its refusal, or what `said(result)` says of it,
    is shown on the cards page. A bill, payment or card of another reseller stays a 404."""
    try:
        result = action()
    except SupplierBillNotFound:
        raise
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        for level, text in said(result):
            messages.add_message(request, level, text)
    return redirect("dashboard:supplier_cards")


class SupplierCardsView(SupplierCardsMixin, View):
    """Saved cards with the operator, and automatic charging of the supplier's bills."""

    template_name = "dashboard/supplier_cards.html"

    def get(self, request):
        return render(
            request,
            self.template_name,
            {"card_settings": supplier_cards.implementation.settings(_schema(request))},
        )

    def post(self, request):
        enabled = request.POST.get("auto_charge") == "1"
        return _card_action(
            request,
            lambda: supplier_cards.implementation.auto_charge_set(
                _schema(request), enabled=enabled, actor=_actor(request)
            ),
            lambda now: [
                (
                    messages.SUCCESS,
                    _("Renewal bills will be charged to your default card when they are issued.")
                    if now
                    else _("Supplier bills will not be charged automatically."),
                )
            ],
        )


class SupplierCardDefaultView(SupplierCardsMixin, View):
    def post(self, request, pk: int):
        return _card_action(
            request,
            lambda: supplier_cards.implementation.card_make_default(
                _schema(request), card_id=pk, actor=_actor(request)
            ),
            lambda card: [
                (messages.SUCCESS, (_("%(card)s is now your default card.") % {"card": card}))
            ],
        )


class SupplierCardRemoveView(SupplierCardsMixin, View):
    def post(self, request, pk: int):
        return _card_action(
            request,
            lambda: supplier_cards.implementation.card_remove(
                _schema(request), card_id=pk, actor=_actor(request)
            ),
            lambda removed: (
                [(messages.SUCCESS, (_("%(removed)s was removed.") % {"removed": removed[0]}))]
                + (
                    [
                        (
                            messages.WARNING,
                            _(
                                "Automatic charging of your supplier bills is now off: no saved "
                                "card is left to charge."
                            ),
                        )
                    ]
                    if removed[1]
                    else []
                )
            ),
        )
