"""App config for accounts: sign-ins, failures and sign-outs go to the audit trail."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "tenant_apps.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from django.contrib.auth import signals

        from . import signins

        signals.user_logged_in.connect(
            signins.on_signed_in, dispatch_uid="accounts-audit-signed-in"
        )
        signals.user_login_failed.connect(
            signins.on_sign_in_failed, dispatch_uid="accounts-audit-sign-in-failed"
        )
        signals.user_logged_out.connect(
            signins.on_signed_out, dispatch_uid="accounts-audit-signed-out"
        )
