"""Tenant-aware Celery tasks: every task receives its schema and runs inside it.

A worker thread that forgets to set its schema runs in whatever schema the previous task
left behind. `InstanceTask` makes the schema an explicit, required argument, enters it for
the duration of the call and then restores the schema that was active before.

`fan_out(task)` is the one pattern for "do X in every instance": it enqueues one task per
instance (the operator's public instance included), so a slow instance delays only itself
and a failure is retried per instance.
"""

from __future__ import annotations

from celery import Task
from django_tenants.utils import get_public_schema_name, schema_context

from config.celery import app
from tenant_apps.instance import ports


class InstanceTask(Task):
    """Base class for tasks that run inside one instance's schema (`schema_name=` kwarg)."""

    def __call__(self, *args, schema_name: str, **kwargs):
        # schema_context restores whatever schema was active before: public in a worker,
        # and the request's own instance when the task runs inline (eager mode).
        with schema_context(schema_name):
            return super().__call__(*args, **kwargs)


def instance_task(*args, **options):
    """Decorator: `@instance_task` → a Celery task that must be called with schema_name=."""
    options.setdefault("base", InstanceTask)
    # The wrapped function never sees schema_name (InstanceTask consumes it), so Celery's
    # signature check would reject every call.
    options.setdefault("typing", False)
    return app.task(*args, **options)


def active_schema_names() -> list[str]:
    """The public (operator) schema plus every active reseller's schema (the reseller
    schemas come from the `instance_schemas` port, which tenancy plugs in)."""
    return [get_public_schema_name(), *ports.reseller_schemas()]


def fan_out(task: Task, **kwargs) -> int:
    """Enqueue `task` once per active instance; returns how many were enqueued."""
    schemas = active_schema_names()
    for schema in schemas:
        task.apply_async(kwargs={**kwargs, "schema_name": schema})
    return len(schemas)
