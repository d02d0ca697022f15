"""Inbox API for resellers on other billing software (operator's base domain only).

Authenticated by `Authorization: Bearer <inbox key>` and nothing else: Upline sessions and
instance API tokens are not accepted here, and the routes are mounted only in
`config.urls_public`, so an instance's own domain answers 404. A reseller reaches its own
escalations only; another reseller's id is a 404, as if it did not exist.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.decorators import action
from rest_framework.exceptions import AuthenticationFailed, NotFound, PermissionDenied
from rest_framework.exceptions import ValidationError as APIValidationError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from config.api_input import GuardedJSONParser
from shared_apps.tenancy.models import Reseller

from . import inbox
from .models import ExternalEscalation
from .services import ResellerInactive
from .throttling import InboxThrottle

KEYWORD = b"bearer"


@dataclass(frozen=True)
class InboxClient:
    """`request.user` on the inbox API: a reseller's software, not a person."""

    reseller: Reseller
    key_prefix: str = ""
    is_authenticated = True
    is_anonymous = False

    def __str__(self) -> str:
        return f"inbox:{self.reseller.slug}"

    @property
    def actor(self) -> str:
        """Who the audit trail says acted: this key of this reseller."""
        return inbox.inbox_actor(self.reseller, self.key_prefix)


class InboxKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer <key>` with a reseller's inbox key (see `manage.py bridge_token`)."""

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != KEYWORD:
            return None
        if len(header) != 2:
            raise AuthenticationFailed(_("Send the inbox key as “Authorization: Bearer <key>”."))
        try:
            raw_key = header[1].decode()
        except UnicodeDecodeError as exc:
            raise AuthenticationFailed(_("This inbox key is not valid.")) from exc
        try:
            reseller = inbox.inbox_authenticate(raw_key)
        except ResellerInactive as exc:
            raise PermissionDenied(str(exc)) from exc
        if reseller is None:
            raise AuthenticationFailed(_("This inbox key is unknown or was revoked."))
        return InboxClient(reseller, key_prefix=raw_key[: inbox.KEY_PREFIX_LENGTH]), raw_key

    def authenticate_header(self, request) -> str:
        # Makes unauthenticated calls 401 (with this challenge) rather than 403.
        return 'Bearer realm="upline-inbox"'


class InboxKeyScheme(OpenApiAuthenticationExtension):
    target_class = "shared_apps.bridge.api.InboxKeyAuthentication"
    name = "inboxKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A reseller's inbox key, shown once when the operator creates it.",
        }


class IsInboxClient(BasePermission):
    message = "Send a reseller's inbox key as “Authorization: Bearer <key>”."

    def has_permission(self, request, view) -> bool:
        tenant = getattr(request, "tenant", None)
        return bool(
            tenant is not None and tenant.is_operator and isinstance(request.user, InboxClient)
        )


# --------------------------------------------------------------------------------------
# Serializers


class InboxEscalationSerializer(serializers.ModelSerializer):
    operator_ticket = serializers.IntegerField(source="operator_ticket_id")
    # A plain string in the schema: a “status” enum component would clash with other apps'.
    status = serializers.CharField(
        read_only=True,
        help_text=gettext_lazy("“open”, or “closed” once the operator closed its ticket"),
    )

    class Meta:
        model = ExternalEscalation
        fields = [
            "id",
            "external_ref",
            "subject",
            "customer_label",
            "operator_ticket",
            "status",
            "created_at",
            "last_operator_reply_at",
            "last_reseller_reply_at",
            "closed_at",
        ]
        read_only_fields = fields


class InboxOperatorReplySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    author = serializers.CharField()
    body = serializers.CharField(help_text=gettext_lazy("Sanitised HTML"))


class InboxEscalationDetailSerializer(InboxEscalationSerializer):
    ticket_status = serializers.CharField(
        help_text=gettext_lazy(
            "Status of the operator's ticket (open, awaiting_staff, awaiting_customer, "
            "on_hold, closed)"
        )
    )
    updates = InboxOperatorReplySerializer(
        many=True, help_text=gettext_lazy("The operator's staff replies")
    )

    class Meta(InboxEscalationSerializer.Meta):
        fields = [*InboxEscalationSerializer.Meta.fields, "ticket_status", "updates"]
        read_only_fields = fields


class InboxEscalationOpenSerializer(serializers.Serializer):
    external_ref = serializers.CharField(
        max_length=100,
        help_text=gettext_lazy("Your ticket's reference, unique among your escalations"),
    )
    subject = serializers.CharField(max_length=180)
    body = serializers.CharField(help_text=gettext_lazy("Plain text; it is shown escaped"))
    customer_label = serializers.CharField(
        max_length=200,
        required=False,
        default="",
        allow_blank=True,
        help_text=gettext_lazy(
            "How you name the customer, if you choose to (e.g. your client number)"
        ),
    )


class InboxReplyInputSerializer(serializers.Serializer):
    body = serializers.CharField()


class InboxReplySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()


NOT_FOUND = OpenApiResponse(description="No such escalation among yours")
UNAUTHENTICATED = OpenApiResponse(description="Missing, unknown or revoked inbox key")
REFUSED = OpenApiResponse(description="The reseller is suspended or terminated")
SINCE = OpenApiParameter(
    "since",
    OpenApiTypes.DATETIME,
    description="Only replies after this ISO 8601 time (e.g. 2026-01-31T12:00:00Z)",
)


def _since(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    parsed = None
    # An unencoded "+01:00" offset arrives as " 01:00": try the value as sent, then mended.
    for candidate in (value, value.replace(" ", "+")):
        try:
            parsed = parse_datetime(candidate)
        except ValueError:  # well formed but impossible, e.g. month 13
            parsed = None
        if parsed is not None:
            break
    if parsed is not None:
        if timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed, datetime.UTC)
        try:
            # In UTC: PostgreSQL refuses offsets beyond ±15:59 that Python accepts.
            return parsed.astimezone(datetime.UTC)
        except OverflowError:  # e.g. year 1 at +01:00 is before year 1 in UTC
            pass
    raise APIValidationError({"since": [_("Give an ISO 8601 time, e.g. 2026-01-31T12:00:00Z.")]})


class EscalationViewSet(viewsets.GenericViewSet):
    """Escalations of the calling reseller's own tickets to the operator."""

    authentication_classes = [InboxKeyAuthentication]
    permission_classes = [IsInboxClient]
    throttle_classes = [InboxThrottle]
    parser_classes = [GuardedJSONParser]
    serializer_class = InboxEscalationSerializer
    lookup_value_regex = r"[0-9]+"

    @property
    def reseller(self) -> Reseller:
        return self.request.user.reseller

    def get_queryset(self):
        return inbox.external_escalation_list(reseller=self.reseller)

    def get_object(self) -> ExternalEscalation:
        try:
            return inbox.get_external_escalation_for(self.reseller, self.kwargs["pk"])
        except ExternalEscalation.DoesNotExist as exc:
            raise NotFound(_("No such escalation.")) from exc

    def _detail(self, escalation: ExternalEscalation, since=None, code=status.HTTP_200_OK):
        ticket_status, replies = inbox.external_escalation_updates(
            reseller=self.reseller, escalation=escalation, since=since
        )
        escalation.ticket_status, escalation.updates = ticket_status, replies
        return Response(InboxEscalationDetailSerializer(escalation).data, status=code)

    @extend_schema(
        summary="Your escalations, newest first",
        responses={200: InboxEscalationSerializer(many=True), 401: UNAUTHENTICATED, 403: REFUSED},
    )
    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(InboxEscalationSerializer(page, many=True).data)

    @extend_schema(
        summary="Escalate one of your tickets to the operator",
        request=InboxEscalationOpenSerializer,
        responses={
            201: InboxEscalationDetailSerializer,
            400: OpenApiResponse(description="Field errors"),
            401: UNAUTHENTICATED,
            403: REFUSED,
            409: OpenApiResponse(description="This reference is already escalated"),
        },
    )
    def create(self, request):
        payload = InboxEscalationOpenSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        escalation = inbox.external_escalation_open(
            reseller=self.reseller, actor=request.user.actor, **payload.validated_data
        )
        return self._detail(escalation, code=status.HTTP_201_CREATED)

    @extend_schema(
        summary="One escalation with the operator's replies",
        parameters=[SINCE],
        responses={200: InboxEscalationDetailSerializer, 401: UNAUTHENTICATED, 404: NOT_FOUND},
    )
    def retrieve(self, request, pk=None):
        since = _since(request.query_params.get("since"))
        return self._detail(self.get_object(), since=since)

    @extend_schema(
        summary="Reply to the operator",
        request=InboxReplyInputSerializer,
        responses={
            201: InboxReplySerializer,
            400: OpenApiResponse(description="Field errors"),
            404: NOT_FOUND,
            409: OpenApiResponse(description="The operator closed this escalation"),
        },
    )
    @action(detail=True, methods=["post"])
    def replies(self, request, pk=None):
        escalation = self.get_object()
        payload = InboxReplyInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        message = inbox.external_escalation_reply(
            reseller=self.reseller,
            escalation=escalation,
            body=payload.validated_data["body"],
            actor=request.user.actor,
        )
        return Response(
            InboxReplySerializer({"id": message.pk, "created_at": message.created_at}).data,
            status=status.HTTP_201_CREATED,
        )
