"""Staff area routes."""

from django.urls import path

from . import mail, team, views
from . import supplier_payments as pay

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
    path("identity/palette/", views.IdentityPaletteView.as_view(), name="identity_palette"),
    path("api-tokens/", views.ApiTokensView.as_view(), name="api_tokens"),
    path("activity/", views.ActivityView.as_view(), name="activity"),
    path("mail/", mail.MailSettingsView.as_view(), name="mail_settings"),
    path("mail/test/", mail.MailTestView.as_view(), name="mail_test"),
    path("mail/log/", mail.EmailLogView.as_view(), name="mail_log"),
    path("mail/log/<int:pk>/retry/", mail.EmailRetryView.as_view(), name="mail_retry"),
    path("supplier-bills/", views.SupplierBillsView.as_view(), name="supplier_bills"),
    path("supplier-bills/<int:pk>/", views.SupplierBillView.as_view(), name="supplier_bill"),
    path("supplier-bills/<int:pk>/pdf/", views.supplier_bill_pdf, name="supplier_bill_pdf"),
    # Paying them by card: open while the instance is suspended for non-payment.
    path(
        "supplier-bills/<int:pk>/pay/",
        pay.exempt(pay.SupplierBillPayView),
        name="supplier_bill_pay",
    ),
    path(
        "supplier-bills/payments/<int:pk>/",
        pay.exempt(pay.SupplierCardResultView),
        name="supplier_card_result",
    ),
    path(
        "supplier-bills/payments/<int:pk>/pay/",
        pay.exempt(pay.SupplierCardChargeView),
        name="supplier_card_charge",
    ),
    path(
        "supplier-bills/payments/<int:pk>/status/",
        pay.exempt(pay.SupplierCardStatusView),
        name="supplier_card_status",
    ),
    path("supplier-bills/cards/", pay.exempt(pay.SupplierCardsView), name="supplier_cards"),
    path(
        "supplier-bills/cards/<int:pk>/default/",
        pay.exempt(pay.SupplierCardDefaultView),
        name="supplier_card_default",
    ),
    path(
        "supplier-bills/cards/<int:pk>/remove/",
        pay.exempt(pay.SupplierCardRemoveView),
        name="supplier_card_remove",
    ),
]
