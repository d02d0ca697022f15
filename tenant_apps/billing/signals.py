"""Billing events other apps react to (orders renews services when an invoice is settled,
and bills again or waives a service period whose invoice line was credited or voided)."""

from django.dispatch import Signal

# Sent after commit when an invoice becomes fully settled (paid or credited).
# kwargs: invoice_id, schema_name
invoice_settled = Signal()

# Sent after commit whenever what an issued invoice has been paid or credited may have
# changed (payment, refund, credit note, reversal), whether or not its status moved; the
# commission ledger follows it. Receivers must be idempotent: it may arrive more than once.
# kwargs: invoice_id, schema_name
invoice_settlement_changed = Signal()

# Sent after commit when service lines stop being owed without being paid: fully credited by
# a credit note, or voided. kwargs: invoice_id, line_ids, waive (True: the periods are given
# away, recorded; False: the next renewal run bills them again), schema_name, actor.
service_periods_cancelled = Signal()
