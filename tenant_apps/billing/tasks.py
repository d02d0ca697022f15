"""Background billing work: thin tasks that load ids and call services."""

from __future__ import annotations

import logging

from config.tenant_tasks import instance_task

log = logging.getLogger(__name__)


@instance_task(
    name="billing.documents_finalise", ignore_result=True, max_retries=5, default_retry_delay=30
)
def documents_finalise(invoice_ids: list[int]) -> int:
    """Render and store each document's PDF once, then e-mail it to the customer."""
    from . import documents, notifications
    from .models import Invoice

    done = 0
    for invoice in Invoice.objects.filter(pk__in=invoice_ids).select_related("customer"):
        documents.invoice_pdf_store(invoice=invoice)
        notifications.invoice_issued_notify(invoice=invoice)
        done += 1
    return done


def documents_finalise_later(invoice_ids: list[int], schema_name: str) -> None:
    """Enqueue PDF rendering and mail; a broker outage must not undo the issue itself."""
    try:
        documents_finalise.apply_async(
            kwargs={"invoice_ids": invoice_ids, "schema_name": schema_name}
        )
    except Exception:  # broker down: the periodic sweep picks up documents without a PDF
        log.warning(
            "Could not enqueue documents for %s invoices in %s", len(invoice_ids), schema_name
        )
