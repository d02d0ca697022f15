"""Tenant-aware Celery tasks: every task receives its schema and runs inside it.

A worker thread that forgets to set its schema runs in whatever schema the previous task
left behind. `InstanceTask` makes the schema an explicit, required argument, enters it for
the duration of the call and then restores the schema that was active before.

A task for an instance whose schema is gone (deleted after the task was queued) is refused
before it runs: PostgreSQL accepts a search path naming a schema that does not exist and
would resolve every table to the public schema's table of the same name, so the task would
read and write the operator's own data. `InstanceGone` says so loudly instead.

`fan_out(task)` is the one pattern for "do X in every instance": it enqueues one task per
instance (the operator's public instance included), so a slow instance delays only itself
and a failure is retried per instance.
"""

from __future__ import annotations

from celery import Task
from django.db import connection
from django_tenants.utils import (
    get_public_schema_name,
    get_tenant_model,
    quote_schema_name,
    schema_context,
)

from config.celery import app
from tenant_apps.instance import ports


class InstanceGone(RuntimeError):
    """The task's instance no longer exists: running it would reach the operator's tables."""


def require_instance_schema(schema_name: str) -> None:
    """Raise InstanceGone unless `schema_name` is the public schema or the schema of an
    existing instance that is still there in PostgreSQL."""
    public = get_public_schema_name()
    if schema_name == public:
        return
    # One query, the tenant table named in the public schema itself (no switch there).
    table = (
        quote_schema_name(public)
        + "."
        + connection.ops.quote_name(get_tenant_model()._meta.db_table)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {table} WHERE schema_name = %s), "
            "EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s)",
            [schema_name, schema_name],
        )
        registered, exists = cursor.fetchone()
    if not (registered and exists):
        raise InstanceGone(
            f"Refused to run in schema {schema_name!r}: "
            + ("no instance uses it" if exists else "it does not exist (instance deleted?)")
            + "; nothing was run, so nothing could fall through to the operator's tables."
        )


class InstanceTask(Task):
    """Base class for tasks that run inside one instance's schema (`schema_name=` kwarg)."""

    def __call__(self, *args, schema_name: str, **kwargs):
        require_instance_schema(schema_name)
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
