"""API routes of e-invoicing (mounted at /api/)."""

from django.urls import path

from . import api

urlpatterns = [
    path("einvoicing/settings/", api.SettingsApiView.as_view(), name="einvoice-api-settings"),
    path(
        "einvoicing/customers/<int:pk>/",
        api.CustomerApiView.as_view(),
        name="einvoice-api-customer",
    ),
    path(
        "einvoicing/invoices/<int:pk>/",
        api.DocumentStatusApiView.as_view(),
        name="einvoice-api-status",
    ),
    path(
        "einvoicing/invoices/<int:pk>/<slug:fmt>/",
        api.DocumentFileApiView.as_view(),
        name="einvoice-api-document",
    ),
    path("einvoicing/export/", api.ExportApiView.as_view(), name="einvoice-api-export"),
]
