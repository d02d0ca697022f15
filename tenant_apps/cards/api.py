"""Card payments API of one instance (staff): card payments and their status on an
invoice, automatic charges of renewal invoices (read-only), refunds to the card, and a
customer's saved payment methods.

Every staff member reads. Refunding and removing a saved card need the owner, an
administrator or billing staff (`can_bill`), and call the same services as the screens with
the caller as the actor; bad input is a 400, a state that refuses it a 409, a card network
refusal a 402 and Stripe out of reach a 502, each with `detail` and `code`
(`config.errors.api_exception_handler`). Objects of another instance do not exist here
(schemas), and a saved card asked for under another customer is a 404.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from tenant_apps.accounts.permissions import StaffReadBillersWrite
from tenant_apps.billing.models import Invoice
from tenant_apps.billing.selectors import get_invoice_for
from tenant_apps.clients.models import Customer
from tenant_apps.clients.selectors import get_customer_for
from tenant_apps.instance.audit import request_actor

from . import selectors, services
from .models import AutoChargeAttempt, CardPayment, SavedCard
from .serializers import (
    AutoChargeAttemptSerializer,
    CardPaymentSerializer,
    CardRefundCreateSerializer,
    CardRefundSerializer,
    InvoiceCardStatusSerializer,
    PaymentMethodsSerializer,
    SavedCardSerializer,
)

# The body of every refusal (config.errors): a sentence and a stable code.
CARD_ERROR = inline_serializer(
    name="CardApiError",
    fields={"detail": serializers.CharField(), "code": serializers.CharField()},
)


def _refusal(description: str, detail: str, code: str) -> OpenApiResponse:
    return OpenApiResponse(
        response=CARD_ERROR,
        description=description,
        examples=[OpenApiExample(code, value={"detail": detail, "code": code})],
    )


NOT_SET_UP = _refusal(
    "Card payments are not set up on this instance (code cards_not_set_up)",
    "Card payments are not set up.",
    "cards_not_set_up",
)
REFUND_STATES = _refusal(
    "Refused in this state: the card payment is not paid (code card_payment), or card "
    "payments are not set up (code cards_not_set_up)",
    "Only a paid card payment can be refunded.",
    "card_payment",
)
CARD_DECLINED = _refusal(
    "The card network refused (code card_declined)",
    "Your card was declined.",
    "card_declined",
)
GATEWAY_DOWN = _refusal(
    "Stripe could not be reached or refused the call (code card_gateway); nothing changed, "
    "try again",
    "Stripe did not accept the request. Nothing was charged; try again.",
    "card_gateway",
)
REFUND_INPUT = OpenApiResponse(
    response=OpenApiTypes.OBJECT,
    description="Bad input: each field in error with its messages",
    examples=[
        OpenApiExample(
            "More than was paid",
            value={"amount": ["Refund more than 0 and at most 70.00 EUR."]},
        )
    ],
)

CARD_PAYMENT_EXAMPLE = {
    "id": 42,
    "invoice": 17,
    "invoice_number": "INV-2026-0017",
    "customer": 5,
    "amount": "120.00",
    "currency": "EUR",
    "status": "succeeded",
    "status_label": "Paid",
    "intent_id": "pi_3QxExample",
    "failure_message": "",
    "payment": 31,
    "refundable": "70.00",
    "disputed": False,
    "refunds": [
        {
            "id": 3,
            "amount": "50.00",
            "currency": "EUR",
            "status": "succeeded",
            "origin": "staff",
            "reason": "Downgrade",
            "stripe_refund_id": "re_3QxExample",
            "credit_notes": ["CN-2026-0004"],
            "failure_message": "",
            "created_at": "2026-11-27T10:12:00Z",
        }
    ],
    "disputes": [],
    "created_at": "2026-11-26T09:30:00Z",
    "succeeded_at": "2026-11-26T09:31:02Z",
}
AUTO_CHARGE_EXAMPLE = {
    "id": 12,
    "invoice": 17,
    "invoice_number": "INV-2026-0017",
    "customer": 5,
    "number": 1,
    "trigger": "renewal",
    "dunning_step": 0,
    "charge_date": "2026-11-26",
    "status": "failed",
    "status_label": "Declined",
    "card_label": "Visa •••• 0341 12/2030",
    "amount": "120.00",
    "card_payment": 41,
    "intent_id": "pi_3QxDeclined",
    "failure_message": "Your card was declined.",
    "created_at": "2026-11-26T03:00:04Z",
    "finished_at": "2026-11-26T03:00:06Z",
    "notified_at": "2026-11-26T03:00:07Z",
}
SAVED_CARD_EXAMPLE = {
    "id": 8,
    "customer": 5,
    "brand": "visa",
    "last4": "4242",
    "exp_month": 12,
    "exp_year": 2030,
    "is_default": True,
    "created_at": "2026-11-26T09:31:02Z",
}


class CanBillOrReadOnly(StaffReadBillersWrite):
    """Any staff member reads; the owner, administrators and billing staff refund and
    remove saved cards."""


class CardPaymentFilterSerializer(serializers.Serializer):
    invoice = serializers.IntegerField(required=False, min_value=1)
    customer = serializers.IntegerField(required=False, min_value=1)
    status = serializers.ChoiceField(choices=CardPayment.Status.choices, required=False)
    disputed = serializers.BooleanField(required=False, allow_null=True, default=None)
    created_after = serializers.DateField(required=False)
    created_before = serializers.DateField(required=False)


def _page_example(title: str, item: dict) -> OpenApiExample:
    """A list response's example: one page holding `item`."""
    return OpenApiExample(
        title,
        value={"count": 1, "next": None, "previous": None, "results": [item]},
        response_only=True,
    )


