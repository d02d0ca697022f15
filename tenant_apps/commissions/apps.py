"""App config for commissions: keeps the ledger in step with billing.

Billing announces every change to what an invoice has been paid or credited
(`invoice_settlement_changed`, sent after commit); the ledger is brought in line with the
invoice then. The sync is idempotent (it posts only the difference between what the rules
say now and what the ledger holds), so a webhook or billing run processed twice, or the
same announcement delivered twice, accrues once.
"""

import logging

from django.apps import AppConfig

log = logging.getLogger(__name__)


class CommissionsConfig(AppConfig):
    name = "tenant_apps.commissions"
    label = "commissions"

    def ready(self) -> None:
        from django_tenants.utils import schema_context

        from tenant_apps.billing.signals import invoice_settlement_changed

        from . import services

        def on_settlement_changed(sender, *, invoice_id: int, schema_name: str, **kwargs):
            # Billing's write is committed already: a failure here must not turn the
            # payment or refund the user made into an error page. It is logged, and the
            # hourly sweep (`tasks.commissions_sweep`) posts what was missed.
            try:
                with schema_context(schema_name):
                    # Most payments in most instances earn nobody anything: one cheap read
                    # spares them the invoice lock and the ledger reads.
                    if services.partners_exist():
                        services.commission_sync_invoice(invoice_id=invoice_id)
            except Exception:
                log.exception("Commission sync of invoice %s in %s failed", invoice_id, schema_name)

        invoice_settlement_changed.connect(
            on_settlement_changed, dispatch_uid="commissions-on-settlement", weak=False
        )
