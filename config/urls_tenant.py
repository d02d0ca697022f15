"""URL map of a reseller instance (and, included from urls_public, of the operator's own)."""

from django.contrib import admin
from django.urls import include, path

from config.api_schema import InstanceSchemaView, StaffApiDocsView
from tenant_apps.dashboard.views import home
from tenant_apps.storefront.views import front

urlpatterns = [
    # Visitors see the shop; anyone signed in goes to their own area.
    path("", front(home), name="home"),
    # The instance's palette stylesheet, favicon and logo (tenant_apps/instance/views.py).
    path("", include("tenant_apps.instance.urls")),
    path("shop/", include("tenant_apps.storefront.urls")),
    path("staff/storefront/", include("tenant_apps.storefront.staff_urls")),
    path("accounts/", include("tenant_apps.accounts.urls")),
    path("staff/", include("tenant_apps.dashboard.urls")),
    path("staff/customers/", include("tenant_apps.clients.urls")),
    path("staff/catalog/", include("tenant_apps.catalog.urls")),
    path("staff/orders/", include("tenant_apps.orders.urls")),
    path("staff/billing/runs/", include("tenant_apps.recurring.urls")),
    path("staff/billing/", include("tenant_apps.billing.urls")),
    path("staff/cards/", include("tenant_apps.cards.urls")),
    path("staff/einvoicing/", include("tenant_apps.einvoice.urls")),
    path("staff/referrals/", include("tenant_apps.referrals.urls")),
    path("staff/commissions/", include("tenant_apps.commissions.urls")),
    path("staff/escalations/", include("shared_apps.bridge.urls")),
    path("staff/helpdesk/", include("tenant_apps.helpdesk.urls")),
    path("portal/", include("tenant_apps.portal.urls")),
    path("portal/account/", include("tenant_apps.clients.portal_urls")),
    path("portal/services/", include("tenant_apps.orders.portal_urls")),
    path("portal/billing/", include("tenant_apps.billing.portal_urls")),
    path("portal/cards/", include("tenant_apps.cards.portal_urls")),
    path("portal/einvoicing/", include("tenant_apps.einvoice.portal_urls")),
    path("portal/support/", include("tenant_apps.helpdesk.portal_urls")),
    path("portal/partner/", include("tenant_apps.commissions.portal_urls")),
    path("api/", include("config.urls_api")),
    path("api/schema/", InstanceSchemaView.as_view(), name="api-schema"),
    path("api/docs/", StaffApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("admin/", admin.site.urls),
]

handler404 = "config.errors.page_not_found"  # JSON under /api/, else the page
handler403 = "tenant_apps.dashboard.views.permission_denied"
handler500 = "config.errors.server_error"  # the page, with the instance's name
