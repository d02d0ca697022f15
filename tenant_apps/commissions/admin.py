"""Django admin for commissions (instance superusers only): read the ledger, never edit it."""

from django.contrib import admin

from .models import CommissionEntry, CommissionRule, Payout


@admin.register(CommissionRule)
class CommissionRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "product", "kind", "rate", "amount", "duration", "months", "is_active"]
    list_filter = ["kind", "duration", "is_active"]
    readonly_fields = [field.name for field in CommissionRule._meta.fields]

    def has_add_permission(self, request):
        return False  # through the staff screens, which validate and audit


@admin.register(CommissionEntry)
class CommissionEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "referer", "level", "kind", "invoice", "amount", "currency"]
    list_filter = ["kind", "level", "currency"]
    readonly_fields = [field.name for field in CommissionEntry._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the ledger is append-only


@admin.register(Payout)
class PayoutAdmin(admin.ModelAdmin):
    list_display = ["paid_on", "referer", "amount", "currency", "method", "reference"]
    readonly_fields = [field.name for field in Payout._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
