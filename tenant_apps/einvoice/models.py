"""E-invoicing data: the issuer's routing details and each customer's format and references.

Kept in this app (not on billing's issuer identity or the customer row) so e-invoicing adds
no column to the apps below it. What a document says about its parties comes from the
invoice's frozen snapshots; only what e-invoice networks need for routing and matching
(electronic addresses, the buyer's reference, a purchase order number, a contact name)
is read from these rows when a document is produced.
"""

from __future__ import annotations

from django.db import models

from .formats import Format

# Electronic address schemes (EAS, CEF code list) offered on the forms: the ones a hosting
# business's customers in Europe use. The EAS list is longer; these are validated as listed.
ADDRESS_SCHEMES = (
    ("0204", "Leitweg-ID (German public buyers, 0204)"),
    ("9930", "German VAT number (9930)"),
    ("0009", "French SIRET (0009)"),
    ("0002", "French SIREN (0002)"),
    ("9957", "French VAT number (9957)"),
    ("0208", "Belgian enterprise number (0208)"),
    ("9925", "Belgian VAT number (9925)"),
    ("0106", "Dutch KvK number (0106)"),
    ("0190", "Dutch OIN (0190)"),
    ("9944", "Dutch VAT number (9944)"),
    ("9914", "Austrian VAT number (9914)"),
    ("0211", "Italian partita IVA (0211)"),
    ("9920", "Spanish VAT number (9920)"),
    ("0007", "Swedish organisation number (0007)"),
    ("0184", "Danish CVR number (0184)"),
    ("0192", "Norwegian organisation number (0192)"),
    ("0037", "Finnish OVT code (0037)"),
    ("0088", "GLN (0088)"),
    ("0060", "DUNS number (0060)"),
    ("EM", "E-mail address (EM)"),
)
ADDRESS_SCHEME_CODES = frozenset(code for code, _ in ADDRESS_SCHEMES)


class IssuerEInvoicing(models.Model):
    """How this instance appears on e-invoice networks (one row per instance)."""

    endpoint_scheme = models.CharField(
        "electronic address scheme", max_length=4, choices=ADDRESS_SCHEMES, blank=True
    )
    endpoint_id = models.CharField(
        "electronic address",
        max_length=200,
        blank=True,
        help_text="Where e-invoice networks reach this business (Peppol and XRechnung "
        "need it), e.g. your SIRET or VAT number in the scheme chosen above",
    )
    contact_name = models.CharField(
        "invoicing contact",
        max_length=200,
        blank=True,
        help_text="A person or department customers can ask about an invoice (XRechnung "
        "needs it, with the issuer identity's phone and e-mail)",
    )
    facturx_default_pdf = models.BooleanField(
        "Factur-X as the default PDF",
        default=False,
        help_text="Every invoice and credit note PDF carries its EN 16931 XML (Factur-X). "
        "A document whose XML does not validate keeps the plain PDF, and its page says why.",
    )
    singleton = models.BooleanField(default=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "e-invoicing settings"
        verbose_name_plural = "e-invoicing settings"
        constraints = [
            models.UniqueConstraint(fields=["singleton"], name="one_einvoicing_settings")
        ]

    def __str__(self) -> str:
        return "E-invoicing settings"


class CustomerEInvoicing(models.Model):
    """A customer's e-invoicing choice and the references its accounts payable asks for."""

    customer = models.OneToOneField(
        "clients.Customer", related_name="einvoicing", on_delete=models.CASCADE
    )
    format = models.CharField(
        "documents as", max_length=12, choices=Format.choices, default=Format.PDF
    )
    buyer_reference = models.CharField(
        max_length=200,
        blank=True,
        help_text="The reference the buyer asked to see on every invoice; for German public "
        "buyers, the Leitweg-ID (XRechnung needs it)",
    )
    order_reference = models.CharField(
        "purchase order number",
        max_length=200,
        blank=True,
        help_text="A standing purchase order number to quote on every invoice",
    )
    endpoint_scheme = models.CharField(
        "electronic address scheme", max_length=4, choices=ADDRESS_SCHEMES, blank=True
    )
    endpoint_id = models.CharField(
        "electronic address",
        max_length=200,
        blank=True,
        help_text="Where the customer receives e-invoices (Peppol and XRechnung need it)",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "customer e-invoicing details"
        verbose_name_plural = "customer e-invoicing details"

    def __str__(self) -> str:
        return f"E-invoicing of customer #{self.customer_id}"
