"""Commissions API: rules (managers write), the ledger and balances (staff read), payouts
with their statements (billing roles write), and correcting an order's referer."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from tenant_apps.accounts.permissions import StaffReadBillersWrite, StaffReadManagersWrite
from tenant_apps.catalog.models import Product
from tenant_apps.instance import clock
from tenant_apps.instance.audit import request_actor
from tenant_apps.orders.models import Order
from tenant_apps.referrals.models import Referer

from . import selectors, services
from .models import CommissionEntry, CommissionRule, Payout


class CanManageRules(StaffReadManagersWrite):
    write_message = gettext_lazy("Only the owner or an administrator can change commission rules.")


class CanPay(StaffReadBillersWrite):
    write_message = gettext_lazy(
        "Only the owner, administrators and billing staff can record payouts."
    )


class TierSerializer(serializers.Serializer):
    min_conversions = serializers.IntegerField(min_value=1)
    value = serializers.DecimalField(max_digits=12, decimal_places=3, min_value=0)


class RuleSerializer(serializers.ModelSerializer):
    product = serializers.PrimaryKeyRelatedField(
        queryset=Product.objects.all(), allow_null=True, required=False
    )
    tiers = TierSerializer(many=True, required=False)

    class Meta:
        model = CommissionRule
        fields = [
            "id",
            "name",
            "product",
            "kind",
            "rate",
            "amount",
            "currency",
            "duration",
            "months",
            "second_level_rate",
            "tiers",
            "is_active",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]
        validators: list = []  # the one-active-rule rule is the service's to judge

    def to_representation(self, instance: CommissionRule):
        data = super().to_representation(instance)
        field = "rate" if instance.kind == CommissionRule.Kind.PERCENT else "amount"
        data["tiers"] = [
            {"min_conversions": tier.min_conversions, "value": str(getattr(tier, field))}
            for tier in instance.tiers.all()
        ]
        return data


@extend_schema_view(
    list=extend_schema(summary="Commission rules"), retrieve=extend_schema(summary="One rule")
)
class RuleViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = [CanManageRules]
    serializer_class = RuleSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.rule_list()

    def get_object(self) -> CommissionRule:
        rule = selectors.rule_list().filter(pk=self.kwargs["pk"]).first()
        if rule is None:
            raise NotFound(_("No such rule."))
        return rule

    @extend_schema(request=RuleSerializer, responses={201: RuleSerializer})
    def create(self, request):
        payload = self.get_serializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        data.pop("is_active", None)
        rule = services.commission_rule_create(**data, actor=request_actor(request))
        return Response(
            self.get_serializer(self.get_queryset().get(pk=rule.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=RuleSerializer, responses=RuleSerializer)
    def partial_update(self, request, pk=None):
        rule = self.get_object()
        payload = self.get_serializer(rule, data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        tiers = data.pop("tiers", None)
        rule = services.commission_rule_update(
            rule=rule, tiers=tiers, **data, actor=request_actor(request)
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=rule.pk)).data)


class EntrySerializer(serializers.ModelSerializer):
    invoice_number = serializers.CharField(source="invoice.number", read_only=True)
    status = serializers.SerializerMethodField()

    class Meta:
        model = CommissionEntry
        fields = [
            "id",
            "referer",
            "level",
            "kind",
            "invoice",
            "invoice_number",
            "order",
            "rule",
            "terms_kind",
            "terms_value",
            "base",
            "amount",
            "currency",
            "matures_on",
            "payout",
            "status",
            "created_at",
        ]
        read_only_fields = fields

    def get_status(self, obj: CommissionEntry) -> str:
        if obj.payout_id:
            return "paid"
        return "payable" if obj.matures_on <= self.context["today"] else "pending"


class EntryFilterSerializer(serializers.Serializer):
    referer = serializers.IntegerField(required=False, help_text=gettext_lazy("Partner id"))
    currency = serializers.CharField(required=False, max_length=3)
    status = serializers.ChoiceField(choices=["pending", "payable", "paid"], required=False)


@extend_schema_view(
    list=extend_schema(summary="Commission ledger entries", parameters=[EntryFilterSerializer])
)
class EntryViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = EntrySerializer

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "today": clock.today()}

    def get_queryset(self):
        query = EntryFilterSerializer(data=self.request.query_params.dict())
        query.is_valid(raise_exception=True)
        filters = query.validated_data
        return selectors.entry_list(
            referer_id=filters.get("referer"),
            currency=(filters.get("currency") or "").upper() or None,
            status=filters.get("status"),
        )


class BalanceSerializer(serializers.Serializer):
    referer = serializers.IntegerField()
    currency = serializers.CharField()
    pending = serializers.DecimalField(max_digits=14, decimal_places=2)
    payable = serializers.DecimalField(max_digits=14, decimal_places=2)
    paid_out = serializers.DecimalField(max_digits=14, decimal_places=2)
    earned = serializers.DecimalField(max_digits=14, decimal_places=2)


class BalanceView(APIView):
    """Each partner's balances per currency (pending, payable, paid out, earned)."""

    @extend_schema(
        summary="Partner balances",
        parameters=[OpenApiParameter("referer", int, description="Only this partner")],
        responses=BalanceSerializer(many=True),
    )
    def get(self, request):
        referers = Referer.objects.order_by("name", "pk")
        raw = request.query_params.get("referer")
        if raw is not None:
            if not raw.isdigit():
                raise serializers.ValidationError({"referer": [_("Give a partner id.")]})
            referers = referers.filter(pk=int(raw))
        rows = []
        for referer in referers:
            for balance in selectors.balances_for([referer]).values():
                rows.append(
                    {
                        "referer": referer.pk,
                        "currency": balance.currency,
                        "pending": balance.pending,
                        "payable": balance.payable,
                        "paid_out": balance.paid_out,
                        "earned": balance.earned,
                    }
                )
        return Response(BalanceSerializer(rows, many=True).data)


