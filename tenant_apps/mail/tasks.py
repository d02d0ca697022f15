"""Outgoing e-mail in the background: thin tasks that take ids and the schema.

`email_deliver_task` sends one recorded message after the request that recorded it
committed; `outbox_sweep` (beat, every minute, one task per instance) sends retries that
are due and anything a lost broker message left behind; `bodies_purge` (daily) blanks
the text of old messages. Retrying is the row's business (`next_attempt_at`), not Celery's:
a task that fails leaves nothing to redo that the sweep would not find.
"""

from __future__ import annotations

from config.celery import app
from config.tenant_tasks import fan_out, instance_task


@instance_task(name="mail.email_deliver", ignore_result=True, max_retries=0)
def email_deliver_task(email_id: int) -> bool:
    from .models import OutgoingEmail
    from .services import email_deliver

    row = email_deliver(email_id=email_id)
    return bool(row is not None and row.status == OutgoingEmail.Status.SENT)


@instance_task(name="mail.outbox_sweep", ignore_result=True, max_retries=0)
def outbox_sweep() -> int:
    from .services import outbox_sweep as sweep

    return sweep()


@app.task(name="mail.outbox_sweep_all_instances", ignore_result=True)
def outbox_sweep_all_instances() -> int:
    return fan_out(outbox_sweep)


@instance_task(name="mail.bodies_purge", ignore_result=True, max_retries=0)
def bodies_purge() -> int:
    from .services import email_bodies_purge

    return email_bodies_purge()


@app.task(name="mail.bodies_purge_all_instances", ignore_result=True)
def bodies_purge_all_instances() -> int:
    return fan_out(bodies_purge)
