"""Django admin for resellers: visible only on the operator's own domain."""

from django.contrib import admin

from .models import Allocation, Domain, Reseller, Resource


class OperatorOnlyAdmin(admin.ModelAdmin):
    """Public-schema data: reseller instances' superusers must never see it."""

    def _operator(self, request) -> bool:
        tenant = getattr(request, "tenant", None)
        return bool(tenant and tenant.is_operator)

    def has_module_permission(self, request):
        return self._operator(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return self._operator(request) and super().has_view_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._operator(request) and super().has_change_permission(request, obj)

    def has_add_permission(self, request):
        return False  # resellers are created by the console/service, which builds the schema

    def has_delete_permission(self, request, obj=None):
        return False  # deletion requires an export: use the console or `reseller_delete`


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


class AllocationInline(admin.TabularInline):
    model = Allocation
    extra = 0
    readonly_fields = ["used"]


@admin.register(Reseller)
class ResellerAdmin(OperatorOnlyAdmin):
    list_display = ["name", "slug", "schema_name", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["name", "slug", "legal_name"]
    readonly_fields = ["schema_name", "slug", "status", "provisioned_by", "provisioning_ms"]
    inlines = [DomainInline, AllocationInline]


@admin.register(Resource)
class ResourceAdmin(OperatorOnlyAdmin):
    list_display = ["code", "name", "unit", "position"]

    def has_add_permission(self, request):
        return self._operator(request) and request.user.is_superuser
