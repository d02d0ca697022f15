"""Reads of recurring billing shared by the screens and the API."""

from __future__ import annotations

import datetime

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from .models import BillingRun


def billing_run_list() -> QuerySet[BillingRun]:
    return BillingRun.objects.all()


def get_billing_run_for(user, pk) -> BillingRun:
    """Staff of this instance only; raises BillingRun.DoesNotExist or PermissionDenied."""
    if not (user.is_authenticated and user.is_instance_staff):
        raise PermissionDenied(_("Billing runs are for staff."))
    return BillingRun.objects.get(pk=pk)


def billing_run_companions(run: BillingRun) -> QuerySet[BillingRun]:
    """Runs started together with `run` (“Run now” starts renewals then dunning)."""
    window = datetime.timedelta(minutes=5)
    return BillingRun.objects.filter(
        run_date=run.run_date,
        triggered_by=run.triggered_by,
        started_at__gte=run.started_at - window,
        started_at__lte=run.started_at + window,
    ).exclude(pk=run.pk)
