"""Django admin registrations of the helpdesk (instance superusers only)."""

from django.contrib import admin

from .models import CannedReply, Department, Outbox, Ticket

admin.site.register(Department)
admin.site.register(CannedReply)


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    """Status and escalation move only through the helpdesk's services (the pipeline, the
    audit trail, the bridge): here they are shown, never edited; tickets are opened on the
    staff screens or in the portal."""

    list_display = ["id", "subject", "status", "priority", "department", "assignee"]
    list_filter = ["status", "priority", "department"]
    readonly_fields = [
        "status",
        "escalation",
        "upstream_link_id",
        "source",
        "customer",
        "requester",
        "first_response_at",
        "closed_at",
        "on_hold_since",
    ]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Outbox)
class OutboxAdmin(admin.ModelAdmin):
    list_display = ["id", "event", "created_at", "delivered_at", "attempts"]
    readonly_fields = ["event", "payload", "created_at", "delivered_at", "attempts", "last_error"]