@extend_schema_view(
    list=extend_schema(
        summary="Card payments of this instance, newest first",
        parameters=[CardPaymentFilterSerializer],
        examples=[_page_example("A page of card payments", CARD_PAYMENT_EXAMPLE)],
    ),
    retrieve=extend_schema(
        summary="One card payment, with its refunds and disputes",
        examples=[OpenApiExample("Paid, partly refunded", value=CARD_PAYMENT_EXAMPLE)],
    ),
)
class CardPaymentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [CanBillOrReadOnly]
    serializer_class = CardPaymentSerializer
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        query = CardPaymentFilterSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        filters = query.validated_data
        return selectors.card_payment_list(
            invoice_id=filters.get("invoice"),
            customer_id=filters.get("customer"),
            status=filters.get("status"),
            disputed=filters.get("disputed"),
            created_after=filters.get("created_after"),
            created_before=filters.get("created_before"),
        ).prefetch_related("refunds__refund__credit_notes")

    def get_object(self) -> CardPayment:
        try:
            return selectors.get_card_payment_for(self.request.user, self.kwargs["pk"])
        except CardPayment.DoesNotExist as exc:
            raise NotFound(_("No such card payment.")) from exc

    @extend_schema(
        summary="Refund a card payment, fully or partly: the card is refunded through Stripe "
        "and a credit note issued in the books",
        request=CardRefundCreateSerializer,
        responses={
            201: CardRefundSerializer,
            400: REFUND_INPUT,
            402: CARD_DECLINED,
            409: REFUND_STATES,
            502: GATEWAY_DOWN,
        },
        examples=[
            OpenApiExample(
                "Partial refund",
                value={"amount": "50.00", "reason": "Downgrade to the small plan"},
                request_only=True,
            ),
            OpenApiExample(
                "Refunded",
                value=CARD_PAYMENT_EXAMPLE["refunds"][0],
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    @action(detail=True, methods=["post"])
    def refund(self, request, pk=None):
        card_payment = self.get_object()
        payload = CardRefundCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        refund = services.card_payment_refund(
            card_payment=card_payment, actor=request_actor(request), **payload.validated_data
        )
        return Response(CardRefundSerializer(refund).data, status=status.HTTP_201_CREATED)


class AutoChargeFilterSerializer(serializers.Serializer):
    invoice = serializers.IntegerField(required=False, min_value=1)
    customer = serializers.IntegerField(required=False, min_value=1)
    status = serializers.ChoiceField(choices=AutoChargeAttempt.Status.choices, required=False)


@extend_schema_view(
    list=extend_schema(
        summary="Automatic charges of renewal invoices to customers' default cards, newest first",
        parameters=[AutoChargeFilterSerializer],
        examples=[_page_example("A page of automatic charges", AUTO_CHARGE_EXAMPLE)],
    ),
    retrieve=extend_schema(
        summary="One automatic charge and its outcome",
        examples=[OpenApiExample("Declined at renewal", value=AUTO_CHARGE_EXAMPLE)],
    ),
)
class AutoChargeAttemptViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Read-only: charges are made by the renewal and dunning runs, never through the API."""

    permission_classes = [CanBillOrReadOnly]
    serializer_class = AutoChargeAttemptSerializer
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        query = AutoChargeFilterSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        filters = query.validated_data
        return selectors.auto_charge_attempt_list(
            invoice_id=filters.get("invoice"),
            customer_id=filters.get("customer"),
            status=filters.get("status"),
        )

    def get_object(self) -> AutoChargeAttempt:
        try:
            return selectors.get_auto_charge_attempt_for(self.request.user, self.kwargs["pk"])
        except AutoChargeAttempt.DoesNotExist as exc:
            raise NotFound(_("No such automatic charge.")) from exc


class InvoiceCardStatusView(APIView):
    """Whether an invoice can be paid by card, and how its card payments stand."""

    permission_classes = [CanBillOrReadOnly]

    @extend_schema(
        summary="Card payment status of an invoice",
        responses={200: InvoiceCardStatusSerializer},
        examples=[
            OpenApiExample(
                "Paid by card",
                value={
                    "invoice": 17,
                    "invoice_number": "INV-2026-0017",
                    "invoice_status": "paid",
                    "amount_due": "0.00",
                    "currency": "EUR",
                    "cards_ready": True,
                    "payable_by_card": False,
                    "card_status": "succeeded",
                    "disputed": False,
                    "card_payments": [CARD_PAYMENT_EXAMPLE],
                    "auto_charge_attempts": [],
                },
            )
        ],
    )
    def get(self, request, invoice_pk: int):
        try:
            invoice = get_invoice_for(request.user, invoice_pk)
        except Invoice.DoesNotExist as exc:
            raise NotFound(_("No such invoice.")) from exc
        payments = list(
            selectors.card_payment_list(invoice_id=invoice.pk).prefetch_related(
                "refunds__refund__credit_notes"
            )
        )
        data = {
            "invoice": invoice.pk,
            "invoice_number": invoice.number or "",
            "invoice_status": invoice.status,
            "amount_due": invoice.amount_due,
            "currency": invoice.currency,
            "cards_ready": selectors.card_setup().ready,
            "payable_by_card": selectors.invoice_payable_by_card(invoice),
            "card_status": payments[0].status if payments else None,
            "disputed": any(p.disputed for p in payments),
            "card_payments": payments,
            "auto_charge_attempts": selectors.auto_charge_attempts_of(invoice),
        }
        return Response(InvoiceCardStatusSerializer(data).data)


def _customer_or_404(request, customer_pk: int) -> Customer:
    try:
        return get_customer_for(request.user, customer_pk)
    except Customer.DoesNotExist as exc:
        raise NotFound(_("No such customer.")) from exc


class CustomerPaymentMethodsView(APIView):
    """A customer's saved cards and their automatic-renewal choice (read-only)."""

    permission_classes = [CanBillOrReadOnly]

    @extend_schema(
        summary="A customer's saved payment methods",
        operation_id="customers_payment_methods_list",
        responses={200: PaymentMethodsSerializer},
        examples=[
            OpenApiExample(
                "One saved card",
                value={
                    "customer": 5,
                    "auto_charge_renewals": True,
                    "payment_methods": [SAVED_CARD_EXAMPLE],
                },
            )
        ],
    )
    def get(self, request, customer_pk: int):
        customer = _customer_or_404(request, customer_pk)
        data = {
            "customer": customer.pk,
            "auto_charge_renewals": selectors.card_settings_for(customer).auto_charge_renewals,
            "payment_methods": selectors.saved_cards_for(customer),
        }
        return Response(PaymentMethodsSerializer(data).data)


class CustomerPaymentMethodView(APIView):
    """One saved card of a customer: read it, or remove it (detached in Stripe)."""

    permission_classes = [CanBillOrReadOnly]

    def _card(self, request, customer_pk: int, pk: int) -> SavedCard:
        customer = _customer_or_404(request, customer_pk)
        try:
            return selectors.get_saved_card_for(request.user, pk, customer_id=customer.pk)
        except SavedCard.DoesNotExist as exc:
            raise NotFound(_("No such saved card for this customer.")) from exc

    @extend_schema(
        summary="One saved payment method of a customer",
        operation_id="customers_payment_methods_retrieve",
        responses={200: SavedCardSerializer},
        examples=[OpenApiExample("Default Visa", value=SAVED_CARD_EXAMPLE)],
    )
    def get(self, request, customer_pk: int, pk: int):
        return Response(SavedCardSerializer(self._card(request, customer_pk, pk)).data)

    @extend_schema(
        summary="Remove a saved payment method: detached from the customer in Stripe, then "
        "forgotten here (a removed default passes to the newest card left)",
        request=None,
        responses={
            204: OpenApiResponse(description="Removed"),
            409: NOT_SET_UP,
            502: GATEWAY_DOWN,
        },
    )
    def delete(self, request, customer_pk: int, pk: int):
        card = self._card(request, customer_pk, pk)
        services.saved_card_remove(card=card, actor=request_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
