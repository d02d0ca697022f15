"""Billing events other apps react to (orders renews services when an invoice is settled,
and bills again or waives a service period whose invoice line was credited or voided)."""

from django.dispatch import Signal

# Sent after commit when an invoice becomes fully settled (paid or credited).
# kwargs: invoice_id, schema_name
invoice_settled = Signal()

# Sent after commit when service lines stop being owed without being paid: fully credited by
# a credit note, or voided. kwargs: invoice_id, line_ids, waive (True: the periods are given
# away, recorded; False: the next renewal run bills them again), schema_name, actor.
service_periods_cancelled = Signal()
