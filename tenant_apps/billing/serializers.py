"""Billing API serializers: read shapes of documents, payments, rates, settings and runs, and
the input of each write (validated here for form, by the services for meaning).

Every amount is a Decimal serialised as a string ("120.00"), never a float.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from tenant_apps.catalog.models import TaxClass
from tenant_apps.clients.models import Customer
from tenant_apps.instance.money import validate_currency

from .models import (
    BillingSettings,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentAllocation,
    Refund,
    TaxRate,
)
from .tax_evidence import invoice_tax_evidence


def money(**kwargs) -> serializers.DecimalField:
    """A read-only amount, as a string."""
    return serializers.DecimalField(
        max_digits=14, decimal_places=2, coerce_to_string=True, read_only=True, **kwargs
    )


# --------------------------------------------------------------------------------------
# Documents


class InvoiceLineSerializer(serializers.ModelSerializer):
    quantity = serializers.DecimalField(
        max_digits=10, decimal_places=2, coerce_to_string=True, read_only=True
    )
    unit_price = money()
    tax_rate = serializers.DecimalField(
        max_digits=6,
        decimal_places=3,
        coerce_to_string=True,
        read_only=True,
        help_text=gettext_lazy("Percent"),
    )
    net_amount = money()
    tax_amount = money()
    gross_amount = money()

    class Meta:
        model = InvoiceLine
        fields = [
            "id",
            "position",
            "kind",
            "description",
            "quantity",
            "unit_price",
            "tax_class_code",
            "tax_rate",
            "net_amount",
            "tax_amount",
            "gross_amount",
            "service",
            "period_start",
            "period_end",
        ]
        read_only_fields = fields


class InvoiceSerializer(serializers.ModelSerializer):
    customer_name = serializers.CharField(source="customer.display_name", read_only=True)
    subtotal = money()
    tax_total = money()
    total = money()
    amount_paid = money()
    amount_credited = money()
    amount_due = money(
        help_text=gettext_lazy("What the customer still owes (0 for drafts, void, credit notes)")
    )
    pdf_url = serializers.SerializerMethodField()

    class Meta:
        model = Invoice
        fields = [
            "id",
            "number",
            "kind",
            "status",
            "customer",
            "customer_name",
            "currency",
            "tax_treatment",
            "prices_include_tax",
            "issue_date",
            "due_date",
            "subtotal",
            "tax_total",
            "total",
            "amount_paid",
            "amount_credited",
            "amount_due",
            "credited_invoice",
            "billing_run",
            "pdf_url",
            "created_at",
            "issued_at",
            "paid_at",
            "voided_at",
        ]
        read_only_fields = fields

    def get_pdf_url(self, obj) -> str | None:
        """Where to download the stored PDF; null until it is rendered."""
        if not obj.pdf:
            return None
        return reverse("billing-api-invoice-pdf", args=[obj.pk])


class VatCheckEvidenceSerializer(serializers.Serializer):
    tax_id = serializers.CharField()
    outcome = serializers.ChoiceField(choices=["valid", "invalid", "unreachable"])
    checked_at = serializers.DateTimeField()
    request_date = serializers.DateField(allow_null=True)
    consultation_number = serializers.CharField(help_text=gettext_lazy("VIES's proof of the check"))


class TaxEvidenceSerializer(serializers.Serializer):
    """What an issued document's tax treatment relied on, frozen at issue."""

    billing_country = serializers.CharField(
        help_text=gettext_lazy("ISO 3166 code the customer billed from")
    )
    tax_treatment = serializers.ChoiceField(choices=Invoice.TaxTreatment.choices)
    vat_id = serializers.CharField(
        help_text=gettext_lazy("The customer's VAT id at issue (may be empty)")
    )
    vies_check = VatCheckEvidenceSerializer(
        allow_null=True, help_text=gettext_lazy("The VIES confirmation a reverse charge relied on")
    )
    latest_vies_check = VatCheckEvidenceSerializer(
        allow_null=True,
        help_text=gettext_lazy(
            "A later VIES answer that did not confirm the id (outage or not valid)"
        ),
    )
    summary = serializers.CharField(
        help_text=gettext_lazy("What the evidence led to, in a sentence")
    )


