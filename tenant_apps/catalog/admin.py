"""Django admin for the catalog (instance superusers only)."""

from django.contrib import admin

from .models import Price, Product, TaxClass


@admin.register(TaxClass)
class TaxClassAdmin(admin.ModelAdmin):
    list_display = ["name", "code"]
    search_fields = ["name", "code"]


class PriceInline(admin.TabularInline):
    model = Price
    extra = 0


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "kind", "tax_class", "is_active", "position"]
    list_filter = ["kind", "is_active", "tax_class"]
    search_fields = ["name", "code"]
    filter_horizontal = ["addons"]
    inlines = [PriceInline]
