"""Staff-area routes of commissions."""

from django.urls import path

from . import views

app_name = "commissions"

urlpatterns = [
    path("", views.LedgerView.as_view(), name="ledger"),
    path("rules/", views.RuleListView.as_view(), name="rule_list"),
    path("rules/new/", views.RuleFormView.as_view(), name="rule_create"),
    path("rules/<int:pk>/edit/", views.RuleFormView.as_view(), name="rule_edit"),
    path("programme/", views.ProgrammeView.as_view(), name="programme"),
    path("payouts/", views.PayoutListView.as_view(), name="payout_list"),
    path("payouts/new/", views.PayoutCreateView.as_view(), name="payout_create"),
    path(
        "payouts/<int:pk>/statement.<str:fmt>",
        views.StatementView.as_view(),
        name="statement",
    ),
    path("orders/<int:pk>/referer/", views.OrderRefererView.as_view(), name="order_referer"),
]
