"""What client management asks of the outside world.

`vat_checker` → a class whose instances answer `check(country_code, number, requester=None)
-> VatCheckResult` (raising `VatServiceUnavailable` when the registry cannot answer). The
real VIES client by default; tests plug a fake with `vat_checker.plugged(...)`.
"""

from __future__ import annotations

from tenant_apps.instance.ports import Port

from .vies import ViesClient

vat_checker: Port[type] = Port("vat_checker", ViesClient)
