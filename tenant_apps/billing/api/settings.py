"""Billing API of configuration: tax rates and the instance's billing settings.

Every staff member reads; the owner and administrators change them, as the actor.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from tenant_apps.instance.audit import request_actor

from .. import services
from ..selectors import tax_rate_list
from ..serializers import BillingSettingsSerializer, TaxRateSerializer
from .common import REFUSED, CanManageOrReadOnly


@extend_schema_view(
    list=extend_schema(summary="Tax rates by country and tax class"),
    create=extend_schema(summary="Add a tax rate"),
    update=extend_schema(summary="Change a tax rate"),
    partial_update=extend_schema(summary="Change a tax rate"),
    destroy=extend_schema(summary="Delete a tax rate"),
)
class TaxRateViewSet(viewsets.ModelViewSet):
    """Tax rates per country and tax class; writes go through the tax-rate services."""

    permission_classes = [CanManageOrReadOnly]
    serializer_class = TaxRateSerializer

    def get_queryset(self):
        return tax_rate_list()

    def _save(self, serializer, tax_rate=None):
        data = serializer.validated_data
        try:
            serializer.instance = services.tax_rate_set(
                country=data.get("country", getattr(tax_rate, "country", "")),
                tax_class=data.get("tax_class", getattr(tax_rate, "tax_class", None)),
                rate=data.get("rate", getattr(tax_rate, "rate", None)),
                name=data.get("name", getattr(tax_rate, "name", "VAT")),
                tax_rate=tax_rate,
                actor=request_actor(self.request),
            )
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc

    def perform_create(self, serializer):
        self._save(serializer)

    def perform_update(self, serializer):
        self._save(serializer, tax_rate=serializer.instance)

    def perform_destroy(self, instance):
        services.tax_rate_delete(tax_rate=instance, actor=request_actor(self.request))


class BillingSettingsView(APIView):
    """The instance's billing settings (one row); PUT replaces them, PATCH changes some."""

    permission_classes = [CanManageOrReadOnly]

    @extend_schema(summary="Billing settings", responses=BillingSettingsSerializer)
    def get(self, request):
        return Response(BillingSettingsSerializer(services.billing_settings_get()).data)

    def _update(self, request, *, partial: bool) -> Response:
        payload = BillingSettingsSerializer(
            services.billing_settings_get(), data=request.data, partial=partial
        )
        payload.is_valid(raise_exception=True)
        row = services.billing_settings_update(
            actor=request_actor(request), **payload.validated_data
        )
        return Response(BillingSettingsSerializer(row).data)

    @extend_schema(
        summary="Replace the billing settings",
        request=BillingSettingsSerializer,
        responses={200: BillingSettingsSerializer, 400: REFUSED},
    )
    def put(self, request):
        return self._update(request, partial=False)

    @extend_schema(
        summary="Change some billing settings",
        request=BillingSettingsSerializer,
        responses={200: BillingSettingsSerializer, 400: REFUSED},
    )
    def patch(self, request):
        return self._update(request, partial=True)
