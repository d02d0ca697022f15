"""Per-instance REST API routes; each capability adds its router here."""

from django.urls import include, path

urlpatterns = [
    path("", include("tenant_apps.accounts.api_urls")),
    path("", include("tenant_apps.clients.api_urls")),
    path("", include("tenant_apps.catalog.api_urls")),
    path("", include("tenant_apps.orders.api_urls")),
    path("", include("tenant_apps.billing.api_urls")),
    path("", include("tenant_apps.recurring.api_urls")),
    path("", include("tenant_apps.referrals.api_urls")),
    path("", include("tenant_apps.commissions.api_urls")),
    path("", include("tenant_apps.helpdesk.api_urls")),
    path("", include("tenant_apps.cards.api_urls")),
    path("", include("tenant_apps.mail.api_urls")),
    path("", include("tenant_apps.einvoice.api_urls")),
]
