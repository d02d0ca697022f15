"""Staff area routes."""

from django.urls import path

from . import team, views

app_name = "dashboard"

urlpatterns = [
    path("", views.DashboardView.as_view(), name="home"),
    path("team/", team.TeamView.as_view(), name="staff_list"),
    path("team/sign-in-policy/", team.SignInPolicyView.as_view(), name="staff_sign_in_policy"),
    path("team/<int:pk>/", team.StaffMemberView.as_view(), name="staff_member"),
    path(
        "team/<int:pk>/two-factor/reset/",
        team.StaffTwoFactorResetView.as_view(),
        name="staff_two_factor_reset",
    ),
    path(
        "team/<int:pk>/api-token/revoke/",
        team.StaffApiTokenRevokeView.as_view(),
        name="staff_api_token_revoke",
    ),
    path("team/<int:pk>/deactivate/", team.StaffAccessView.as_view(), name="staff_deactivate"),
    path(
        "team/<int:pk>/reactivate/",
        team.StaffAccessView.as_view(reactivate=True),
        name="staff_reactivate",
    ),
    path("identity/", views.IdentityView.as_view(), name="identity"),
    path("api-tokens/", views.ApiTokensView.as_view(), name="api_tokens"),
    path("activity/", views.ActivityView.as_view(), name="activity"),
    path("supplier-bills/", views.SupplierBillsView.as_view(), name="supplier_bills"),
    path("supplier-bills/<int:pk>/", views.SupplierBillView.as_view(), name="supplier_bill"),
    path("supplier-bills/<int:pk>/pdf/", views.supplier_bill_pdf, name="supplier_bill_pdf"),
]
