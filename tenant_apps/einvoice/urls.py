"""Staff-area routes of e-invoicing (mounted at /staff/einvoicing/)."""

from django.urls import path

from . import views

app_name = "einvoice"

urlpatterns = [
    path("settings/", views.SettingsView.as_view(), name="settings"),
    path("customers/<int:pk>/", views.CustomerDetailsView.as_view(), name="customer"),
    path(
        "invoices/<int:pk>/<slug:fmt>/",
        views.DocumentDownloadView.as_view(),
        name="document",
    ),
    path("export/", views.ExportView.as_view(), name="export"),
    path(
        "supplier-bills/<int:pk>/<slug:fmt>/",
        views.SupplierBillDownloadView.as_view(),
        name="supplier_bill",
    ),
]
