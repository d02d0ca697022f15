"""API routes of card payments (mounted at /api/)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from .api import (
    AutoChargeAttemptViewSet,
    CardPaymentViewSet,
    CustomerPaymentMethodsView,
    CustomerPaymentMethodView,
    InvoiceCardStatusView,
)

router = SimpleRouter()
router.register("card-payments", CardPaymentViewSet, basename="cards-api-card-payment")
router.register(
    "auto-charge-attempts", AutoChargeAttemptViewSet, basename="cards-api-auto-charge-attempt"
)

urlpatterns = [
    path(
        "invoices/<int:invoice_pk>/card-status/",
        InvoiceCardStatusView.as_view(),
        name="cards-api-invoice-status",
    ),
    path(
        "customers/<int:customer_pk>/payment-methods/",
        CustomerPaymentMethodsView.as_view(),
        name="cards-api-payment-methods",
    ),
    path(
        "customers/<int:customer_pk>/payment-methods/<int:pk>/",
        CustomerPaymentMethodView.as_view(),
        name="cards-api-payment-method",
    ),
    *router.urls,
]
