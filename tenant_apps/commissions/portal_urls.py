"""Portal routes of commissions: the partner's own page and statements."""

from django.urls import path

from . import portal_views

app_name = "portal_commissions"

urlpatterns = [
    path("", portal_views.PartnerHomeView.as_view(), name="partner_home"),
    path(
        "statements/<int:pk>.<str:fmt>",
        portal_views.PartnerStatementView.as_view(),
        name="statement",
    ),
]
