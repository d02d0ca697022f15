"""URL map of a reseller instance (and, included from urls_public, of the operator's own)."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularRedocView

from config.api_schema import InstanceSchemaView
from tenant_apps.dashboard.views import home

urlpatterns = [
    path("", home, name="home"),
    path("accounts/", include("tenant_apps.accounts.urls")),
    path("staff/", include("tenant_apps.dashboard.urls")),
    path("portal/", include("tenant_apps.portal.urls")),
    path("api/", include("config.urls_api")),
    path("api/schema/", InstanceSchemaView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-docs"),
    path("admin/", admin.site.urls),
]

handler404 = "tenant_apps.dashboard.views.page_not_found"
handler403 = "tenant_apps.dashboard.views.permission_denied"
