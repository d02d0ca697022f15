"""Customer-portal routes of billing (mounted at /portal/billing/)."""

from django.urls import include, path

from . import portal_views as views

app_name = "portal_billing"

# notifications.PORTAL_INVOICE_PATH links e-mails to /portal/billing/invoices/<id>/.
urlpatterns = [
    path("", views.PortalInvoiceListView.as_view(), name="invoice_list"),
    path("invoices/<int:pk>/", views.PortalInvoiceDetailView.as_view(), name="invoice_detail"),
    path("invoices/<int:pk>/pdf/", views.PortalInvoicePdfView.as_view(), name="invoice_pdf"),
    path("", include("tenant_apps.billing.reports.portal_urls")),
]
