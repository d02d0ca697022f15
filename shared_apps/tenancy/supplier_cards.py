"""A reseller pays the operator's bills by card: the plug of the staff area's
`tenant_apps.dashboard.ports.supplier_cards`.

In the operator's books (the public schema) a reseller is a customer linked to its
`Reseller` row; its bills are that customer's invoices. Every call names the schema of the
instance asking, finds its customer, and reaches only that customer's invoices, card
payments and saved cards — anything else is `SupplierBillNotFound` (a 404), whatever id
was asked for. The work itself is the card services', run in the public schema: the
platform's own Stripe account, the operator's books and audit trail. A payment recorded
there settles the bill, which resumes the reseller's plan and so the instance
(`reseller_plans.reconcile`), all before the paying request answers.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_tenants.utils import get_public_schema_name, schema_context

from tenant_apps.billing.models import Invoice
from tenant_apps.cards import selectors as cards
from tenant_apps.cards import services as card_services
from tenant_apps.cards.models import CardPayment, CardsNotSetUp, SavedCard
from tenant_apps.clients.models import Customer
from tenant_apps.dashboard.ports import (
    SupplierBillNotFound,
    SupplierCard,
    SupplierCardSettings,
    SupplierCharge,
    SupplierCheckout,
    SupplierPayment,
)
from tenant_apps.instance.errors import DomainError

from .models import Reseller

NOT_FOUND = gettext_lazy("No such supplier bill.")


def _public():
    return schema_context(get_public_schema_name())


def _customer(schema_name: str) -> Customer:
    """The operator's customer record of the reseller running `schema_name` (call inside
    the public schema)."""
    reseller_id = (
        Reseller.objects.filter(schema_name=schema_name).values_list("pk", flat=True).first()
    )
    customer = Customer.objects.filter(reseller_id=reseller_id).first() if reseller_id else None
    if customer is None:
        raise SupplierBillNotFound(NOT_FOUND)
    return customer


def _invoice(customer: Customer, invoice_id: int) -> Invoice:
    invoice = (
        Invoice.objects.filter(pk=invoice_id, customer=customer)
        .exclude(status=Invoice.Status.DRAFT)
        .first()
    )
    if invoice is None:
        raise SupplierBillNotFound(NOT_FOUND)
    return invoice


def _card_payment(customer: Customer, card_payment_id: int) -> CardPayment:
    found = CardPayment.objects.filter(pk=card_payment_id, customer=customer).first()
    if found is None:
        raise SupplierBillNotFound(_("No such card payment."))
    return found


def _saved_card(customer: Customer, card_id: int) -> SavedCard:
    found = SavedCard.objects.filter(pk=card_id, customer=customer).first()
    if found is None:
        raise SupplierBillNotFound(_("No such saved card."))
    return found


def _active(schema_name: str) -> bool:
    return Reseller.objects.filter(schema_name=schema_name, status=Reseller.Status.ACTIVE).exists()


def _plain_card(card: SavedCard) -> SupplierCard:
    return SupplierCard(
        id=card.pk,
        payment_method_id=card.payment_method_id,
        brand=card.brand,
        last4=card.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        is_default=card.is_default,
    )


def _plain_cards(customer: Customer) -> tuple[SupplierCard, ...]:
    return tuple(_plain_card(card) for card in cards.saved_cards_for(customer))


class SupplierCardPayments:
    """`SupplierCards` answered from the operator's books (see the module docstring)."""

    def checkout(self, schema_name: str, *, invoice_id: int, actor: str) -> SupplierCheckout:
        with _public():
            customer = _customer(schema_name)
            invoice = _invoice(customer, invoice_id)
            setup = cards.card_setup()
            if not setup.ready:
                raise CardsNotSetUp(setup.reason)
            started = card_services.card_payment_start(invoice=invoice, actor=actor)
            card_payment = started.card_payment
            return SupplierCheckout(
                card_payment_id=card_payment.pk,
                is_open=card_payment.is_open,
                client_secret=started.client_secret,
                setup_client_secret=started.setup_client_secret,
                publishable_key=started.publishable_key,
                account_id=started.account_id,
                saved_cards=_plain_cards(customer),
            )

    def pay(
        self,
        schema_name: str,
        *,
        card_payment_id: int,
        payment_method_id: str,
        save_card: bool,
        actor: str,
    ) -> SupplierCharge:
        with _public():
            customer = _customer(schema_name)
            result = card_services.card_payment_pay(
                card_payment=_card_payment(customer, card_payment_id),
                payment_method_id=payment_method_id,
                save_card=save_card,
                actor=actor,
            )
            return SupplierCharge(
                card_payment_id=result.card_payment.pk,
                status=result.status,
                message=result.message,
                client_secret=result.client_secret,
                instance_active=_active(schema_name),
            )

    def payment(self, schema_name: str, *, card_payment_id: int, actor: str) -> SupplierPayment:
        with _public():
            customer = _customer(schema_name)
            card_payment = _card_payment(customer, card_payment_id)
            problem = ""
            try:
                card_payment = card_services.card_payment_refresh(
                    card_payment=card_payment, actor=actor
                )
            except DomainError as exc:
                problem = str(exc)
            invoice = Invoice.objects.get(pk=card_payment.invoice_id)
            active = _active(schema_name)
            return SupplierPayment(
                id=card_payment.pk,
                status=card_payment.status,
                status_label=card_payment.get_status_display(),
                message=card_payment.failure_message,
                amount=card_payment.amount,
                currency=card_payment.currency,
                is_open=card_payment.is_open,
                invoice_id=invoice.pk,
                invoice_number=invoice.number or "",
                invoice_status_label=invoice.get_status_display(),
                amount_due=invoice.amount_due,
                instance_active=active,
                problem=problem,
            )

    def settings(self, schema_name: str) -> SupplierCardSettings:
        with _public():
            customer = _customer(schema_name)
            setup = cards.card_setup()
            return SupplierCardSettings(
                ready=setup.ready,
                reason=setup.reason,
                auto_charge=cards.card_settings_for(customer).auto_charge_renewals,
                cards=_plain_cards(customer),
            )

    def auto_charge_set(self, schema_name: str, *, enabled: bool, actor: str) -> bool:
        with _public():
            row = card_services.card_settings_update(
                customer=_customer(schema_name), auto_charge_renewals=enabled, actor=actor
            )
            return row.auto_charge_renewals

    def card_make_default(self, schema_name: str, *, card_id: int, actor: str) -> SupplierCard:
        with _public():
            card = _saved_card(_customer(schema_name), card_id)
            return _plain_card(card_services.saved_card_set_default(card=card, actor=actor))

    def card_remove(self, schema_name: str, *, card_id: int, actor: str) -> tuple[str, bool]:
        with _public():
            card = _saved_card(_customer(schema_name), card_id)
            label = str(card)
            # True when it was the last card and automatic charging stopped with it.
            stopped = card_services.saved_card_remove(card=card, actor=actor)
            return label, bool(stopped)
