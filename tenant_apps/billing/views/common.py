"""Small helpers the billing screens share: fetching an invoice, presenting it, its PDF."""

from __future__ import annotations

from django.http import FileResponse, Http404
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse

from ..models import Invoice
from ..presenters import document_presentation, pdf_filename
from ..selectors import get_invoice_for
from ..tables import is_overdue, status_badge


def invoice_or_404(request, pk) -> Invoice:
    """The invoice if this user may see it (staff: any; a customer: their own issued ones)."""
    try:
        return get_invoice_for(request.user, pk)
    except Invoice.DoesNotExist as exc:
        raise Http404("No such invoice.") from exc


def optional_url(name: str, *args) -> str | None:
    """A link into a sibling app's screens only when that screen exists."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def document_page_context(invoice: Invoice) -> dict:
    """What every page showing one document needs: the shared presentation (`doc`, the same
    the PDF prints) and the page's own status badge, overdue flag and PDF availability."""
    return {
        "invoice": invoice,
        "doc": document_presentation(invoice),
        "status_badge": status_badge(invoice),
        "is_overdue": is_overdue(invoice),
        "has_pdf": bool(invoice.pdf),
    }


def pdf_response(request, invoice: Invoice, *, back_url: str):
    """The stored PDF as a download, or a friendly 404 while it is being rendered."""
    storage = invoice.pdf.storage
    if not invoice.pdf or not storage.exists(invoice.pdf.name):
        return render(
            request,
            "billing/pdf_pending.html",
            {
                "invoice": invoice,
                "back_url": back_url,
                "layout": "layouts/portal.html"
                if request.user.is_customer
                else "layouts/staff.html",
            },
            status=404,
        )
    return FileResponse(
        invoice.pdf.open("rb"),
        as_attachment=True,
        filename=pdf_filename(invoice),
        content_type="application/pdf",
    )
