"""Staff screens of billing, one module per thing they show: invoices (and credit notes),
payments and customer credit, settings (billing settings, tax rates, e-mail wording).

Views stay thin: they fetch through the permission-checking selectors, call one service per
action with the signed-in user as its actor, and turn its errors into field errors or
messages. Reading is open to every staff role; issuing, voiding, crediting and payments
need `can_bill` (owner, administrator, billing); settings, tax rates and e-mail wording need
the owner or an administrator.
"""

from .common import document_page_context, invoice_or_404, pdf_response
from .invoices import (
    InvoiceActionView,
    InvoiceCreateView,
    InvoiceDetailView,
    InvoiceListView,
    InvoicePdfView,
)
from .payments import CustomerCreditView, PaymentDetailView, PaymentListView
from .settings import (
    EmailTemplateEditView,
    EmailTemplateListView,
    EmailTemplateResetView,
    SettingsView,
    TaxRateDeleteView,
    TaxRateFormView,
    TaxRateListView,
)

__all__ = [
    "CustomerCreditView",
    "EmailTemplateEditView",
    "EmailTemplateListView",
    "EmailTemplateResetView",
    "InvoiceActionView",
    "InvoiceCreateView",
    "InvoiceDetailView",
    "InvoiceListView",
    "InvoicePdfView",
    "PaymentDetailView",
    "PaymentListView",
    "SettingsView",
    "TaxRateDeleteView",
    "TaxRateFormView",
    "TaxRateListView",
    "document_page_context",
    "invoice_or_404",
    "pdf_response",
]
