"""What e-invoicing asks the platform, which it never imports (tenancy plugs the answer).

`supplier_bill_einvoice(schema_name, invoice_id, fmt)`
    The operator's bill `invoice_id` to the reseller running `schema_name`, produced as a
    validated `EInvoiceFile` in `fmt` in the operator's books (the public schema, with the
    operator's e-invoicing settings and the reseller's details there). None when it is not
    one of that reseller's bills; `documents.EInvoiceRefused` when it cannot be produced
    valid. Default: None (no platform: no supplier bills).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tenant_apps.instance.ports import Port


def _no_supplier(schema_name: str, invoice_id: int, fmt: str) -> None:
    return None


supplier_bill_einvoice: Port[Callable[[str, int, str], Any]] = Port(
    "supplier_bill_einvoice", _no_supplier
)