class InvoiceDetailSerializer(InvoiceSerializer):
    lines = InvoiceLineSerializer(many=True, read_only=True)
    credit_notes = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    tax_evidence = serializers.SerializerMethodField()

    class Meta(InvoiceSerializer.Meta):
        fields = [
            *InvoiceSerializer.Meta.fields,
            "notes",
            "legal_notes",
            "issuer_snapshot",
            "customer_snapshot",
            "lines",
            "credit_notes",
            "tax_evidence",
        ]
        read_only_fields = fields

    @extend_schema_field(TaxEvidenceSerializer(allow_null=True))
    def get_tax_evidence(self, obj) -> dict | None:
        """Place-of-supply evidence of an issued document; null for a draft."""
        return invoice_tax_evidence(obj)


class LineInputSerializer(serializers.Serializer):
    description = serializers.CharField(max_length=300)
    quantity = serializers.DecimalField(
        max_digits=10, decimal_places=2, default=Decimal("1"), coerce_to_string=True
    )
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2, coerce_to_string=True)
    tax_class_code = serializers.SlugField(max_length=40, default="standard")
    kind = serializers.ChoiceField(
        choices=InvoiceLine.Kind.choices, default=InvoiceLine.Kind.ADJUSTMENT
    )

    def validate_quantity(self, value: Decimal) -> Decimal:
        if value <= 0:
            raise serializers.ValidationError(_("The quantity must be more than 0."))
        return value

    def validate_unit_price(self, value: Decimal) -> Decimal:
        if value < 0:
            raise serializers.ValidationError(
                _("Prices cannot be negative; issue a credit note to give money back.")
            )
        return value

    def validate_tax_class_code(self, value: str) -> str:
        if not TaxClass.objects.filter(code=value).exists():
            raise serializers.ValidationError(_("No tax class “%(value)s”.") % {"value": value})
        return value


class InvoiceCreateSerializer(serializers.Serializer):
    customer = serializers.PrimaryKeyRelatedField(queryset=Customer.objects.all())
    currency = serializers.CharField(
        max_length=3,
        required=False,
        allow_blank=True,
        default="",
        help_text=gettext_lazy("ISO 4217; empty: the customer's currency"),
    )
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    lines = LineInputSerializer(many=True, required=False, default=list)

    def validate_currency(self, value: str) -> str:
        if not value:
            return ""
        try:
            return validate_currency(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc


class LineRemoveSerializer(serializers.Serializer):
    line_id = serializers.IntegerField()


WAIVE_HELP = gettext_lazy(
    "Give away the unpaid service periods on the invoice (recorded on each service) instead "
    "of billing them again on the next renewal run (the default)."
)


class VoidSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    waive_periods = serializers.BooleanField(required=False, default=False, help_text=WAIVE_HELP)


class CreditLineSerializer(serializers.Serializer):
    line_id = serializers.IntegerField()
    quantity = serializers.DecimalField(
        max_digits=10, decimal_places=2, required=False, coerce_to_string=True
    )


class CreditNoteInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300)
    lines = CreditLineSerializer(
        many=True,
        required=False,
        help_text=gettext_lazy(
            "Lines of the invoice to credit (quantity defaults to the whole line); "
            "leave out to credit the whole invoice."
        ),
    )
    waive_periods = serializers.BooleanField(required=False, default=False, help_text=WAIVE_HELP)


class ApplyCreditSerializer(serializers.Serializer):
    amount = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        required=False,
        allow_null=True,
        coerce_to_string=True,
        help_text=gettext_lazy(
            "Leave out to apply as much as the balance and the amount due allow."
        ),
    )


class AppliedCreditSerializer(serializers.Serializer):
    applied = money()
    invoice = InvoiceSerializer(read_only=True)


# --------------------------------------------------------------------------------------
# Payments


class PaymentAllocationSerializer(serializers.ModelSerializer):
    invoice_number = serializers.CharField(source="invoice.number", read_only=True)
    amount = money(help_text=gettext_lazy("Part of the payment that settled this invoice"))
    refunded = money(help_text=gettext_lazy("Part of it paid back with a credit note"))

    class Meta:
        model = PaymentAllocation
        fields = ["invoice", "invoice_number", "amount", "refunded"]
        read_only_fields = fields


class RefundSerializer(serializers.ModelSerializer):
    amount = money()
    from_credit = money(
        help_text=gettext_lazy("Part taken from the account credit the payment left")
    )
    credit_notes = serializers.SlugRelatedField(slug_field="number", many=True, read_only=True)

    class Meta:
        model = Refund
        fields = [
            "id",
            "payment",
            "amount",
            "currency",
            "from_credit",
            "credit_notes",
            "method",
            "reference",
            "reason",
            "refunded_on",
            "created_at",
        ]
        read_only_fields = fields


