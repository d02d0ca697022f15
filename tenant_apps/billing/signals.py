"""Billing events other apps react to (orders renews services when an invoice is settled)."""

from django.dispatch import Signal

# Sent after commit when an invoice becomes fully settled (paid or credited).
# kwargs: invoice_id, schema_name
invoice_settled = Signal()
