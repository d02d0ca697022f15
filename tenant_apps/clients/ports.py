"""What client management asks of the outside world, and announces.

`currency_changing(sender=Customer, customer=Customer, old=str, new=str)` (signal)
    Sent under the customer's row lock before its billing currency changes; a receiver
    raises ValidationError to refuse (billing does while an invoice is still open).

`vat_checker` → a class whose instances answer `check(country_code, number, requester=None)
-> VatCheckResult` (raising `VatServiceUnavailable` when the registry cannot answer). The
real VIES client by default; tests plug a fake with `vat_checker.plugged(...)`.
"""

from __future__ import annotations

from django.dispatch import Signal

from tenant_apps.instance.ports import Port

from .vies import ViesClient

vat_checker: Port[type] = Port("vat_checker", ViesClient)

currency_changing = Signal()
