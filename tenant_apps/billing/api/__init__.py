"""Billing API of one instance: invoices and credit notes, payments, tax rates, settings.

Every staff member reads. Issuing, voiding, crediting and payments need the owner, an
administrator or billing staff (`can_bill`); tax rates and settings need the owner or an
administrator. Writes call the same services as the screens, with the caller as the actor;
their ValidationError and domain errors become 400/409 JSON through
`config.errors.api_exception_handler`.
"""

from .common import CanBillOrReadOnly, CanManageOrReadOnly
from .invoices import InvoiceViewSet
from .payments import PaymentViewSet
from .settings import BillingSettingsView, TaxRateViewSet

__all__ = [
    "BillingSettingsView",
    "CanBillOrReadOnly",
    "CanManageOrReadOnly",
    "InvoiceViewSet",
    "PaymentViewSet",
    "TaxRateViewSet",
]
