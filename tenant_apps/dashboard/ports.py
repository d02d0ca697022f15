"""What the staff area asks the platform: paying this reseller's supplier bills by card.

The operator's invoices to a reseller are in the operator's books (the public schema), and
so are the card payments that pay them, on the platform's own Stripe account — the
operator is the merchant. A reseller instance reaches them only through `supplier_cards`
(plugged by tenancy), always naming its own schema: only its own bills, payments and cards
are reachable, and what comes back are plain values (no ORM object outlives the schema
switch). `actor` is a label ("owner@acme.test (Acme)"): a reseller's user is not a user of
the operator's instance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from django.utils.translation import gettext_lazy

from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.ports import Port


class SupplierBillNotFound(DomainError):
    """Not one of this reseller's bills (or payments, or cards): said as a 404."""

    status_code = 404
    code = "not_found"


class SupplierCardsUnavailable(DomainError):
    status_code = 409
    code = "cards_not_set_up"


UNAVAILABLE = gettext_lazy("Paying supplier bills by card is not available here.")


@dataclass(frozen=True)
class SupplierCard:
    """A card the reseller saved with its supplier (Stripe keeps the number)."""

    id: int
    payment_method_id: str
    brand: str = ""
    last4: str = ""
    exp_month: int | None = None
    exp_year: int | None = None
    is_default: bool = False

    def __str__(self) -> str:
        expiry = (
            f" {self.exp_month:02d}/{self.exp_year}" if self.exp_month and self.exp_year else ""
        )
        return f"{self.brand.title() or 'Card'} •••• {self.last4}{expiry}"


@dataclass(frozen=True)
class SupplierCheckout:
    """What the browser needs to take a card for one supplier bill (see cards/pay.html)."""

    card_payment_id: int
    is_open: bool
    client_secret: str
    setup_client_secret: str
    publishable_key: str
    account_id: str | None = None  # the platform's own account: no Stripe-Account
    saved_cards: tuple[SupplierCard, ...] = ()


@dataclass(frozen=True)
class SupplierCharge:
    """Stripe's answer to a card (the card payment may be a fresh one after a decline)."""

    card_payment_id: int
    status: str
    message: str = ""
    client_secret: str = ""
    instance_active: bool = False  # after this charge (a paid bill may have resumed it)


@dataclass(frozen=True)
class SupplierPayment:
    """A card payment of a supplier bill, as Stripe reports it now, with the bill."""

    id: int
    status: str
    status_label: str
    message: str
    amount: Decimal
    currency: str
    is_open: bool
    invoice_id: int
    invoice_number: str
    invoice_status_label: str
    amount_due: Decimal
    instance_active: bool
    problem: str = ""

    @property
    def final(self) -> bool:
        return not self.is_open or self.status == "failed"


@dataclass(frozen=True)
class SupplierCardSettings:
    """The reseller's saved cards with its supplier, and automatic charging of its bills."""

    ready: bool
    reason: str = ""
    auto_charge: bool = False
    cards: tuple[SupplierCard, ...] = field(default=())


class SupplierCards(Protocol):
    def checkout(self, schema_name: str, *, invoice_id: int, actor: str) -> SupplierCheckout:
        """Start (or resume) paying what is due on one of the reseller's bills."""

    def pay(
        self,
        schema_name: str,
        *,
        card_payment_id: int,
        payment_method_id: str,
        save_card: bool,
        actor: str,
    ) -> SupplierCharge:
        """Charge the card Stripe.js collected."""

    def payment(self, schema_name: str, *, card_payment_id: int, actor: str) -> SupplierPayment:
        """Ask Stripe how the payment stands, record it when paid, and say so."""

    def settings(self, schema_name: str) -> SupplierCardSettings: ...

    def auto_charge_set(self, schema_name: str, *, enabled: bool, actor: str) -> bool:
        """Turn automatic charging of the reseller's bills on or off; returns the new value."""

    def card_make_default(self, schema_name: str, *, card_id: int, actor: str) -> SupplierCard: ...

    def card_remove(self, schema_name: str, *, card_id: int, actor: str) -> tuple[str, bool]:
        """Forget a saved card; returns its label, and whether automatic charging stopped
        with it (it was the last card)."""


class NoSupplierCards:
    """Without the platform (an instance on its own): nothing to pay by card."""

    def _refuse(self, *args, **kwargs):
        raise SupplierCardsUnavailable(UNAVAILABLE)

    checkout = pay = payment = auto_charge_set = card_make_default = card_remove = _refuse

    def settings(self, schema_name: str) -> SupplierCardSettings:
        return SupplierCardSettings(ready=False, reason=UNAVAILABLE)


#: Paying the operator's bills by card from a reseller's staff area (tenancy plugs it).
supplier_cards: Port = Port("supplier_cards", NoSupplierCards())
