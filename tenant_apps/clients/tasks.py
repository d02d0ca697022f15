"""Periodic re-check of EU VAT ids: those VIES could not confirm when they were entered, and
valid ones whose last confirmation is older than `vies.reconfirm_after()` (reverse charge
relies on a recent one; billing also asks again when it issues with an older one)."""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from config.celery import app
from config.tenant_tasks import fan_out, instance_task

from . import services
from .models import Customer
from .tax_ids import EU_VAT_PREFIXES, NORTHERN_IRELAND_PREFIX
from .vies import reconfirm_after

BATCH_SIZE = 50


@instance_task(name="tenant_apps.clients.tasks.tax_ids_recheck", ignore_result=True)
def tax_ids_recheck() -> int:
    """Ask VIES again about this instance's unverified EU VAT ids; returns how many it settled.

    Idempotent: an id VIES still cannot confirm stays unverified for the next run. Stops at
    the first outage so that a registry which is down is not hammered.
    """
    eu_vat_ids = Q(country__in=list(EU_VAT_PREFIXES)) | Q(
        country="GB", tax_id__startswith=NORTHERN_IRELAND_PREFIX
    )
    stale = Q(
        tax_id_status=Customer.TaxIdStatus.VALID,
        tax_id_checked_at__lt=timezone.now() - reconfirm_after(),
    )
    pending = (
        Customer.objects.filter(eu_vat_ids)
        .filter(Q(tax_id_status=Customer.TaxIdStatus.UNVERIFIED) | stale)
        .exclude(tax_id="")
        .order_by("tax_id_checked_at", "pk")
    )
    settled = 0
    for customer in pending[:BATCH_SIZE]:
        checked = services.customer_tax_id_verify(customer=customer, actor="vies-recheck")
        if checked.tax_id_status == Customer.TaxIdStatus.UNVERIFIED:
            break
        settled += 1
    return settled


@app.task(name="tenant_apps.clients.tasks.tax_ids_recheck_all_instances", ignore_result=True)
def tax_ids_recheck_all_instances() -> int:
    """Beat entry point: one `tax_ids_recheck` per instance."""
    return fan_out(tax_ids_recheck)
