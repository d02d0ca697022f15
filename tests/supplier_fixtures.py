"""A reseller that owes the operator: in the operator's books (public schema) the reseller
is a customer with a reseller plan, its first bill is unpaid, and the plan is suspended for
non-payment — which, through billing (tenancy.reseller_plans), suspends the instance with
`held_by_billing`. Used inside a rolled-back test and, committed, by the browser test
(which then calls `forget_debt` to put everything back)."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django_tenants.utils import schema_context

from shared_apps.tenancy import routing
from shared_apps.tenancy.models import Allocation, Reseller
from tenant_apps.billing.models import (
    CreditEntry,
    Invoice,
    InvoiceLine,
    NumberSequence,
    Payment,
    PaymentAllocation,
    TaxRate,
)
from tenant_apps.cards.models import CardPayment, CardSettings, SavedCard, StripeCustomer
from tenant_apps.catalog.models import Price, Product, TaxClass
from tenant_apps.clients.models import Customer
from tenant_apps.orders import services as orders
from tenant_apps.orders.models import Order, Service
from tests.billing_fixtures import make_customer, make_product

DAY0 = datetime.date.today() - datetime.timedelta(days=40)
PLAN_PRICE = "100.00"


def owe_and_hold(slug: str, *, today: datetime.date = DAY0) -> dict:
    """Make reseller `slug` owe its first plan bill and be suspended for it (see the module
    docstring); returns the ids of what was made, and what to restore."""
    with schema_context("public"):
        reseller = Reseller.objects.get(slug=slug)
        state = {
            "slug": slug,
            "sequences": dict(NumberSequence.objects.values_list("pk", "next_number")),
            "tax_rates": set(TaxRate.objects.values_list("pk", flat=True)),
        }
        TaxRate.objects.get_or_create(
            country="FR",
            tax_class=TaxClass.objects.get(code="standard"),
            defaults={"rate": Decimal("20")},
        )
        # The plan sells what the reseller has now: reconciling leaves its allocations be.
        resources = dict(
            Allocation.objects.filter(reseller=reseller).values_list("resource_id", "quantity")
        )
        plan = make_product(
            f"{slug}-plan", amount=PLAN_PRICE, is_reseller_plan=True, resources=resources
        )
        customer = make_customer(
            f"{reseller.name} Hosting",
            kind="company",
            company_name=reseller.legal_name,
            email=f"accounts@{slug}.test",
            reseller_id=reseller.pk,
        )
        order = orders.order_place(
            customer=customer, items=[{"product": plan, "cycle": "monthly", "label": slug}]
        )
        invoice = orders.order_accept(order=order, today=today)
        service = Service.objects.get(customer=customer)
        orders.service_suspend(
            service=service,
            reason=f"Invoice {invoice.number} unpaid",
            nonpayment=True,
            actor="billing",
        )
        state.update(
            reseller=reseller.pk,
            customer=customer.pk,
            invoice=invoice.pk,
            service=service.pk,
            product=plan.pk,
        )
    return state


def forget_debt(state: dict) -> None:
    """Undo `owe_and_hold` in committed data: the reseller active again, the operator's
    books as they were (its numbering counters too: later tests read the numbers)."""
    # The reseller first: whatever fails below, later tests find it active.
    Reseller.objects.filter(pk=state["reseller"]).update(
        status=Reseller.Status.ACTIVE, status_reason="", held_by_billing=False
    )
    routing.invalidate()
    with schema_context("public"):
        customer = state["customer"]
        CardPayment.objects.filter(customer_id=customer).delete()
        SavedCard.objects.filter(customer_id=customer).delete()
        CardSettings.objects.filter(customer_id=customer).delete()
        StripeCustomer.objects.filter(customer_id=customer).delete()
        PaymentAllocation.objects.filter(payment__customer_id=customer).delete()
        CreditEntry.objects.filter(customer_id=customer).delete()
        Payment.objects.filter(customer_id=customer).delete()
        InvoiceLine.objects.filter(invoice__customer_id=customer).delete()
        Invoice.objects.filter(customer_id=customer).delete()
        Service.objects.filter(customer_id=customer).delete()
        Order.objects.filter(customer_id=customer).delete()
        Customer.objects.filter(pk=customer).delete()
        Price.objects.filter(product_id=state["product"]).delete()
        Product.objects.filter(pk=state["product"]).delete()
        TaxRate.objects.exclude(pk__in=state["tax_rates"]).delete()
        NumberSequence.objects.exclude(pk__in=state["sequences"]).delete()
        for pk, next_number in state["sequences"].items():
            NumberSequence.objects.filter(pk=pk).update(next_number=next_number)
