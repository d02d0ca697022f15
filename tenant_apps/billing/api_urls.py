"""API routes of billing (mounted at /api/)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from .api import (
    BillingSettingsView,
    InvoiceViewSet,
    PaymentViewSet,
    TaxRateViewSet,
)

router = SimpleRouter()
router.register("invoices", InvoiceViewSet, basename="billing-api-invoice")
router.register("payments", PaymentViewSet, basename="billing-api-payment")
router.register("tax-rates", TaxRateViewSet, basename="billing-api-tax-rate")

urlpatterns = [
    path("billing-settings/", BillingSettingsView.as_view(), name="billing-api-settings"),
    path("", include("tenant_apps.billing.reports.api_urls")),
    *router.urls,
]
