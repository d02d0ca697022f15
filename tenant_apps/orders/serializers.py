"""API representations of orders and services (amounts are decimal strings)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from tenant_apps.billing.models import Invoice
from tenant_apps.catalog.models import BillingCycle, Product
from tenant_apps.clients.models import Customer
from tenant_apps.referrals.models import Referer
from tenant_apps.referrals.selectors import referer_by_code

from .models import Order, OrderItem, Service
from .selectors import order_invoices


class InvoiceRefSerializer(serializers.ModelSerializer):
    amount_due = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True)

    class Meta:
        model = Invoice
        fields = ["id", "kind", "number", "status", "currency", "total", "amount_due"]
        read_only_fields = fields


class OrderItemSerializer(serializers.ModelSerializer):
    product_code = serializers.CharField(source="product.code", read_only=True)
    product_name = serializers.CharField(source="product.name", read_only=True)
    service = serializers.SerializerMethodField()

    class Meta:
        model = OrderItem
        fields = [
            "id",
            "product",
            "product_code",
            "product_name",
            "cycle",
            "quantity",
            "unit_price",
            "setup_fee",
            "label",
            "parent",
            "service",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_service(self, obj) -> int | None:
        service = getattr(obj, "service", None)
        return service.pk if service else None


class OrderSerializer(serializers.ModelSerializer):
    customer_name = serializers.CharField(source="customer.display_name", read_only=True)
    referer_code = serializers.CharField(
        source="referer.code", read_only=True, default=None, allow_null=True
    )
    items = OrderItemSerializer(many=True, read_only=True)
    invoices = serializers.SerializerMethodField()

    class Meta:
        model = Order
        fields = [
            "id",
            "customer",
            "customer_name",
            "status",
            "source",
            "referer",
            "referer_code",
            "referer_source",
            "currency",
            "notes",
            "items",
            "invoices",
            "created_at",
            "accepted_at",
        ]
        read_only_fields = fields

    @extend_schema_field(InvoiceRefSerializer(many=True))
    def get_invoices(self, obj) -> list[dict]:
        # Only on one order (detail, create, actions): a list would cost a query per row.
        if not self.context.get("with_invoices"):
            return []
        return InvoiceRefSerializer(order_invoices(obj), many=True).data


class OrderItemInputSerializer(serializers.Serializer):
    product = serializers.PrimaryKeyRelatedField(
        queryset=Product.objects.filter(kind=Product.Kind.PLAN)
    )
    cycle = serializers.ChoiceField(choices=BillingCycle.choices)
    quantity = serializers.IntegerField(min_value=1, max_value=1000, default=1)
    label = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    addons = serializers.PrimaryKeyRelatedField(
        queryset=Product.objects.filter(kind=Product.Kind.ADDON),
        many=True,
        required=False,
        default=list,
    )


class OrderCreateSerializer(serializers.Serializer):
    customer = serializers.PrimaryKeyRelatedField(queryset=Customer.objects.all())
    items = OrderItemInputSerializer(many=True, allow_empty=False)
    referer_code = serializers.CharField(
        max_length=40,
        required=False,
        default="",
        allow_blank=True,
        help_text=gettext_lazy("Code of an active referer of this instance (any case)."),
    )
    referer_source = serializers.ChoiceField(
        choices=[c for c in Order.RefererSource.choices if c[0]],
        default=Order.RefererSource.STAFF,
        help_text=gettext_lazy("How the referer became known; staff by default."),
    )
    activate = serializers.BooleanField(
        default=True,
        help_text=gettext_lazy(
            "Start the services now (within quota); otherwise when the invoice is paid."
        ),
    )
    notes = serializers.CharField(required=False, default="", allow_blank=True)

    def validate_referer_code(self, value: str) -> Referer | None:
        if not value.strip():
            return None
        referer = referer_by_code(value)
        if referer is None:
            raise serializers.ValidationError(
                _("No active referer has the code “%(value)s”.") % {"value": value}
            )
        return referer


class OrderAcceptSerializer(serializers.Serializer):
    activate = serializers.BooleanField(default=True)


class ServiceSerializer(serializers.ModelSerializer):
    product_code = serializers.CharField(source="product.code", read_only=True)
    product_name = serializers.CharField(source="product.name", read_only=True)
    customer_name = serializers.CharField(source="customer.display_name", read_only=True)
    order = serializers.IntegerField(
        source="order_item.order_id", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Service
        fields = [
            "id",
            "customer",
            "customer_name",
            "product",
            "product_code",
            "product_name",
            "parent",
            "order",
            "label",
            "status",
            "status_reason",
            "cycle",
            "quantity",
            "currency",
            "recurring_amount",
            "resources",
            "next_due_date",
            "first_period_start",
            "cancel_at_period_end",
            "suspended_for_nonpayment",
            "suspended_with_parent",
            "activated_at",
            "suspended_at",
            "ended_at",
            "created_at",
        ]
        read_only_fields = fields


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, required=False, default="", allow_blank=True)


class ServiceCancelSerializer(ReasonSerializer):
    immediately = serializers.BooleanField(
        default=False, help_text=gettext_lazy("End now; otherwise at the end of the paid term.")
    )


class ChangePlanSerializer(serializers.Serializer):
    product = serializers.PrimaryKeyRelatedField(
        queryset=Product.objects.filter(kind=Product.Kind.PLAN)
    )


class ChangePlanResultSerializer(serializers.Serializer):
    service = ServiceSerializer()
    document = InvoiceRefSerializer(
        allow_null=True,
        help_text=gettext_lazy("Prorated invoice (upgrade) or credit note (downgrade)."),
    )


class AddonAddSerializer(serializers.Serializer):
    # Any product id: the service says why one cannot go on this service (a plan, not
    # offered with it, no price in its currency, already there).
    addon = serializers.PrimaryKeyRelatedField(
        queryset=Product.objects.all(),
        help_text=gettext_lazy("Id of an add-on offered with the plan"),
    )


class AddonAddedSerializer(serializers.Serializer):
    service = ServiceSerializer(
        help_text=gettext_lazy("The add-on's service (pending until paid).")
    )
    invoice = InvoiceRefSerializer(
        help_text=gettext_lazy("The invoice issued for it: prorated to the plan's next due date.")
    )
