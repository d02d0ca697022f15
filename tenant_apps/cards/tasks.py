"""Background work of card payments: thin tasks that take ids (and their instance's schema)
and call the automatic-charge services, and the hourly sweep of what a lost task left."""

from __future__ import annotations

import logging

from config.celery import app
from config.tenant_tasks import fan_out, instance_task

log = logging.getLogger(__name__)


@instance_task(name="cards.auto_charge_run", ignore_result=True)
def auto_charge_run(attempt_id: int) -> str:
    """Charge one scheduled automatic charge. Safe to run twice: a finished attempt is left
    as it is, one in flight asks Stripe again with the same idempotency key."""
    from .autocharge import auto_charge_attempt_run
    from .gateway import GatewayUnavailable

    try:
        attempt = auto_charge_attempt_run(attempt_id=attempt_id)
    except GatewayUnavailable as exc:
        # Stripe's client already retried with the same key. The attempt stays charging and
        # the hourly sweep asks again (same key, inside Stripe's 24 hours): one mechanism
        # for a lost task and an unreachable Stripe alike.
        log.warning("Automatic charge %s waits for Stripe: %s", attempt_id, exc)
        return "charging"
    return attempt.status if attempt is not None else "not found"


def auto_charges_later(attempt_ids: list[int], schema_name: str) -> None:
    """Enqueue one charge task per attempt; a broker outage leaves them for the sweep."""
    for attempt_id in attempt_ids:
        try:
            auto_charge_run.apply_async(
                kwargs={"attempt_id": attempt_id, "schema_name": schema_name}
            )
        except Exception:  # broker down: `auto_charges_sweep` runs them within the hour
            log.warning("Could not enqueue automatic charge %s in %s", attempt_id, schema_name)


@instance_task(
    name="cards.auto_charge_failed_send",
    ignore_result=True,
    max_retries=5,
    default_retry_delay=30,
)
def auto_charge_failed_send(attempt_id: int) -> bool:
    from .notifications import auto_charge_failed_notify

    return auto_charge_failed_notify(attempt_id=attempt_id)


def auto_charge_failed_later(attempt_id: int, schema_name: str) -> None:
    try:
        auto_charge_failed_send.apply_async(
            kwargs={"attempt_id": attempt_id, "schema_name": schema_name}
        )
    except Exception:  # broker down: the sweep sends it (`notified_at` is still empty)
        log.warning("Could not enqueue the failed-charge e-mail %s in %s", attempt_id, schema_name)


@instance_task(name="cards.auto_charges_sweep", ignore_result=True)
def auto_charges_sweep() -> dict:
    from .autocharge import auto_charges_sweep as sweep

    return sweep()


@app.task(name="cards.auto_charges_sweep_all_instances", ignore_result=True)
def auto_charges_sweep_all_instances() -> int:
    return fan_out(auto_charges_sweep)
