"""Periodic clean-up of the shop: sign-ups whose confirmation link expired are forgotten."""

from __future__ import annotations

from config.celery import app
from config.tenant_tasks import fan_out, instance_task

from . import services


@instance_task(name="storefront.signups_purge", ignore_result=True)
def signups_purge() -> int:
    """Delete this instance's expired pending sign-ups; idempotent."""
    return services.signup_purge_expired()


@app.task(name="storefront.signups_purge_all_instances", ignore_result=True)
def signups_purge_all_instances() -> int:
    """Beat entry point: one `signups_purge` per instance."""
    return fan_out(signups_purge)