class PaymentSerializer(serializers.ModelSerializer):
    invoice_number = serializers.CharField(
        source="invoice.number", read_only=True, default=None, allow_null=True
    )
    amount = money()
    applied_amount = money(
        help_text=gettext_lazy("Part settled on invoices; the rest went to credit")
    )
    refunded_amount = money(help_text=gettext_lazy("Part paid back to the customer"))
    allocations = PaymentAllocationSerializer(many=True, read_only=True)
    refunds = RefundSerializer(many=True, read_only=True)
    created_by = serializers.EmailField(
        source="created_by.email", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Payment
        fields = [
            "id",
            "customer",
            "invoice",
            "invoice_number",
            "amount",
            "applied_amount",
            "refunded_amount",
            "currency",
            "method",
            "reference",
            "received_on",
            "notes",
            "allocations",
            "refunds",
            "reversed_at",
            "reversal_reason",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class PaymentInputSerializer(serializers.Serializer):
    amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=Decimal("0.01"), coerce_to_string=True
    )
    method = serializers.ChoiceField(choices=Payment.Method.choices)
    received_on = serializers.DateField(required=False, help_text=gettext_lazy("Default: today"))
    reference = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    notes = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class AllocationInputSerializer(serializers.Serializer):
    invoice = serializers.PrimaryKeyRelatedField(queryset=Invoice.objects.all())
    amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=Decimal("0.01"), coerce_to_string=True
    )


class PaymentCreateSerializer(PaymentInputSerializer):
    customer = serializers.PrimaryKeyRelatedField(queryset=Customer.objects.all())
    invoice = serializers.PrimaryKeyRelatedField(
        queryset=Invoice.objects.all(),
        required=False,
        allow_null=True,
        help_text=gettext_lazy("Leave out to add the whole amount to the customer's credit."),
    )
    allocations = AllocationInputSerializer(
        many=True,
        required=False,
        help_text=gettext_lazy(
            "Settle several invoices: each with the part of the payment it takes."
        ),
    )
    oldest_first = serializers.BooleanField(
        required=False,
        default=False,
        help_text=gettext_lazy("Settle the customer's open invoices by due date, oldest first."),
    )

    def validate_allocations(self, value):
        return [(item["invoice"], item["amount"]) for item in value]


class RefundCreateSerializer(serializers.Serializer):
    amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=Decimal("0.01"), coerce_to_string=True
    )
    reason = serializers.CharField(max_length=300)
    method = serializers.ChoiceField(
        choices=Payment.Method.choices,
        required=False,
        help_text=gettext_lazy(
            "Default: the payment's. A card payment taken online is then refunded to "
            "the card through Stripe (reference: Stripe's refund id; date: today)."
        ),
    )
    reference = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    refunded_on = serializers.DateField(required=False, help_text=gettext_lazy("Default: today"))
    waive_periods = serializers.BooleanField(required=False, default=False)


class PaymentReverseSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300)


# --------------------------------------------------------------------------------------
# Tax rates, settings, runs


class TaxRateSerializer(serializers.ModelSerializer):
    tax_class = serializers.SlugRelatedField(
        slug_field="code", queryset=TaxClass.objects.all(), help_text=gettext_lazy("Tax class code")
    )
    rate = serializers.DecimalField(
        max_digits=6,
        decimal_places=3,
        min_value=Decimal("0"),
        max_value=Decimal("100"),
        coerce_to_string=True,
        help_text=gettext_lazy("Percent, e.g. 20 or 5.5"),
    )

    class Meta:
        model = TaxRate
        fields = ["id", "country", "tax_class", "rate", "name"]


class BillingSettingsSerializer(serializers.ModelSerializer):
    reminder_days = serializers.ListField(
        child=serializers.IntegerField(min_value=0),
        allow_empty=True,
        help_text=gettext_lazy("Days after the due date to send reminders, e.g. [3, 10]"),
    )
    late_fee_amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("0"), coerce_to_string=True
    )
    late_fee_percent = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        min_value=Decimal("0"),
        max_value=Decimal("100"),
        coerce_to_string=True,
    )

    class Meta:
        model = BillingSettings
        fields = [
            "prices_include_tax",
            "payment_terms_days",
            "renewal_lead_days",
            "invoice_number_format",
            "credit_note_number_format",
            "reminder_days",
            "late_fee_amount",
            "late_fee_percent",
            "late_fee_after_days",
            "late_fee_vat",
            "suspend_after_days",
            "terminate_after_days",
            "checkout_expiry_days",
            "void_issued_invoices",
            "apply_credit_automatically",
        ]
