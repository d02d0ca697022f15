"""Recurring billing: a daily beat task fans out one run per instance (thin tasks)."""

from __future__ import annotations

import datetime

from config.celery import app
from config.tenant_tasks import fan_out, instance_task

from . import services


# A whole instance's renewals and dunning: longer than the default limits.
@instance_task(
    name="recurring.billing_run_instance",
    ignore_result=True,
    acks_late=True,
    soft_time_limit=25 * 60,
    time_limit=30 * 60,
)
def billing_run_instance(run_date: str | None = None) -> dict:
    """Renewals then dunning for the instance in `schema_name`; safe to run twice."""
    today = datetime.date.fromisoformat(run_date) if run_date else None
    renewals = services.renewals_run(today=today)
    dunning = services.dunning_run(today=today)
    return {"invoices": renewals.invoices_created, "reminders": dunning.reminders_sent}


@app.task(name="recurring.billing_run_all_instances", ignore_result=True)
def billing_run_all_instances() -> int:
    return fan_out(billing_run_instance)
