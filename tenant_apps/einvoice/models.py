"""E-invoicing data: the issuer's routing details and each customer's format and references.

Kept in this app (not on billing's issuer identity or the customer row) so e-invoicing adds
no column to the apps below it. What a document says about its parties comes from the
invoice's frozen snapshots; only what e-invoice networks need for routing and matching
(electronic addresses, the buyer's reference, a purchase order number, a contact name)
is read from these rows when a document is produced.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext, gettext_lazy

from .formats import Format

# Electronic address schemes (EAS, CEF code list) offered on the forms: the ones a hosting
# business's customers in Europe use. The EAS list is longer; these are validated as listed.
ADDRESS_SCHEMES = (
    ("0204", gettext_lazy("Leitweg-ID (German public buyers, 0204)")),
    ("9930", gettext_lazy("German VAT number (9930)")),
    ("0009", gettext_lazy("French SIRET (0009)")),
    ("0002", gettext_lazy("French SIREN (0002)")),
    ("9957", gettext_lazy("French VAT number (9957)")),
    ("0208", gettext_lazy("Belgian enterprise number (0208)")),
    ("9925", gettext_lazy("Belgian VAT number (9925)")),
    ("0106", gettext_lazy("Dutch KvK number (0106)")),
    ("0190", gettext_lazy("Dutch OIN (0190)")),
    ("9944", gettext_lazy("Dutch VAT number (9944)")),
    ("9914", gettext_lazy("Austrian VAT number (9914)")),
    ("0211", gettext_lazy("Italian partita IVA (0211)")),
    ("9920", gettext_lazy("Spanish VAT number (9920)")),
    ("0007", gettext_lazy("Swedish organisation number (0007)")),
    ("0184", gettext_lazy("Danish CVR number (0184)")),
    ("0192", gettext_lazy("Norwegian organisation number (0192)")),
    ("0037", gettext_lazy("Finnish OVT code (0037)")),
    ("0088", gettext_lazy("GLN (0088)")),
    ("0060", gettext_lazy("DUNS number (0060)")),
    ("EM", gettext_lazy("E-mail address (EM)")),
)
ADDRESS_SCHEME_CODES = frozenset(code for code, _ in ADDRESS_SCHEMES)


class IssuerEInvoicing(models.Model):
    """How this instance appears on e-invoice networks (one row per instance)."""

    endpoint_scheme = models.CharField(
        gettext_lazy("electronic address scheme"), max_length=4, choices=ADDRESS_SCHEMES, blank=True
    )
    endpoint_id = models.CharField(
        gettext_lazy("electronic address"),
        max_length=200,
        blank=True,
        help_text=gettext_lazy(
            "Where e-invoice networks reach this business (Peppol and XRechnung "
            "need it), e.g. your SIRET or VAT number in the scheme chosen above"
        ),
    )
    contact_name = models.CharField(
        gettext_lazy("invoicing contact"),
        max_length=200,
        blank=True,
        help_text=gettext_lazy(
            "A person or department customers can ask about an invoice (XRechnung "
            "needs it, with the issuer identity's phone and e-mail)"
        ),
    )
    facturx_default_pdf = models.BooleanField(
        gettext_lazy("Factur-X as the default PDF"),
        default=False,
        help_text=gettext_lazy(
            "Every invoice and credit note PDF carries its EN 16931 XML (Factur-X). "
            "A document whose XML does not validate keeps the plain PDF, and its page says why."
        ),
    )
    singleton = models.BooleanField(default=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = gettext_lazy("e-invoicing settings")
        verbose_name_plural = gettext_lazy("e-invoicing settings")
        constraints = [
            models.UniqueConstraint(fields=["singleton"], name="one_einvoicing_settings")
        ]

    def __str__(self) -> str:
        return gettext("E-invoicing settings")


class CustomerEInvoicing(models.Model):
    """A customer's e-invoicing choice and the references its accounts payable asks for."""

    customer = models.OneToOneField(
        "clients.Customer", related_name="einvoicing", on_delete=models.CASCADE
    )
    format = models.CharField(
        gettext_lazy("documents as"), max_length=12, choices=Format.choices, default=Format.PDF
    )
    buyer_reference = models.CharField(
        max_length=200,
        blank=True,
        help_text=gettext_lazy(
            "The reference the buyer asked to see on every invoice; for German public "
            "buyers, the Leitweg-ID (XRechnung needs it)"
        ),
    )
    order_reference = models.CharField(
        gettext_lazy("purchase order number"),
        max_length=200,
        blank=True,
        help_text=gettext_lazy("A standing purchase order number to quote on every invoice"),
    )
    endpoint_scheme = models.CharField(
        gettext_lazy("electronic address scheme"), max_length=4, choices=ADDRESS_SCHEMES, blank=True
    )
    endpoint_id = models.CharField(
        gettext_lazy("electronic address"),
        max_length=200,
        blank=True,
        help_text=gettext_lazy(
            "Where the customer receives e-invoices (Peppol and XRechnung need it)"
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = gettext_lazy("customer e-invoicing details")
        verbose_name_plural = gettext_lazy("customer e-invoicing details")

    def __str__(self) -> str:
        return gettext("E-invoicing of customer #%(id)s") % {"id": self.customer_id}
