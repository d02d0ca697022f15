"""What billing asks of the apps above it, which it never imports (card payments plug the
answers in from their `AppConfig.ready()`).

`gateway_refund(payment=, amount=, reason=, waive_periods=, actor=)`
    Money a payment gateway took (a card payment through Stripe) goes back through that
    gateway: refund it there, book it (billing's Refund with its credit notes, through
    `settlement.payment_refund_book`) and return that Refund. None when no gateway took
    `payment`: billing books the refund itself. The gateway's refusal is raised as it is
    (ValidationError on the amount, a DomainError otherwise). Default: no gateway.

`online_payment_url(invoice)`
    Where the invoice's customer pays it online now (a path in the customer portal), or ""
    when they cannot (no payment gateway set up, nothing due). Default: "".

`stored_pdf(invoice)`
    The bytes to store as an issued document's PDF instead of billing's own rendering, or
    None to let billing render it (e-invoicing answers with a Factur-X PDF when the
    instance makes it the default and its XML validates). Default: None.

`mail_attachments(invoice, pdf)`
    The files to attach to the e-mail that sends a newly issued document, given its stored
    PDF as (file name, bytes): a list of (file name, bytes, MIME type). E-invoicing adds or
    swaps in the customer's chosen e-invoice when it validates, and never an invalid one.
    Default: the PDF alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tenant_apps.instance.ports import Port


def _no_gateway(**kwargs: Any) -> None:
    return None


def _no_online_payment(invoice: Any) -> str:
    return ""


gateway_refund: Port[Callable[..., Any]] = Port("gateway_refund", _no_gateway)

online_payment_url: Port[Callable[[Any], str]] = Port("online_payment_url", _no_online_payment)


def _billing_renders(invoice: Any) -> None:
    return None


def _the_pdf(invoice: Any, pdf: tuple[str, bytes]) -> list[tuple[str, bytes, str]]:
    return [(pdf[0], pdf[1], "application/pdf")]


stored_pdf: Port[Callable[[Any], bytes | None]] = Port("stored_pdf", _billing_renders)

mail_attachments: Port[Callable[[Any, tuple[str, bytes]], list[tuple[str, bytes, str]]]] = Port(
    "mail_attachments", _the_pdf
)
