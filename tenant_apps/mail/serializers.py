"""API shape of an outgoing e-mail (read-only; bodies are not part of the list)."""

from __future__ import annotations

from rest_framework import serializers

from .models import OutgoingEmail


class OutgoingEmailSerializer(serializers.ModelSerializer):
    class Meta:
        model = OutgoingEmail
        fields = [
            "id",
            "template_key",
            "to",
            "cc",
            "subject",
            "customer_id",
            "status",
            "attempts",
            "last_error",
            "transport",
            "provider_message_id",
            "created_at",
            "sent_at",
            "next_attempt_at",
        ]
        read_only_fields = fields
