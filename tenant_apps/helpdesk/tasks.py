"""Helpdesk background work: drain the outbox and sweep SLA deadlines, per instance.

Thin and idempotent: the outbox rows decide what is sent, exactly once.
"""

from __future__ import annotations

from config.celery import app
from config.tenant_tasks import fan_out, instance_task


@instance_task(name="helpdesk.outbox_drain", ignore_result=True)
def outbox_drain() -> int:
    from tenant_apps.instance.addresses import instance_url

    from .notifications import outbox_deliver

    try:
        base_url = instance_url()
    except Exception:  # no domain resolvable (e.g. a half-built instance): relative links
        base_url = ""
    return outbox_deliver(base_url=base_url)


@app.task(name="helpdesk.outbox_drain_all_instances", ignore_result=True)
def outbox_drain_all_instances() -> int:
    return fan_out(outbox_drain)


@instance_task(name="helpdesk.sla_sweep", ignore_result=True)
def sla_sweep() -> int:
    from tenant_apps.instance.audit import SCHEDULE

    from .services import ticket_sla_sweep

    return ticket_sla_sweep(actor=SCHEDULE)


@app.task(name="helpdesk.sla_sweep_all_instances", ignore_result=True)
def sla_sweep_all_instances() -> int:
    return fan_out(sla_sweep)
