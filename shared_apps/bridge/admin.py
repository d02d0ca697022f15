"""Django admin for the inbox of resellers on other software (operator's domain only).

Keys are created with `manage.py bridge_token` (the key is shown once) and endpoints set with
`manage.py bridge_callback`; here they can be seen, and keys revoked. Deliveries are
read-only: the outbox decides what is sent.
"""

from django.contrib import admin

from shared_apps.tenancy.admin import OperatorOnlyAdmin

from . import inbox
from .models import CallbackDelivery, CallbackEndpoint, ExternalEscalation, InboxToken


class ReadOnlyAdmin(OperatorOnlyAdmin):
    def has_change_permission(self, request, obj=None):
        return False


@admin.register(InboxToken)
class InboxTokenAdmin(ReadOnlyAdmin):
    list_display = ["key_prefix", "reseller", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    exclude = ["key_hash"]
    actions = ["revoke"]

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        for token in queryset.filter(revoked_at__isnull=True).select_related("reseller"):
            inbox.inbox_token_revoke(
                reseller=token.reseller, key_prefix=token.key_prefix, actor=request.user
            )

    def get_actions(self, request):
        # The revoke action changes rows: offer it to those the operator lets change things.
        actions = super().get_actions(request)
        if not (self._operator(request) and request.user.is_superuser):
            actions.pop("revoke", None)
        return actions


@admin.register(ExternalEscalation)
class ExternalEscalationAdmin(ReadOnlyAdmin):
    list_display = ["external_ref", "reseller", "operator_ticket_id", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["external_ref", "subject"]


@admin.register(CallbackEndpoint)
class CallbackEndpointAdmin(ReadOnlyAdmin):
    # Set with `manage.py bridge_callback`, which validates the URL and records who did it.
    list_display = ["reseller", "url", "is_active", "updated_at"]
    exclude = ["secret"]


@admin.register(CallbackDelivery)
class CallbackDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "endpoint", "event", "created_at", "delivered_at", "attempts"]
    list_filter = ["event"]
    readonly_fields = ["last_error"]
