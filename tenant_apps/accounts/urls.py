"""Sign-in (password, then the second factor), sign-out, password change and reset, and the
user's security page, served by every instance on its own domain.

Signing in and out and resetting a forgotten password keep working while the instance is
held for non-payment (`payment_hold_exempt`): its staff must be able to get in to pay."""

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from tenant_apps.instance.payment_hold import payment_hold_exempt

from . import views
from .forms import ChangePasswordForm, EmailAuthenticationForm, ResetPasswordForm
from .middleware import second_step_exempt
from .password_reset import LimitedPasswordResetView

app_name = "accounts"

urlpatterns = [
    path(
        "login/",
        payment_hold_exempt(
            auth_views.LoginView.as_view(
                authentication_form=EmailAuthenticationForm, redirect_authenticated_user=True
            )
        ),
        name="login",
    ),
    path(
        "language/",
        payment_hold_exempt(second_step_exempt(views.LanguageSetView.as_view())),
        name="language_set",
    ),
    path(
        "logout/",
        payment_hold_exempt(second_step_exempt(auth_views.LogoutView.as_view())),
        name="logout",
    ),
    path(
        "two-factor/",
        payment_hold_exempt(second_step_exempt(views.TwoFactorVerifyView.as_view())),
        name="two_factor_verify",
    ),
    path(
        "two-factor/set-up/",
        payment_hold_exempt(second_step_exempt(views.TwoFactorSetupView.as_view())),
        name="two_factor_setup",
    ),
    path(
        "two-factor/recovery-codes/",
        views.RecoveryCodesRenewView.as_view(),
        name="recovery_codes_renew",
    ),
    path("two-factor/disable/", views.TwoFactorDisableView.as_view(), name="two_factor_disable"),
    path("security/", views.SecurityView.as_view(), name="security"),
    path("security/api-token/revoke/", views.ApiTokenRevokeView.as_view(), name="api_token_revoke"),
    path(
        "password/",
        auth_views.PasswordChangeView.as_view(
            form_class=ChangePasswordForm,
            success_url=reverse_lazy("accounts:password_change_done"),
        ),
        name="password_change",
    ),
    path(
        "password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path(
        "password-reset/",
        payment_hold_exempt(
            LimitedPasswordResetView.as_view(
                success_url=reverse_lazy("accounts:password_reset_done"),
                email_template_name="registration/password_reset_email.html",
                subject_template_name="registration/password_reset_subject.txt",
            )
        ),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        payment_hold_exempt(auth_views.PasswordResetDoneView.as_view()),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        payment_hold_exempt(
            auth_views.PasswordResetConfirmView.as_view(
                form_class=ResetPasswordForm,
                success_url=reverse_lazy("accounts:password_reset_complete"),
            )
        ),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        payment_hold_exempt(auth_views.PasswordResetCompleteView.as_view()),
        name="password_reset_complete",
    ),
]
