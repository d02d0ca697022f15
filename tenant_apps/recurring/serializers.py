"""API shape of a billing run (read-only)."""

from __future__ import annotations

from rest_framework import serializers

from .models import BillingRun


class BillingRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = BillingRun
        fields = [
            "id",
            "kind",
            "status",
            "run_date",
            "triggered_by",
            "invoices_created",
            "reminders_sent",
            "late_fees",
            "services_suspended",
            "services_terminated",
            "log",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields
