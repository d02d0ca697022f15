"""Admin for the instance core: identity and e-mail wording (changed through services)."""

from __future__ import annotations

from django.contrib import admin

from . import services as instance_services
from .models import AuditEvent, EmailTemplate, IssuerIdentity


@admin.register(IssuerIdentity)
class IssuerIdentityAdmin(admin.ModelAdmin):
    list_display = ["legal_name", "country", "tax_id", "currency", "updated_at"]

    def has_add_permission(self, request) -> bool:
        return not IssuerIdentity.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # every issued invoice needs an issuer

    def save_model(self, request, obj, form, change):
        fields = {name: getattr(obj, name) for name in form.changed_data if name != "legal_name"}
        saved = instance_services.issuer_identity_set(legal_name=obj.legal_name, **fields)
        obj.pk = saved.pk


@admin.register(EmailTemplate)
class EmailTemplateAdmin(admin.ModelAdmin):
    list_display = ["key", "subject", "updated_at"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit trail is read-only, here as everywhere."""

    list_display = ["created_at", "action", "actor_label", "object_type", "object_label"]
    list_filter = ["object_type"]
    search_fields = ["action", "actor_label", "object_label"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
