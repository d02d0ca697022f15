"""Staff routes of the reports (included by billing's urls under /staff/billing/reports/;
the names live in the `billing` namespace: `billing:report_vat` …)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.ReportIndexView.as_view(), name="report_index"),
    path("vat/", views.VatReportView.as_view(), name="report_vat"),
    path("revenue/", views.RevenueReportView.as_view(), name="report_revenue"),
    path("aging/", views.AgingReportView.as_view(), name="report_aging"),
    path("journal/", views.JournalView.as_view(), name="report_journal"),
    path("statements/", views.StatementPickView.as_view(), name="report_statements"),
    path(
        "statements/<int:customer_pk>/",
        views.StatementView.as_view(),
        name="report_statement",
    ),
    path(
        "statements/<int:customer_pk>/pdf/",
        views.StatementPdfView.as_view(),
        name="report_statement_pdf",
    ),
]
