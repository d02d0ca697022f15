"""Accounts API: who am I (with my two-factor status, read-only), and the instance's team
(owner and administrators only).

The team routes follow the team screens: list, invite, change a role, deactivate (sessions
and API token end at once) and reactivate, all through `services`; ids of users who are not
staff of this instance answer 404.
"""

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from tenant_apps.instance.audit import request_actor

from . import services
from .models import User
from .permissions import CanManageTeam
from .selectors import get_staff_member_for, staff_list
from .serializers import (
    MeSerializer,
    StaffInviteSerializer,
    StaffRoleSerializer,
    UserSerializer,
)
from .signins import client_ip


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses=MeSerializer,
        summary="The signed-in user of this instance, with their two-factor sign-in status",
    )
    def get(self, request):
        return Response(MeSerializer(request.user).data)


@extend_schema_view(
    list=extend_schema(summary="Staff members of this instance (never another instance's)"),
    retrieve=extend_schema(summary="One staff member"),
)
class StaffViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = UserSerializer
    permission_classes = [CanManageTeam]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return staff_list()

    def get_object(self) -> User:
        try:
            return get_staff_member_for(self.request.user, self.kwargs["pk"])
        except User.DoesNotExist as exc:
            raise NotFound(_("No such staff member.")) from exc

    def _member(self, member: User, code: int = status.HTTP_200_OK) -> Response:
        return Response(UserSerializer(member).data, status=code)

    @extend_schema(
        summary="Invite a staff member (they get an e-mail to set a password)",
        request=StaffInviteSerializer,
        responses={201: UserSerializer},
    )
    def create(self, request):
        payload = StaffInviteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        member = services.staff_invite(
            **payload.validated_data,
            domain=request.get_host(),
            use_https=request.is_secure(),
            actor=request_actor(request),
            ip_address=client_ip(request),
        )
        return self._member(member, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a staff member's role",
        request=StaffRoleSerializer,
        responses=UserSerializer,
    )
    def partial_update(self, request, pk=None):
        member = self.get_object()
        payload = StaffRoleSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        changed = services.staff_role_change(
            user=member, role=payload.validated_data["role"], actor=request_actor(request)
        )
        return self._member(changed)

    @extend_schema(
        summary="Deactivate a staff member (their sessions and API token end at once)",
        request=None,
        responses=UserSerializer,
    )
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        member = services.staff_deactivate(user=self.get_object(), actor=request_actor(request))
        return self._member(member)

    @extend_schema(summary="Let a deactivated staff member sign in again", request=None)
    @action(detail=True, methods=["post"])
    def reactivate(self, request, pk=None):
        member = services.staff_reactivate(user=self.get_object(), actor=request_actor(request))
        return self._member(member)
