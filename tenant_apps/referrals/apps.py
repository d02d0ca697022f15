"""App config for referrals."""

from django.apps import AppConfig


class ReferralsConfig(AppConfig):
    name = "tenant_apps.referrals"
    label = "referrals"
