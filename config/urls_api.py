"""Per-instance REST API routes; each capability adds its router here."""

from django.urls import include, path

urlpatterns = [
    path("", include("tenant_apps.accounts.api_urls")),
]
