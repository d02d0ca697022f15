"""The instance's own calendar: each instance bills in its own time zone, so "today" (the
issue date of an invoice, the year in its number, a renewal's due date) is the instance's
today — 00:30 in Paris on 1 January is already the new year there."""

from __future__ import annotations

import contextlib
import contextvars
import datetime
from collections.abc import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import connection
from django.utils import timezone

from .models import IssuerIdentity

_held: contextvars.ContextVar[dict[str, ZoneInfo] | None] = contextvars.ContextVar(
    "instance_time_zones", default=None
)


@contextlib.contextmanager
def time_zones_held() -> Iterator[None]:
    """Inside, each instance's time zone is read once: a worker applying a payment asks
    for "today" three times (the payment's date, the commission's, the service's start),
    and one task is one moment in one time zone. Nested blocks share the outermost."""
    if _held.get() is not None:
        yield
        return
    token = _held.set({})
    try:
        yield
    finally:
        _held.reset(token)


def _time_zone_read() -> ZoneInfo:
    name = IssuerIdentity.objects.values_list("time_zone", flat=True).first() or ""
    try:
        return ZoneInfo(name or settings.TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def instance_time_zone() -> ZoneInfo:
    held = _held.get()
    if held is None:
        return _time_zone_read()
    schema = connection.schema_name
    if schema not in held:
        held[schema] = _time_zone_read()
    return held[schema]


def today() -> datetime.date:
    """Today's date where this instance does business."""
    return timezone.localdate(timezone=instance_time_zone())
