"""Staff-area routes of billing (mounted at /staff/billing/)."""

from django.urls import include, path

from . import views

app_name = "billing"


def _action(name: str):
    return views.InvoiceActionView.as_view(action=name)


urlpatterns = [
    path("", views.InvoiceListView.as_view(), name="invoice_list"),
    path("invoices/new/", views.InvoiceCreateView.as_view(), name="invoice_create"),
    path("invoices/<int:pk>/", views.InvoiceDetailView.as_view(), name="invoice_detail"),
    path("invoices/<int:pk>/pdf/", views.InvoicePdfView.as_view(), name="invoice_pdf"),
    path("invoices/<int:pk>/lines/add/", _action("add_line"), name="invoice_line_add"),
    path("invoices/<int:pk>/lines/remove/", _action("remove_line"), name="invoice_line_remove"),
    path("invoices/<int:pk>/issue/", _action("issue"), name="invoice_issue"),
    path("invoices/<int:pk>/delete/", _action("delete"), name="invoice_delete"),
    path("invoices/<int:pk>/void/", _action("void"), name="invoice_void"),
    path("invoices/<int:pk>/payments/", _action("payment"), name="invoice_payment"),
    path("invoices/<int:pk>/apply-credit/", _action("apply_credit"), name="invoice_apply_credit"),
    path("invoices/<int:pk>/credit-note/", _action("credit_note"), name="invoice_credit_note"),
    path("payments/", views.PaymentListView.as_view(), name="payment_list"),
    path("reports/", include("tenant_apps.billing.reports.urls")),
    path("payments/<int:pk>/", views.PaymentDetailView.as_view(), name="payment_detail"),
    path(
        "customers/<int:customer_pk>/credit/",
        views.CustomerCreditView.as_view(),
        name="customer_credit",
    ),
    path("settings/", views.SettingsView.as_view(), name="settings"),
    path("settings/tax-rates/", views.TaxRateListView.as_view(), name="taxrate_list"),
    path("settings/tax-rates/new/", views.TaxRateFormView.as_view(), name="taxrate_create"),
    path("settings/tax-rates/<int:pk>/edit/", views.TaxRateFormView.as_view(), name="taxrate_edit"),
    path(
        "settings/tax-rates/<int:pk>/delete/",
        views.TaxRateDeleteView.as_view(),
        name="taxrate_delete",
    ),
    path("settings/emails/", views.EmailTemplateListView.as_view(), name="emailtemplate_list"),
    path(
        "settings/emails/<slug:key>/",
        views.EmailTemplateEditView.as_view(),
        name="emailtemplate_edit",
    ),
    path(
        "settings/emails/<slug:key>/reset/",
        views.EmailTemplateResetView.as_view(),
        name="emailtemplate_reset",
    ),
]
