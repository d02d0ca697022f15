"""URL map of the base domain: the operator console plus the operator's own instance."""

from django.urls import include, path

from .urls_tenant import urlpatterns as instance_urlpatterns

urlpatterns = [
    path("console/", include("shared_apps.console.urls")),
    path("api/console/", include("shared_apps.console.api_urls")),
    path("api/bridge/", include("shared_apps.bridge.api_urls")),
    path("stripe/webhooks/", include("shared_apps.stripe_webhooks.urls")),
    *instance_urlpatterns,
]

handler404 = "config.errors.page_not_found"  # JSON under /api/, else the page
handler403 = "tenant_apps.dashboard.views.permission_denied"
handler500 = "config.errors.server_error"  # the page, with the instance's name