class PayoutSerializer(serializers.ModelSerializer):
    referer = serializers.PrimaryKeyRelatedField(queryset=Referer.objects.all())

    class Meta:
        model = Payout
        fields = [
            "id",
            "referer",
            "amount",
            "currency",
            "method",
            "reference",
            "paid_on",
            "created_at",
        ]
        read_only_fields = ["id", "amount", "created_at"]
        extra_kwargs = {"paid_on": {"required": False}}


@extend_schema_view(
    list=extend_schema(summary="Commission payouts"), retrieve=extend_schema(summary="One payout")
)
class PayoutViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [CanPay]
    serializer_class = PayoutSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.payout_list()

    @extend_schema(
        request=PayoutSerializer,
        responses={201: PayoutSerializer},
        summary="Pay a partner everything payable in one currency",
    )
    def create(self, request):
        payload = self.get_serializer(data=request.data)
        payload.is_valid(raise_exception=True)
        payout = services.payout_record(**payload.validated_data, actor=request_actor(request))
        return Response(self.get_serializer(payout).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=EntrySerializer(many=True), summary="The entries a payout settled")
    @action(detail=True, methods=["get"])
    def statement(self, request, pk=None):
        payout = self.get_object()
        entries = selectors.statement_entries(payout)
        return Response(EntrySerializer(entries, many=True, context={"today": clock.today()}).data)


class OrderRefererSerializer(serializers.Serializer):
    referer = serializers.PrimaryKeyRelatedField(
        queryset=Referer.objects.all(),
        allow_null=True,
        help_text=gettext_lazy("Partner id, or null for none"),
    )
    reason = serializers.CharField(max_length=300)


class OrderRefererView(APIView):
    """Set or correct the partner an order is credited to (audited; commission follows)."""

    permission_classes = [CanPay]

    @extend_schema(
        summary="Correct an order's referer", request=OrderRefererSerializer, responses=None
    )
    def post(self, request, pk: int):
        order = Order.objects.filter(pk=pk).first()
        if order is None:
            raise NotFound(_("No such order."))
        payload = OrderRefererSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        order = services.order_referer_correct(
            order=order, **payload.validated_data, actor=request_actor(request)
        )
        return Response(
            {
                "order": order.pk,
                "referer": order.referer_id,
                "referer_source": order.referer_source,
            }
        )
