"""Django admin registrations of the helpdesk (instance superusers only)."""

from django.contrib import admin

from .models import CannedReply, Department, Outbox, Ticket

admin.site.register(Department)
admin.site.register(CannedReply)


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = ["id", "subject", "status", "priority", "department", "assignee"]
    list_filter = ["status", "priority", "department"]


@admin.register(Outbox)
class OutboxAdmin(admin.ModelAdmin):
    list_display = ["id", "event", "created_at", "delivered_at", "attempts"]
    readonly_fields = ["event", "payload", "created_at", "delivered_at", "attempts", "last_error"]
