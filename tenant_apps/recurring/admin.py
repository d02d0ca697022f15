"""Admin of recurring billing: runs are read-only records."""

from __future__ import annotations

from django.contrib import admin

from tenant_apps.billing.admin import ReadOnlyAdmin

from .models import BillingRun


@admin.register(BillingRun)
class BillingRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "kind", "run_date", "status", "triggered_by", "invoices_created"]
    list_filter = ["kind", "status"]
