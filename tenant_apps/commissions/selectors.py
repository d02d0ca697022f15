"""Reads of commissions: balances per currency, ledger and payout lists for staff and for
the partner's own portal page, and fetchers that check who may see a payout."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet, Sum
from django.utils.translation import gettext as _

from tenant_apps.billing.models import Invoice
from tenant_apps.clients.models import Customer
from tenant_apps.instance import clock
from tenant_apps.orders.models import Order
from tenant_apps.referrals.models import Referer, SignUp
from tenant_apps.referrals.selectors import partner_referers_for

from .models import CommissionEntry, CommissionRule, Payout

NOTHING = Decimal("0.00")  # shown as an amount, with its cents


@dataclass
class Balance:
    """A partner's money in one currency: pending (in the refund window), payable (matured,
    not paid out; negative after a reversal of commission already paid), paid out."""

    currency: str
    pending: Decimal = NOTHING
    payable: Decimal = NOTHING
    paid_out: Decimal = NOTHING
    earned: Decimal = NOTHING

    @property
    def balance(self) -> Decimal:
        return self.pending + self.payable


def balances_for(referers, *, today: datetime.date | None = None) -> dict[str, Balance]:
    """Balances of the given partners, summed, by currency (maturity computed by date: no
    task has to run for commission to become payable)."""
    today = today or clock.today()
    ids = [referer.pk for referer in referers]
    balances: dict[str, Balance] = {}

    def of(currency: str) -> Balance:
        return balances.setdefault(currency, Balance(currency))

    open_entries = (
        CommissionEntry.objects.filter(referer_id__in=ids, payout__isnull=True)
        .values("currency")
        .annotate(
            pending=Sum("amount", filter=Q(matures_on__gt=today)),
            payable=Sum("amount", filter=Q(matures_on__lte=today)),
        )
    )
    for row in open_entries:
        balance = of(row["currency"])
        balance.pending = row["pending"] or NOTHING
        balance.payable = row["payable"] or NOTHING
    for row in (
        CommissionEntry.objects.filter(referer_id__in=ids)
        .values("currency")
        .annotate(total=Sum("amount"))
    ):
        of(row["currency"]).earned = row["total"] or NOTHING
    for row in (
        Payout.objects.filter(referer_id__in=ids).values("currency").annotate(total=Sum("amount"))
    ):
        of(row["currency"]).paid_out = row["total"] or NOTHING
    return dict(sorted(balances.items()))


def entry_list(
    *,
    referer_id: int | None = None,
    currency: str | None = None,
    status: str | None = None,
    today: datetime.date | None = None,
) -> QuerySet[CommissionEntry]:
    """Ledger entries with their partner, invoice and payout; `status` is "pending",
    "payable" or "paid" (paid out)."""
    today = today or clock.today()
    entries = CommissionEntry.objects.select_related("referer", "invoice", "payout").order_by(
        "-created_at", "-id"
    )
    if referer_id is not None:
        entries = entries.filter(referer_id=referer_id)
    if currency:
        entries = entries.filter(currency=currency)
    if status == "pending":
        entries = entries.filter(payout__isnull=True, matures_on__gt=today)
    elif status == "payable":
        entries = entries.filter(payout__isnull=True, matures_on__lte=today)
    elif status == "paid":
        entries = entries.filter(payout__isnull=False)
    return entries


def payout_list(*, referer_id: int | None = None) -> QuerySet[Payout]:
    payouts = Payout.objects.select_related("referer").order_by("-paid_on", "-id")
    if referer_id is not None:
        payouts = payouts.filter(referer_id=referer_id)
    return payouts


def rule_list() -> QuerySet[CommissionRule]:
    return (
        CommissionRule.objects.select_related("product")
        .prefetch_related("tiers")
        .order_by("-is_active", "name", "id")
    )


def payable_partners(*, today: datetime.date | None = None) -> list[tuple[Referer, str, Decimal]]:
    """(partner, currency, payable amount) for every partner with more than 0 payable."""
    today = today or clock.today()
    rows = (
        CommissionEntry.objects.filter(payout__isnull=True, matures_on__lte=today)
        .values("referer", "currency")
        .annotate(total=Sum("amount"))
        .filter(total__gt=0)
        .order_by("referer", "currency")
    )
    referers = Referer.objects.in_bulk([row["referer"] for row in rows])
    return [(referers[row["referer"]], row["currency"], row["total"]) for row in rows]


def get_payout_for(user, payout_id: int) -> Payout:
    """The payout if `user` is staff, or the partner it paid (through its portal login);
    raises PermissionDenied or Payout.DoesNotExist (the same for someone else's payout, so
    its existence is not revealed)."""
    if not (user and user.is_authenticated):
        raise PermissionDenied(_("Sign in to see statements."))
    payouts = payout_list()
    if not user.is_instance_staff:
        payouts = payouts.filter(referer__in=partner_referers_for(user))
    return payouts.get(pk=payout_id)


def statement_entries(payout: Payout) -> QuerySet[CommissionEntry]:
    return (
        CommissionEntry.objects.filter(payout=payout)
        .select_related("invoice", "invoice_line")
        .order_by("created_at", "id")
    )


def conversions_of(referers) -> int:
    """Orders of these partners that turned into paid commission (at level 1)."""
    return (
        CommissionEntry.objects.filter(
            referer__in=[referer.pk for referer in referers], level=1, order__isnull=False
        )
        .values("order")
        .distinct()
        .count()
    )


@dataclass(frozen=True)
class CustomerReferral:
    referer: Referer
    how: str  # e.g. "order #12 (Referral link (?ref=))" or "sign-up"


def customer_referral(*, reseller_id: int | None = None, customer_id: int | None = None):
    """Who referred a customer (in the operator's instance: a reseller, by `reseller_id`):
    the referer of its first order that has one, else the partner of its sign-up; None."""
    customers = Customer.objects.all()
    if reseller_id is not None:
        customers = customers.filter(reseller_id=reseller_id)
    elif customer_id is not None:
        customers = customers.filter(pk=customer_id)
    else:
        return None
    customer = customers.first()
    if customer is None:
        return None
    order = (
        Order.objects.filter(customer=customer, referer__isnull=False)
        .select_related("referer")
        .order_by("created_at", "id")
        .first()
    )
    if order is not None:
        return CustomerReferral(
            order.referer, f"order #{order.pk} ({order.get_referer_source_display()})"
        )
    signup = SignUp.objects.filter(customer=customer).select_related("referer").first()
    if signup is not None:
        return CustomerReferral(signup.referer, f"sign-up ({signup.get_source_display()})")
    return None


def invoices_touched_since(since) -> list[int]:
    """Ids of invoices paid, credited or whose payment was reversed since `since`: what the
    sweep re-syncs in case an announcement was lost (a crash between commit and handler)."""
    return sorted(
        set(
            Invoice.objects.filter(kind=Invoice.Kind.INVOICE)
            .filter(
                Q(paid_at__gte=since)
                | Q(credit_notes__issued_at__gte=since)
                | Q(allocations__payment__reversed_at__gte=since)
            )
            .values_list("pk", flat=True)
        )
    )
