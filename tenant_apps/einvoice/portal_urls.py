"""Customer-portal routes of e-invoicing (mounted at /portal/einvoicing/)."""

from django.urls import path

from . import portal_views as views

app_name = "portal_einvoice"

urlpatterns = [
    path("", views.PortalSettingsView.as_view(), name="settings"),
    path(
        "invoices/<int:pk>/<slug:fmt>/",
        views.PortalDocumentDownloadView.as_view(),
        name="document",
    ),
]
