"""API shapes of card payments: card payments with their refunds and disputes, automatic
charges of renewal invoices, an invoice's card payment status, saved payment methods, and a
refund request.

Amounts are strings of the Decimal in the payment's currency (never floats); Stripe's minor
units never leave the gateway.
"""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext_lazy
from rest_framework import serializers

from .models import AutoChargeAttempt, CardDispute, CardPayment, CardRefund, SavedCard


class CardRefundSerializer(serializers.ModelSerializer):
    credit_notes = serializers.SerializerMethodField(
        help_text=gettext_lazy("Numbers of the credit notes the refund issued in the books")
    )

    class Meta:
        model = CardRefund
        fields = [
            "id",
            "amount",
            "currency",
            "status",
            "origin",
            "reason",
            "stripe_refund_id",
            "credit_notes",
            "failure_message",
            "created_at",
        ]
        read_only_fields = fields

    def get_credit_notes(self, obj: CardRefund) -> list[str]:
        if obj.refund_id is None:
            return []
        return [note.number for note in obj.refund.credit_notes.all() if note.number]


class CardDisputeSerializer(serializers.ModelSerializer):
    class Meta:
        model = CardDispute
        fields = ["id", "dispute_id", "amount", "currency", "reason", "status", "created_at"]
        read_only_fields = fields


class CardPaymentSerializer(serializers.ModelSerializer):
    invoice_number = serializers.CharField(source="invoice.number", read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    refundable = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        read_only=True,
        help_text=gettext_lazy("What may still be refunded to the card"),
    )
    refunds = CardRefundSerializer(many=True, read_only=True)
    disputes = CardDisputeSerializer(many=True, read_only=True)

    class Meta:
        model = CardPayment
        fields = [
            "id",
            "invoice",
            "invoice_number",
            "customer",
            "amount",
            "currency",
            "status",
            "status_label",
            "intent_id",
            "failure_message",
            "payment",
            "refundable",
            "disputed",
            "refunds",
            "disputes",
            "created_at",
            "succeeded_at",
        ]
        read_only_fields = fields


class AutoChargeAttemptSerializer(serializers.ModelSerializer):
    invoice_number = serializers.CharField(source="invoice.number", read_only=True)
    status = serializers.ChoiceField(
        source="outcome",
        choices=AutoChargeAttempt.Status.choices,
        read_only=True,
        help_text=gettext_lazy(
            "How the attempt ended (a processing charge reads as Stripe settled it)"
        ),
    )
    status_label = serializers.CharField(source="outcome_label", read_only=True)
    amount = serializers.DecimalField(
        source="card_payment.amount",
        max_digits=14,
        decimal_places=2,
        read_only=True,
        allow_null=True,
        help_text=gettext_lazy(
            "What was asked of the card (null: the attempt never reached Stripe)"
        ),
    )
    intent_id = serializers.CharField(
        source="card_payment.intent_id", read_only=True, allow_null=True
    )

    class Meta:
        model = AutoChargeAttempt
        fields = [
            "id",
            "invoice",
            "invoice_number",
            "customer",
            "number",
            "trigger",
            "dunning_step",
            "charge_date",
            "status",
            "status_label",
            "card_label",
            "amount",
            "card_payment",
            "intent_id",
            "failure_message",
            "created_at",
            "finished_at",
            "notified_at",
        ]
        read_only_fields = fields


class InvoiceCardStatusSerializer(serializers.Serializer):
    invoice = serializers.IntegerField()
    invoice_number = serializers.CharField(allow_blank=True)
    invoice_status = serializers.CharField()
    amount_due = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    cards_ready = serializers.BooleanField(
        help_text=gettext_lazy("This instance takes card payments now")
    )
    payable_by_card = serializers.BooleanField(
        help_text=gettext_lazy("Something is due and the invoice may be paid by card")
    )
    card_status = serializers.ChoiceField(
        choices=CardPayment.Status.choices,
        allow_null=True,
        help_text=gettext_lazy("Status of the latest card payment (null: none was started)"),
    )
    disputed = serializers.BooleanField(
        help_text=gettext_lazy("A card payment of the invoice is disputed")
    )
    card_payments = CardPaymentSerializer(many=True)
    auto_charge_attempts = AutoChargeAttemptSerializer(
        many=True,
        help_text=gettext_lazy("Automatic charges of the customer's default card, first first"),
    )


class SavedCardSerializer(serializers.ModelSerializer):
    class Meta:
        model = SavedCard
        fields = [
            "id",
            "customer",
            "brand",
            "last4",
            "exp_month",
            "exp_year",
            "is_default",
            "created_at",
        ]
        read_only_fields = fields


class PaymentMethodsSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    auto_charge_renewals = serializers.BooleanField(
        help_text=gettext_lazy(
            "The customer opted in to their default card paying renewal invoices"
        )
    )
    payment_methods = SavedCardSerializer(many=True)


class CardRefundCreateSerializer(serializers.Serializer):
    amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=Decimal("0.01"), coerce_to_string=True
    )
    reason = serializers.CharField(max_length=300)
