"""Bridge background work: POST queued callbacks to resellers on other software.

A plain task over the public schema (callbacks are operator-side rows). Enqueued on commit
of each queued callback and run by the beat schedule, which catches up after a broker
outage. Idempotent: the rows decide what is sent, and each is claimed by one worker.
"""

from __future__ import annotations

from config.celery import app


# Up to 100 deliveries with a 10-second timeout each.
@app.task(
    name="bridge.callbacks_deliver", ignore_result=True, soft_time_limit=20 * 60, time_limit=21 * 60
)
def callbacks_deliver() -> int:
    from .callbacks import callback_deliveries_send

    return callback_deliveries_send()
