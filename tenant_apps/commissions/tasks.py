"""Periodic sweep of the commission ledger, one task per instance: re-syncs invoices touched
recently, in case an announcement was lost between a commit and its handler. Maturity needs
no task: pending or payable is computed from each entry's `matures_on` when read."""

from __future__ import annotations

from config.celery import app
from config.tenant_tasks import fan_out, instance_task

from . import services


@instance_task(name="commissions.sweep", ignore_result=True)
def commissions_sweep() -> int:
    return services.commission_sweep()


@app.task(name="commissions.sweep_all_instances", ignore_result=True)
def commissions_sweep_all_instances() -> int:
    return fan_out(commissions_sweep)
