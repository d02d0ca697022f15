"""What card payments announce to the platform (tenant apps never import shared apps).

`account_connected(schema_name=, account_id=)` is sent inside the transaction that gives an
instance its Stripe account; the webhook app records account → instance from it, so a
Connect event for that account reaches this instance and no other.
"""

from __future__ import annotations

from django.dispatch import Signal

account_connected = Signal()
