"""Console API (operator's domain only): resellers, allocations and lifecycle."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response

from shared_apps.tenancy import services
from shared_apps.tenancy.models import Allocation, Reseller
from shared_apps.tenancy.naming import MAX_SLUG_LENGTH
from shared_apps.tenancy.selectors import reseller_list
from tenant_apps.accounts.permissions import IsInstanceStaff
from tenant_apps.instance import audit

# Allocations are PostgreSQL bigints: a larger quantity is refused here, not by the database.
MAX_QUANTITY = 2**63 - 1


class IsOperatorStaff(IsInstanceStaff):
    message = gettext_lazy("The console API is for the operator's staff, on the operator's domain.")

    def has_permission(self, request, view) -> bool:
        tenant = getattr(request, "tenant", None)
        return bool(tenant and tenant.is_operator and super().has_permission(request, view))


class AllocationSerializer(serializers.ModelSerializer):
    resource = serializers.CharField(source="resource_id")
    unit = serializers.CharField(source="resource.unit")

    class Meta:
        model = Allocation
        fields = ["resource", "unit", "quantity", "used"]


class ResellerSerializer(serializers.ModelSerializer):
    domains = serializers.SerializerMethodField()
    allocations = AllocationSerializer(many=True, read_only=True)

    class Meta:
        model = Reseller
        fields = [
            "slug",
            "name",
            "legal_name",
            "contact_email",
            "status",
            "status_reason",
            "schema_name",
            "domains",
            "allocations",
            "provisioned_by",
            "provisioning_ms",
            "escalation_price",
            "created_at",
        ]
        read_only_fields = fields

    def get_domains(self, obj) -> list[str]:
        return [d.domain for d in obj.domains.all()]


class ResellerCreateSerializer(serializers.Serializer):
    slug = serializers.CharField(max_length=MAX_SLUG_LENGTH)
    name = serializers.CharField(max_length=200)
    legal_name = serializers.CharField(max_length=200)
    owner_email = serializers.EmailField()
    owner_name = serializers.CharField(max_length=200, required=False, default="")
    owner_password = serializers.CharField(required=False, allow_blank=True, write_only=True)
    custom_domains = serializers.ListField(
        child=serializers.CharField(max_length=253), required=False, default=list
    )
    allocations = serializers.DictField(
        child=serializers.IntegerField(min_value=0, max_value=MAX_QUANTITY),
        required=False,
        default=dict,
    )


class StatusSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, required=False, default="", allow_blank=True)


class AllocationUpdateSerializer(serializers.Serializer):
    allocations = serializers.DictField(
        child=serializers.IntegerField(min_value=0, max_value=MAX_QUANTITY)
    )


def _validation(exc: ValidationError):
    return serializers.ValidationError(
        exc.message_dict if hasattr(exc, "error_dict") else exc.messages
    )


class ResellerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Resellers of this operator. Writes need the owner or an administrator."""

    permission_classes = [IsOperatorStaff]
    serializer_class = ResellerSerializer
    lookup_field = "slug"

    def get_queryset(self):
        return reseller_list().order_by("name")

    def _require_manager(self):
        if not self.request.user.can_manage_instance:
            raise PermissionDenied(_("Only the operator's owner or administrators can do this."))

    def get_object(self):
        try:
            return self.get_queryset().get(slug=self.kwargs["slug"])
        except Reseller.DoesNotExist as exc:
            raise NotFound(_("No such reseller.")) from exc

    @extend_schema(request=ResellerCreateSerializer, responses={201: ResellerSerializer})
    def create(self, request):
        self._require_manager()
        payload = ResellerCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            reseller = services.reseller_create(
                slug=data["slug"],
                name=data["name"],
                legal_name=data["legal_name"],
                owner_email=data["owner_email"],
                owner_name=data["owner_name"],
                owner_password=data.get("owner_password") or None,
                custom_domains=data["custom_domains"],
                allocations=data["allocations"],
                actor=audit.request_actor(request),
            )
        except ValidationError as exc:
            raise _validation(exc) from exc
        reseller = self.get_queryset().get(pk=reseller.pk)
        return Response(ResellerSerializer(reseller).data, status=status.HTTP_201_CREATED)

    def _transition(self, request, service, **extra):
        self._require_manager()
        reseller = self.get_object()
        service(reseller=reseller, actor=audit.request_actor(request), **extra)
        return Response(ResellerSerializer(self.get_object()).data)

    @extend_schema(request=StatusSerializer, responses=ResellerSerializer)
    @action(detail=True, methods=["post"])
    def suspend(self, request, slug=None):
        payload = StatusSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return self._transition(
            request, services.reseller_suspend, reason=payload.validated_data["reason"]
        )

    @extend_schema(request=None, responses=ResellerSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, slug=None):
        return self._transition(request, services.reseller_resume)

    @extend_schema(request=StatusSerializer, responses=ResellerSerializer)
    @action(detail=True, methods=["post"])
    def terminate(self, request, slug=None):
        payload = StatusSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return self._transition(
            request, services.reseller_terminate, reason=payload.validated_data["reason"]
        )

    @extend_schema(request=AllocationUpdateSerializer, responses=ResellerSerializer)
    @action(detail=True, methods=["put"])
    def allocations(self, request, slug=None):
        self._require_manager()
        payload = AllocationUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        reseller = self.get_object()
        try:
            with transaction.atomic():
                for code, quantity in payload.validated_data["allocations"].items():
                    services.allocation_set(
                        reseller=reseller,
                        resource_code=code,
                        quantity=quantity,
                        actor=audit.request_actor(request),
                    )
        except ValidationError as exc:
            raise _validation(exc) from exc
        return Response(ResellerSerializer(self.get_object()).data)
