"""Helpdesk API shapes: tickets, messages (visible per caller), departments, canned replies,
and the input of each write (checked here for form, by the services for meaning).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy
from rest_framework import serializers

from .models import Attachment, CannedReply, Department, Message, Ticket


class DepartmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Department
        fields = [
            "id",
            "name",
            "slug",
            "first_response_minutes",
            "resolution_minutes",
            "is_active",
            "is_escalation_inbox",
        ]
        read_only_fields = ["slug", "is_escalation_inbox"]


class CannedReplySerializer(serializers.ModelSerializer):
    class Meta:
        model = CannedReply
        fields = ["id", "title", "body", "department"]


class AttachmentSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Attachment
        fields = ["id", "original_name", "size", "content_type", "url"]

    def get_url(self, obj) -> str:
        from django.urls import reverse

        return reverse("helpdesk:attachment", args=[obj.pk])


class MessageSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField()
    attachments = AttachmentSerializer(many=True, read_only=True)

    class Meta:
        model = Message
        fields = ["id", "kind", "author", "body", "created_at", "attachments"]

    def get_author(self, obj) -> str:
        return obj.author_name


class TicketSerializer(serializers.ModelSerializer):
    customer_name = serializers.SerializerMethodField()
    assignee_email = serializers.SerializerMethodField()
    first_response_breached = serializers.BooleanField(read_only=True)
    resolution_breached = serializers.BooleanField(read_only=True)
    sla_state = serializers.SerializerMethodField()

    class Meta:
        model = Ticket
        fields = [
            "id",
            "subject",
            "customer",
            "customer_name",
            "requester",
            "department",
            "priority",
            "status",
            "assignee",
            "assignee_email",
            "escalation",
            "source",
            "created_at",
            "first_response_at",
            "closed_at",
            "first_response_due_at",
            "resolution_due_at",
            "last_activity_at",
            "first_response_breached",
            "resolution_breached",
            "sla_state",
        ]

    def get_customer_name(self, obj) -> str:
        return obj.customer.display_name if obj.customer_id else ""

    def get_assignee_email(self, obj) -> str:
        return obj.assignee.email if obj.assignee_id else ""

    def get_sla_state(self, obj) -> str:
        return obj.sla_state()


class TicketDetailSerializer(TicketSerializer):
    messages = serializers.SerializerMethodField()

    class Meta(TicketSerializer.Meta):
        fields = [*TicketSerializer.Meta.fields, "messages"]

    def get_messages(self, obj) -> list[dict]:
        from .selectors import ticket_messages_for

        user = self.context["request"].user
        return MessageSerializer(ticket_messages_for(user, obj), many=True).data


class TicketCreateSerializer(serializers.Serializer):
    subject = serializers.CharField(max_length=200)
    body = serializers.CharField()
    customer = serializers.IntegerField(required=False, allow_null=True)
    department = serializers.IntegerField(required=False, allow_null=True)
    priority = serializers.ChoiceField(choices=Ticket.Priority.choices, default="normal")


class ReplyInputSerializer(serializers.Serializer):
    body = serializers.CharField()
    internal = serializers.BooleanField(default=False)
    attachments = serializers.ListField(child=serializers.FileField(), required=False, default=list)


class TransitionInputSerializer(serializers.Serializer):
    to = serializers.ChoiceField(choices=Ticket.Status.choices)


class AssignInputSerializer(serializers.Serializer):
    assignee = serializers.IntegerField(
        allow_null=True, help_text=gettext_lazy("A staff user's id; null to unassign")
    )
