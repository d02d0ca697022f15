"""Customer-portal routes of the statement (included by billing's portal urls under
/portal/billing/; names in the `portal_billing` namespace)."""

from django.urls import path

from . import portal_views as views

urlpatterns = [
    path("statement/", views.OwnStatementView.as_view(), name="statement_own"),
    path(
        "statements/<int:customer_pk>/",
        views.PortalStatementView.as_view(),
        name="statement",
    ),
    path(
        "statements/<int:customer_pk>/pdf/",
        views.PortalStatementPdfView.as_view(),
        name="statement_pdf",
    ),
]
