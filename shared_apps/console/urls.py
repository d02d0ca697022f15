"""Console routes (base domain only)."""

from django.urls import path

from . import activity, backups, platform_fee, views

app_name = "console"

urlpatterns = [
    path("", views.ConsoleDashboardView.as_view(), name="dashboard"),
    path("resellers/", views.ResellerListView.as_view(), name="reseller_list"),
    path("escalations/", views.EscalationListView.as_view(), name="escalation_list"),
    path("activity/", activity.ConsoleActivityView.as_view(), name="activity"),
    path("platform-fee/", platform_fee.PlatformFeeView.as_view(), name="platform_fee"),
    path("backups/", backups.BackupsView.as_view(), name="backups"),
    path("suspension-policy/", views.SuspensionPolicyView.as_view(), name="suspension_policy"),
    path("resellers/new/", views.ResellerCreateView.as_view(), name="reseller_create"),
    path("resellers/<slug:slug>/", views.ResellerDetailView.as_view(), name="reseller_detail"),
    path(
        "resellers/<slug:slug>/<slug:action>/",
        views.ResellerActionView.as_view(),
        name="reseller_action",
    ),
]
