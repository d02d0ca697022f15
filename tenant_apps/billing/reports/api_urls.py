"""API routes of the reports (included by billing's api_urls, mounted at /api/reports/)."""

from django.urls import path

from . import api

urlpatterns = [
    path("reports/vat/", api.VatReportAPIView.as_view(), name="billing-api-report-vat"),
    path("reports/revenue/", api.RevenueReportAPIView.as_view(), name="billing-api-report-revenue"),
    path("reports/aging/", api.AgingReportAPIView.as_view(), name="billing-api-report-aging"),
    path("reports/journal/", api.JournalAPIView.as_view(), name="billing-api-report-journal"),
    path(
        "reports/statements/<int:customer_id>/",
        api.StatementAPIView.as_view(),
        name="billing-api-report-statement",
    ),
]
