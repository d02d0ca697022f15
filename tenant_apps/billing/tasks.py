"""Background billing work: thin tasks that load ids and call services."""

from __future__ import annotations

import datetime
import logging

from django.db.models import Q
from django.utils import timezone

from config.celery import app
from config.tenant_tasks import fan_out, instance_task
from tenant_apps.instance.addresses import instance_url

log = logging.getLogger(__name__)


def _finalise(invoice_ids: list[int]) -> int:
    from . import documents, notifications
    from .models import Invoice

    base_url = instance_url()
    done = 0
    for invoice in Invoice.objects.filter(pk__in=invoice_ids).select_related("customer"):
        documents.invoice_pdf_store(invoice=invoice)
        notifications.invoice_issued_notify(invoice=invoice, base_url=base_url)
        done += 1
    return done


@instance_task(
    name="billing.documents_finalise", ignore_result=True, max_retries=5, default_retry_delay=30
)
def documents_finalise(invoice_ids: list[int]) -> int:
    """Render and store each document's PDF once, then e-mail it to the customer."""
    return _finalise(invoice_ids)


def documents_finalise_later(invoice_ids: list[int], schema_name: str) -> None:
    """Enqueue PDF rendering and mail; a broker outage must not undo the issue itself."""
    try:
        documents_finalise.apply_async(
            kwargs={"invoice_ids": invoice_ids, "schema_name": schema_name}
        )
    except Exception:  # broker down: `documents_sweep` finalises them later
        log.warning(
            "Could not enqueue documents for %s invoices in %s", len(invoice_ids), schema_name
        )


@instance_task(name="billing.documents_sweep", ignore_result=True)
def documents_sweep() -> int:
    """Finalise issued documents whose PDF or e-mail was never produced (e.g. broker down)."""
    from .models import Invoice

    issued_before = timezone.now() - datetime.timedelta(minutes=5)
    ids = list(
        # A void invoice is never mailed, on purpose: leave it out.
        Invoice.objects.exclude(status__in=[Invoice.Status.DRAFT, Invoice.Status.VOID])
        .filter(issued_at__lt=issued_before)
        .filter(Q(pdf="") | Q(emailed_at__isnull=True))
        .values_list("pk", flat=True)[:500]
    )
    return _finalise(ids) if ids else 0


@app.task(name="billing.documents_sweep_all_instances", ignore_result=True)
def documents_sweep_all_instances() -> int:
    return fan_out(documents_sweep)


@instance_task(
    name="billing.payment_receipt_send", ignore_result=True, max_retries=5, default_retry_delay=30
)
def payment_receipt_send(payment_id: int) -> None:
    from . import notifications
    from .models import Payment

    payment = Payment.objects.select_related("customer", "invoice").get(pk=payment_id)
    notifications.payment_receipt_notify(payment=payment, base_url=instance_url())


def payment_receipt_later(payment_id: int, schema_name: str) -> None:
    try:
        payment_receipt_send.apply_async(
            kwargs={"payment_id": payment_id, "schema_name": schema_name}
        )
    except Exception:  # broker down: the payment stands; only the courtesy receipt is lost
        log.warning("Could not enqueue the receipt of payment %s in %s", payment_id, schema_name)
