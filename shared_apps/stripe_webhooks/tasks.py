"""Stripe webhook work: apply a stored event in its instance, and a sweep that re-enqueues
events a broker outage dropped. Both are idempotent (see services.event_process)."""

from __future__ import annotations

from django.db import OperationalError

from config.celery import app


@app.task(
    name="stripe_webhooks.event_process",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    max_retries=5,
    retry_backoff=True,
    soft_time_limit=60,
    time_limit=90,
)
def stripe_event_process(event_pk: int) -> str:
    from .services import event_process

    return event_process(event_pk=event_pk)


@app.task(name="stripe_webhooks.events_sweep", ignore_result=True, max_retries=0)
def stripe_events_sweep() -> int:
    from .services import events_unprocessed

    pending = events_unprocessed()
    for pk in pending:
        stripe_event_process.delay(pk)
    return len(pending)
