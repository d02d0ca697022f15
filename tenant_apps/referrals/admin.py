"""Django admin for referers (instance superusers only)."""

from django.contrib import admin

from .models import Referer


@admin.register(Referer)
class RefererAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "email", "customer", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "code", "email"]
    raw_id_fields = ["customer"]
