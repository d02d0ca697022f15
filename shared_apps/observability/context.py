"""What a log line carries about where it came from: the request id and the instance schema.

Set by the request middleware (per request) and by Celery's task signals (per task), read
by `logs.ContextFilter`. Context variables, not thread-locals, so a value set for one
request never leaks into the next one served by the same thread.
"""

from __future__ import annotations

import contextvars
import re
import uuid

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
# The schema a task was given; during a request the routed instance is read from `request`
# (routing happens after the request's first middleware, so it is read when a line is logged).
schema: contextvars.ContextVar[str] = contextvars.ContextVar("schema", default="")
request: contextvars.ContextVar[object | None] = contextvars.ContextVar("request", default=None)

# What a proxy may hand us as a request id: short, printable, no spaces or quotes.
_ACCEPTABLE_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


def new_request_id() -> str:
    return uuid.uuid4().hex


def acceptable_request_id(value: str | None) -> str:
    """`value` when it is safe to log and echo as a request id, else ""."""
    return value if value and _ACCEPTABLE_ID.match(value) else ""


def current_schema() -> str:
    """The instance schema of the task or request being served ("" when none is known)."""
    explicit = schema.get()
    if explicit:
        return explicit
    served = request.get()
    if served is not None:
        tenant = getattr(served, "tenant", None)
        return getattr(tenant, "schema_name", "") or ""
    return ""
