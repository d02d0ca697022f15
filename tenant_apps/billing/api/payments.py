"""Billing API of payments received: list, read, record one (on account, against one
invoice, or across several), refund it, reverse it.

Every staff member reads; writing needs `can_bill`, with the caller as the actor.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from tenant_apps.instance.audit import request_actor

from .. import services, settlement
from ..models import Payment
from ..selectors import payment_list
from ..serializers import (
    PaymentCreateSerializer,
    PaymentReverseSerializer,
    PaymentSerializer,
    RefundCreateSerializer,
    RefundSerializer,
)
from .common import REFUSED, CanBillOrReadOnly


class PaymentFilterSerializer(serializers.Serializer):
    customer = serializers.IntegerField(required=False)
    invoice = serializers.IntegerField(required=False)
    method = serializers.ChoiceField(choices=Payment.Method.choices, required=False)
    received_after = serializers.DateField(required=False)
    received_before = serializers.DateField(required=False)


@extend_schema_view(
    list=extend_schema(summary="Payments received", parameters=[PaymentFilterSerializer]),
    retrieve=extend_schema(summary="One payment"),
)
class PaymentViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = [CanBillOrReadOnly]
    serializer_class = PaymentSerializer
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        qs = payment_list()
        if self.action != "list":
            return qs
        query = PaymentFilterSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        filters = query.validated_data
        if "customer" in filters:
            qs = qs.filter(customer_id=filters["customer"])
        if "invoice" in filters:
            qs = qs.filter(allocations__invoice_id=filters["invoice"])
        if "method" in filters:
            qs = qs.filter(method=filters["method"])
        if "received_after" in filters:
            qs = qs.filter(received_on__gte=filters["received_after"])
        if "received_before" in filters:
            qs = qs.filter(received_on__lte=filters["received_before"])
        return qs

    @extend_schema(
        summary="Record a payment: on account, against one of the customer's invoices, or "
        "across several",
        request=PaymentCreateSerializer,
        responses={201: PaymentSerializer, 400: REFUSED, 409: REFUSED},
    )
    def create(self, request):
        payload = PaymentCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        payment = services.payment_record(
            actor=request_actor(request), created_by=request.user, **payload.validated_data
        )
        return Response(PaymentSerializer(payment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Refund a payment, fully or partly (credit notes are issued with it)",
        request=RefundCreateSerializer,
        responses={201: RefundSerializer, 400: REFUSED, 409: REFUSED},
    )
    @action(detail=True, methods=["post"])
    def refund(self, request, pk=None):
        payment = self.get_object()
        payload = RefundCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        refund = settlement.payment_refund(
            payment=payment, actor=request_actor(request), **payload.validated_data
        )
        return Response(RefundSerializer(refund).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Reverse a payment recorded by mistake (its invoices open again)",
        request=PaymentReverseSerializer,
        responses={200: PaymentSerializer, 400: REFUSED, 409: REFUSED},
    )
    @action(detail=True, methods=["post"])
    def reverse(self, request, pk=None):
        payment = self.get_object()
        payload = PaymentReverseSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        reversed_payment = settlement.payment_reverse(
            payment=payment, actor=request_actor(request), **payload.validated_data
        )
        return Response(PaymentSerializer(reversed_payment).data)
