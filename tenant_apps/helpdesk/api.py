"""Helpdesk API of one instance (staff only): tickets, replies and notes (multipart for
attachments), status transitions, assignment, departments and canned replies.

Writes call the same services as the screens; ValidationError → 400, an illegal transition
or a second escalation → 409, through `config.errors.api_exception_handler`.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from tenant_apps.accounts.models import User
from tenant_apps.accounts.permissions import IsInstanceStaff
from tenant_apps.clients.models import Customer
from tenant_apps.instance.audit import request_actor

from . import services
from .models import Department, Ticket
from .selectors import canned_reply_list, department_list, get_ticket_for, ticket_queue
from .serializers import (
    AssignInputSerializer,
    CannedReplySerializer,
    DepartmentSerializer,
    MessageSerializer,
    ReplyInputSerializer,
    TicketCreateSerializer,
    TicketDetailSerializer,
    TicketSerializer,
    TransitionInputSerializer,
)

NOT_FOUND = OpenApiResponse(description="No such object in this instance")
REFUSED = OpenApiResponse(description="Bad input (400) or not allowed in this state (409)")


class TicketFilterSerializer(serializers.Serializer):
    """Query parameters of the queue: a value that is not one is a 400, not ignored."""

    status = serializers.ChoiceField(
        choices=[("active", gettext_lazy("Not closed")), *Ticket.Status.choices], required=False
    )
    priority = serializers.ChoiceField(choices=Ticket.Priority.choices, required=False)
    assignee = serializers.RegexField(
        r"^(mine|unassigned|[0-9]{1,18})$",
        required=False,
        help_text=gettext_lazy("A staff user's id, “mine” or “unassigned”"),
        error_messages={"invalid": gettext_lazy("Give a staff user's id, “mine” or “unassigned”.")},
    )
    q = serializers.CharField(
        required=False, max_length=200, help_text=gettext_lazy("Subject, customer, e-mail or #id")
    )

    def validate_assignee(self, value: str) -> str | int:
        return int(value) if value.isdecimal() else value


@extend_schema_view(
    list=extend_schema(summary="The ticket queue", parameters=[TicketFilterSerializer]),
    retrieve=extend_schema(
        summary="One ticket with its whole conversation",
        responses={200: TicketDetailSerializer, 404: NOT_FOUND},
    ),
)
class TicketViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsInstanceStaff]
    serializer_class = TicketSerializer
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        filters = {}
        if self.action == "list":
            query = TicketFilterSerializer(data=self.request.query_params)
            query.is_valid(raise_exception=True)
            filters = query.validated_data
        return ticket_queue(
            user=self.request.user,
            status=filters.get("status"),
            priority=filters.get("priority"),
            assignee=filters.get("assignee"),
            search=filters.get("q"),
        )

    def get_serializer_class(self):
        return TicketDetailSerializer if self.action == "retrieve" else TicketSerializer

    def get_object(self) -> Ticket:
        try:
            return get_ticket_for(self.request.user, self.kwargs["pk"])
        except Ticket.DoesNotExist as exc:
            raise NotFound(_("No such ticket.")) from exc

    def _detail(self, ticket: Ticket, code=status.HTTP_200_OK) -> Response:
        fresh = get_ticket_for(self.request.user, ticket.pk)
        return Response(
            TicketDetailSerializer(fresh, context={"request": self.request}).data, status=code
        )

    @extend_schema(
        summary="Open a ticket (on behalf of a customer)",
        request=TicketCreateSerializer,
        responses={201: TicketDetailSerializer, 400: REFUSED},
    )
    def create(self, request):
        data = TicketCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        customer = department = None
        if values.get("customer"):
            customer = Customer.objects.filter(pk=values["customer"]).first()
            if customer is None:
                raise ValidationError({"customer": _("No such customer.")})
        if values.get("department"):
            department = Department.objects.filter(pk=values["department"]).first()
            if department is None:
                raise ValidationError({"department": _("No such department.")})
        ticket = services.ticket_open(
            subject=values["subject"],
            body=values["body"],
            department=department,
            customer=customer,
            requester=customer.user if customer else None,
            opened_by=request.user,
            priority=values["priority"],
            source=Ticket.Source.API,
            actor=request_actor(request),
        )
        return self._detail(ticket, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Reply to the customer, or add an internal note (multipart for attachments)",
        request={
            "application/json": ReplyInputSerializer,
            "multipart/form-data": ReplyInputSerializer,
        },
        responses={201: MessageSerializer, 400: REFUSED, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["post"])
    def replies(self, request, pk=None):
        ticket = self.get_object()
        data = ReplyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        files = request.FILES.getlist("attachments") if request.FILES else []
        message = services.ticket_reply(
            ticket=ticket,
            author=request.user,
            body=data.validated_data["body"],
            internal=data.validated_data["internal"],
            attachments=files,
            actor=request_actor(request),
        )
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Move the ticket along its status pipeline",
        request=TransitionInputSerializer,
        responses={200: TicketDetailSerializer, 409: REFUSED, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        ticket = self.get_object()
        data = TransitionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.ticket_transition(
            ticket=ticket, to=data.validated_data["to"], actor=request_actor(request)
        )
        return self._detail(ticket)

    @extend_schema(
        summary="Assign the ticket to a staff member (null: unassign)",
        request=AssignInputSerializer,
        responses={200: TicketDetailSerializer, 400: REFUSED, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        ticket = self.get_object()
        data = AssignInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        assignee = None
        if data.validated_data["assignee"] is not None:
            assignee = User.objects.filter(pk=data.validated_data["assignee"]).first()
            if assignee is None:
                raise ValidationError({"assignee": _("No such user.")})
        services.ticket_assign(ticket=ticket, assignee=assignee, actor=request_actor(request))
        return self._detail(ticket)


@extend_schema_view(
    list=extend_schema(summary="Departments"),
    retrieve=extend_schema(summary="One department"),
    create=extend_schema(summary="Add a department"),
)
class DepartmentViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = [IsInstanceStaff]
    serializer_class = DepartmentSerializer
    pagination_class = None

    def get_queryset(self):
        return department_list()

    def perform_create(self, serializer):
        if not self.request.user.can_manage_instance:
            from rest_framework.exceptions import PermissionDenied

            raise PermissionDenied(_("Only the owner or an administrator can add departments."))
        data = serializer.validated_data
        serializer.instance = services.department_create(
            name=data["name"],
            first_response_minutes=data.get("first_response_minutes", 240),
            resolution_minutes=data.get("resolution_minutes", 4320),
            is_active=data.get("is_active", True),
            actor=request_actor(self.request),
        )


@extend_schema_view(
    list=extend_schema(summary="Canned replies"),
    retrieve=extend_schema(summary="One canned reply"),
    create=extend_schema(summary="Add a canned reply"),
)
class CannedReplyViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = [IsInstanceStaff]
    serializer_class = CannedReplySerializer
    pagination_class = None

    def get_queryset(self):
        return canned_reply_list()

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.canned_reply_create(
            title=data["title"],
            body=data["body"],
            department=data.get("department"),
            actor=request_actor(self.request),
        )


__all__ = ["CannedReplyViewSet", "DepartmentViewSet", "TicketViewSet"]
