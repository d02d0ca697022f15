"""Receivers: a billing run that finished is measured once it is committed; a Celery task
runs with its schema and id in the log context (`InstanceTask` takes `schema_name`)."""

from __future__ import annotations

from django.db import transaction

from . import context, metrics

_task_tokens: dict[str, tuple] = {}


def billing_run_saved(sender, instance, created: bool, **kwargs) -> None:
    if instance.finished_at is None or instance.started_at is None:
        return
    if instance.status not in ("done", "failed"):
        return
    seconds = max((instance.finished_at - instance.started_at).total_seconds(), 0.0)
    kind, status = instance.kind, instance.status
    transaction.on_commit(
        lambda: metrics.billing_run_record(kind=kind, status=status, seconds=seconds)
    )


def task_started(sender=None, task_id=None, task=None, args=None, kwargs=None, **extra) -> None:
    schema = (kwargs or {}).get("schema_name", "") or ""
    # In a worker the task's id ties its lines together; a task run inline by a request
    # (eager mode) keeps the request's id.
    _task_tokens[task_id] = (
        context.schema.set(schema),
        context.request_id.set(context.request_id.get() or task_id or ""),
    )


def task_finished(sender=None, task_id=None, **extra) -> None:
    tokens = _task_tokens.pop(task_id, None)
    if tokens is None:
        return
    schema_token, id_token = tokens
    try:
        context.schema.reset(schema_token)
        context.request_id.reset(id_token)
    except ValueError:
        # Reset from another context (eager tasks inside a request): set back to empty.
        context.schema.set("")
        context.request_id.set("")
