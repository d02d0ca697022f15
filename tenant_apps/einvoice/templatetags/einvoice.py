"""Template tags that put e-invoicing on other apps' pages without those apps importing it:
the staff invoice page's panel, the portal invoice page's downloads and a supplier bill's
downloads. `{% load einvoice %}` in the template."""

from __future__ import annotations

from django import template

from ..documents import einvoice_check
from ..formats import E_FORMATS, SHORT_NAMES, Format
from ..selectors import customer_format, last_withheld

register = template.Library()


@register.inclusion_tag("einvoice/_invoice_panel.html", takes_context=True)
def einvoice_invoice_panel(context, invoice):
    """Staff: each format's state for an issued document — download it, or why it cannot."""
    issued = invoice.pk and invoice.status != invoice.Status.DRAFT and invoice.number
    rows = []
    if issued:
        for fmt in E_FORMATS:
            problems = einvoice_check(invoice=invoice, fmt=fmt)
            rows.append({"format": fmt.value, "name": SHORT_NAMES[fmt], "problems": problems})
    chosen = customer_format(invoice.customer_id)
    withheld = last_withheld(invoice) if issued else None
    return {
        "invoice": invoice,
        "issued": issued,
        "rows": rows,
        "chosen": chosen,
        "chosen_name": SHORT_NAMES.get(chosen, chosen),
        "withheld": withheld,
        "withheld_problems": (withheld.detail or {}).get("problems", []) if withheld else [],
        "withheld_format": SHORT_NAMES.get((withheld.detail or {}).get("format", ""), "")
        if withheld
        else "",
        "request": context.get("request"),
    }


@register.inclusion_tag("einvoice/_portal_downloads.html")
def einvoice_portal_downloads(invoice):
    """Portal: the document as Factur-X, and as the customer's chosen UBL format."""
    chosen = customer_format(invoice.customer_id)
    formats = [Format.FACTURX]
    if chosen in (Format.PEPPOL, Format.XRECHNUNG):
        formats.append(Format(chosen))
    return {
        "invoice": invoice,
        "links": [{"format": fmt.value, "name": SHORT_NAMES[fmt]} for fmt in formats],
    }


@register.inclusion_tag("einvoice/_supplier_bill_downloads.html")
def einvoice_supplier_bill_downloads(bill):
    """Staff of a reseller: the operator's bill as Factur-X or UBL."""
    return {
        "bill": bill,
        "links": [{"format": fmt.value, "name": SHORT_NAMES[fmt]} for fmt in E_FORMATS],
    }
