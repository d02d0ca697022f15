"""What card payments announce to the platform, and ask of it (tenant apps never import
shared apps).

`account_connected(schema_name=, account_id=)` is sent inside the transaction that gives an
instance its Stripe account; the webhook app records account → instance from it, so a
Connect event for that account reaches this instance and no other.

`reseller_pay_links(reseller_id, invoice_id)` answers where a reseller — a customer of the
operator's instance — pays one of the operator's invoices and keeps its cards: in its own
instance's staff area (its supplier bills), not in the operator's customer portal. It
returns absolute (pay, saved cards) URLs, or None when the platform does not know.

`platform_fee_percent()` answers the fee the operator takes on each card payment made on a
reseller's connected account, in percent (Decimal; 0 means none, the default). The
operator sets it in the console; the Stripe webhooks app plugs the answer in.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from django.dispatch import Signal

from tenant_apps.instance.ports import Port

account_connected = Signal()


def _unknown(reseller_id: int, invoice_id: int) -> tuple[str, str] | None:
    return None


reseller_pay_links: Port[Callable[[int, int], tuple[str, str] | None]] = Port(
    "reseller_pay_links", _unknown
)


def _no_platform_fee() -> Decimal:
    return Decimal("0")


platform_fee_percent: Port[Callable[[], Decimal]] = Port("platform_fee_percent", _no_platform_fee)
