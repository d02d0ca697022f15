"""Django admin for orders and services: a read-only view for instance superusers.

Orders and services change only through `services` (quota, invoices, audit), so the admin
shows them and never edits them.
"""

from django.contrib import admin

from .models import Order, OrderItem, Service


class ReadOnlyAdminMixin:
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class OrderItemInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = OrderItem
    fields = ["product", "cycle", "quantity", "unit_price", "setup_fee", "label", "parent"]
    readonly_fields = fields
    extra = 0


@admin.register(Order)
class OrderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "customer", "status", "source", "referer", "referer_source", "created_at"]
    list_filter = ["status", "source", "referer_source"]
    search_fields = ["customer__name", "customer__company_name", "customer__email", "referer__code"]
    list_select_related = ["customer", "referer"]
    inlines = [OrderItemInline]


@admin.register(Service)
class ServiceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "product",
        "label",
        "customer",
        "status",
        "cycle",
        "recurring_amount",
        "currency",
        "next_due_date",
        "cancel_at_period_end",
    ]
    list_filter = ["status", "cycle", "cancel_at_period_end"]
    search_fields = ["label", "product__name", "customer__name", "customer__email"]
    list_select_related = ["product", "customer"]
