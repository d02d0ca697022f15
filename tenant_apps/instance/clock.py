"""The instance's own calendar: each instance bills in its own time zone, so "today" (the
issue date of an invoice, the year in its number, a renewal's due date) is the instance's
today — 00:30 in Paris on 1 January is already the new year there."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.utils import timezone

from .models import IssuerIdentity


def instance_time_zone() -> ZoneInfo:
    name = IssuerIdentity.objects.values_list("time_zone", flat=True).first() or ""
    try:
        return ZoneInfo(name or settings.TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def today() -> datetime.date:
    """Today's date where this instance does business."""
    return timezone.localdate(timezone=instance_time_zone())
