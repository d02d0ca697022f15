"""Referrals API: referers with share links and order counts; staff read, managers write."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from tenant_apps.accounts.permissions import StaffReadManagersWrite
from tenant_apps.clients.models import Customer
from tenant_apps.instance.audit import request_actor

from . import services
from .links import base_url, share_link
from .models import Referer, RefererCode
from .selectors import referer_list


class CanManageReferersOrReadOnly(StaffReadManagersWrite):
    """Any staff member reads; only the owner and administrators write."""

    write_message = gettext_lazy("Only the owner or an administrator can change referers.")


class RefererSerializer(serializers.ModelSerializer):
    customer = serializers.PrimaryKeyRelatedField(
        queryset=Customer.objects.all(), allow_null=True, required=False
    )
    referred_by = serializers.PrimaryKeyRelatedField(
        queryset=Referer.objects.all(),
        allow_null=True,
        required=False,
        help_text=gettext_lazy("The partner who referred this one (earns the second level)"),
    )
    orders_count = serializers.IntegerField(read_only=True)
    share_link = serializers.SerializerMethodField()
    codes = serializers.SerializerMethodField(
        help_text=gettext_lazy("Further link and checkout codes")
    )

    class Meta:
        model = Referer
        fields = [
            "id",
            "code",
            "name",
            "email",
            "customer",
            "referred_by",
            "is_active",
            "orders_count",
            "share_link",
            "codes",
            "created_at",
        ]
        read_only_fields = ["id", "is_active", "orders_count", "share_link", "codes", "created_at"]
        # Uniqueness (case-insensitive) is the service's to judge, with one message.
        validators: list = []
        extra_kwargs = {"code": {"validators": []}}

    def get_codes(self, obj: Referer) -> list[dict[str, str]]:
        return [{"code": code.code, "kind": code.kind} for code in obj.codes.all()]

    def get_share_link(self, obj: Referer) -> str:
        request = self.context.get("request")
        return share_link(base_url(request), obj.code) if request else ""


class RefererCodeSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=40)
    kind = serializers.ChoiceField(choices=RefererCode.Kind.choices)


class RefererFilterSerializer(serializers.Serializer):
    """Query parameters of the referer list: a value that is not one is a 400, not ignored."""

    search = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text=gettext_lazy("Name, code or e-mail"),
    )
    # Read from a plain dict (see get_queryset): on form-style input DRF takes a missing
    # boolean for false, which would list only the inactive ones.
    active = serializers.BooleanField(required=False, allow_null=True, default=None)


@extend_schema_view(
    list=extend_schema(summary="Referers of this instance", parameters=[RefererFilterSerializer]),
    retrieve=extend_schema(summary="One referer"),
)
class RefererViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Referers. Writes go through the referral services (owner/admin only)."""

    permission_classes = [CanManageReferersOrReadOnly]
    serializer_class = RefererSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        if self.action != "list":
            return referer_list()
        query = RefererFilterSerializer(data=self.request.query_params.dict())
        query.is_valid(raise_exception=True)
        filters = query.validated_data
        return referer_list(search=filters.get("search") or None, active=filters["active"])

    def get_object(self) -> Referer:
        try:
            return referer_list().get(pk=self.kwargs["pk"])
        except Referer.DoesNotExist as exc:
            raise NotFound(_("No such referer.")) from exc

    def _respond(self, referer: Referer, code: int = status.HTTP_200_OK) -> Response:
        fresh = referer_list().get(pk=referer.pk)
        return Response(self.get_serializer(fresh).data, status=code)

    @extend_schema(request=RefererSerializer, responses={201: RefererSerializer})
    def create(self, request):
        payload = self.get_serializer(data=request.data)
        payload.is_valid(raise_exception=True)
        referer = services.referer_create(**payload.validated_data, actor=request_actor(request))
        return self._respond(referer, status.HTTP_201_CREATED)

    def _update(self, request, partial: bool) -> Response:
        referer = self.get_object()
        payload = self.get_serializer(referer, data=request.data, partial=partial)
        payload.is_valid(raise_exception=True)
        referer = services.referer_update(
            referer=referer, **payload.validated_data, actor=request_actor(request)
        )
        return self._respond(referer)

    @extend_schema(request=RefererSerializer, responses=RefererSerializer)
    def update(self, request, pk=None):
        return self._update(request, partial=False)

    @extend_schema(request=RefererSerializer, responses=RefererSerializer)
    def partial_update(self, request, pk=None):
        return self._update(request, partial=True)

    @extend_schema(request=None, responses=RefererSerializer, summary="Stop crediting a referer")
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        referer = services.referer_deactivate(
            referer=self.get_object(), actor=request_actor(request)
        )
        return self._respond(referer)

    @extend_schema(request=None, responses=RefererSerializer, summary="Credit a referer again")
    @action(detail=True, methods=["post"])
    def reactivate(self, request, pk=None):
        referer = services.referer_reactivate(
            referer=self.get_object(), actor=request_actor(request)
        )
        return self._respond(referer)

    @extend_schema(
        request=RefererCodeSerializer,
        responses={201: RefererSerializer},
        summary="Give a partner a further link or checkout code",
    )
    @action(detail=True, methods=["post"])
    def codes(self, request, pk=None):
        payload = RefererCodeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        referer = self.get_object()
        services.referer_code_add(
            referer=referer, **payload.validated_data, actor=request_actor(request)
        )
        return self._respond(referer, status.HTTP_201_CREATED)
