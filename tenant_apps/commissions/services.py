"""Writes of commissions: rules, the ledger sync after billing events, payouts, and the
correction of an order's referer.

The ledger sync (`commission_sync_invoice`) computes, for each line of one invoice, what the
rules give now — nothing unless the invoice is paid; on a paid invoice the line's net
amount (tax excluded) less what credit notes took from it — and posts the difference from
what the ledger already holds for (line, partner, level). Running it twice posts nothing
the second time, so replays of a payment webhook or a billing run accrue once; it runs
under the invoice's row lock, and a revision number per (line, partner, level) with a
unique constraint refuses a duplicate even if two syncs raced past the lock.

Lock order (see `tenant_apps.instance.locking`): the sync takes only the Invoice; a payout
takes the Referer, then its ledger entries, then (account credit) the Customer.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from tenant_apps.billing import services as billing
from tenant_apps.billing.models import Invoice, InvoiceLine
from tenant_apps.billing.selectors import credited_per_line
from tenant_apps.catalog.models import Product
from tenant_apps.instance import audit, clock
from tenant_apps.instance.money import ZERO, round_money, to_decimal, validate_currency
from tenant_apps.orders.models import Order
from tenant_apps.referrals.models import Referer, SignUp
from tenant_apps.referrals.selectors import programme_settings

from .models import CommissionEntry, CommissionRule, CommissionTier, Payout
from .selectors import invoices_touched_since

COMMISSION_POSTED = audit.event_type("commission.posted", gettext_noop("Commission ledger updated"))
RULE_CREATED = audit.event_type("commission_rule.created", gettext_noop("Commission rule added"))
RULE_UPDATED = audit.event_type("commission_rule.updated", gettext_noop("Commission rule changed"))
PAYOUT_RECORDED = audit.event_type(
    "commission.payout_recorded", gettext_noop("Commission payout recorded")
)
ORDER_REFERER_CORRECTED = audit.event_type(
    "order.referer_corrected", gettext_noop("Order referer corrected")
)

_RULE_FIELDS = (
    "name",
    "product",
    "kind",
    "rate",
    "amount",
    "currency",
    "duration",
    "months",
    "second_level_rate",
    "is_active",
)
HUNDRED = Decimal(100)


# --------------------------------------------------------------------------------------
# Rules


def _clean_rule(values: dict) -> dict:
    errors: dict[str, list[str]] = {}
    values["name"] = (values.get("name") or "").strip()
    if not values["name"]:
        errors["name"] = [gettext("Name the rule.")]
    elif len(values["name"]) > 120:
        errors["name"] = [gettext("Keep the name to 120 characters or fewer.")]
    if values.get("kind") not in CommissionRule.Kind.values:
        errors["kind"] = [gettext("Choose a percentage or a fixed amount.")]
    if values.get("duration") not in CommissionRule.Duration.values:
        errors["duration"] = [gettext("Choose the first invoice only or recurring invoices.")]
    if values.get("product") is not None and not isinstance(values["product"], Product):
        errors["product"] = [gettext("Choose a product of the catalog.")]
    for name in ("rate", "second_level_rate"):
        try:
            values[name] = to_decimal(values.get(name) or ZERO, field=name)
        except ValidationError:
            errors[name] = [gettext("Enter a number.")]
            continue
        if not ZERO <= values[name] <= HUNDRED:
            errors[name] = [gettext("Enter a percentage between 0 and 100.")]
    try:
        values["amount"] = to_decimal(values.get("amount") or ZERO, field="amount")
    except ValidationError:
        errors["amount"] = [gettext("Enter an amount.")]
    else:
        if values["amount"] < 0:
            errors["amount"] = [gettext("The amount cannot be negative.")]
    currency = (values.get("currency") or "").strip().upper()
    if values.get("kind") == CommissionRule.Kind.FIXED:
        try:
            currency = validate_currency(currency)
        except ValidationError:
            errors["currency"] = [gettext("A fixed amount needs its currency (e.g. EUR).")]
        if "amount" not in errors and values["amount"] <= 0:
            errors["amount"] = [gettext("Enter the fixed amount a partner earns.")]
    elif "rate" not in errors and values["rate"] <= 0:
        errors["rate"] = [gettext("Enter the percentage a partner earns.")]
    values["currency"] = currency if values.get("kind") == CommissionRule.Kind.FIXED else ""
    months = values.get("months")
    if values.get("duration") == CommissionRule.Duration.FIRST_INVOICE:
        values["months"] = None
    elif months not in (None, ""):
        try:
            months = int(months)
        except (TypeError, ValueError):
            months = 0
        if not 1 <= months <= 600:
            errors["months"] = [
                gettext("Enter a number of months from 1, or leave it empty for always.")
            ]
        values["months"] = months
    else:
        values["months"] = None
    if errors:
        raise ValidationError(errors)
    return values


def _clean_tiers(tiers, kind: str) -> list[tuple[int, Decimal]]:
    cleaned: list[tuple[int, Decimal]] = []
    for tier in tiers or ():
        try:
            volume = int(tier["min_conversions"])
            value = to_decimal(tier["value"], field="tiers")
        except (KeyError, TypeError, ValueError, ValidationError):
            raise ValidationError(
                {"tiers": [gettext("Each tier needs a volume and a value.")]}
            ) from None
        if volume < 1 or value < 0 or (kind == CommissionRule.Kind.PERCENT and value > HUNDRED):
            raise ValidationError(
                {"tiers": [gettext("Tiers start at 1 order; percentages are between 0 and 100.")]}
            )
        cleaned.append((volume, value))
    if len({volume for volume, _ in cleaned}) != len(cleaned):
        raise ValidationError({"tiers": [gettext("Give each volume one tier.")]})
    return sorted(cleaned)


def _save_rule(rule: CommissionRule) -> None:
    try:
        with transaction.atomic():
            rule.save()
    except IntegrityError as exc:
        which = f"“{rule.product}”" if rule.product_id else "every product"
        raise ValidationError(
            {
                "product": [
                    gettext("An active rule for %(which)s exists already: change that one.")
                    % {"which": which}
                ]
            }
        ) from exc


def _set_tiers(rule: CommissionRule, tiers: list[tuple[int, Decimal]]) -> None:
    rule.tiers.all().delete()
    field = "rate" if rule.kind == CommissionRule.Kind.PERCENT else "amount"
    CommissionTier.objects.bulk_create(
        [CommissionTier(rule=rule, min_conversions=v, **{field: value}) for v, value in tiers]
    )


def _tier_snapshot(rule: CommissionRule) -> list[list]:
    field = "rate" if rule.kind == CommissionRule.Kind.PERCENT else "amount"
    return [[tier.min_conversions, str(getattr(tier, field))] for tier in rule.tiers.all()]


@transaction.atomic
def commission_rule_create(*, tiers=(), actor=None, **fields) -> CommissionRule:
    """Add a rule. `tiers`: [{"min_conversions": 10, "value": "15"}, …] (percent or amount,
    as the rule's kind)."""
    values = _clean_rule({name: fields.get(name) for name in _RULE_FIELDS if name != "is_active"})
    cleaned_tiers = _clean_tiers(tiers, values["kind"])
    rule = CommissionRule(**values)
    _save_rule(rule)
    _set_tiers(rule, cleaned_tiers)
    audit.audit_record(
        RULE_CREATED,
        actor=actor,
        obj=rule,
        changes=audit.diff({}, audit.snapshot(rule, _RULE_FIELDS), created=True),
        detail={"tiers": _tier_snapshot(rule)},
    )
    return rule


@transaction.atomic
def commission_rule_update(
    *, rule: CommissionRule, tiers=None, actor=None, **fields
) -> CommissionRule:
    """Change a rule. Commission already earned keeps the terms it was earned at."""
    rule = CommissionRule.objects.select_for_update().get(pk=rule.pk)
    before = audit.snapshot(rule, _RULE_FIELDS)
    tiers_before = _tier_snapshot(rule)
    current = {name: getattr(rule, name) for name in _RULE_FIELDS}
    current.update({name: value for name, value in fields.items() if name in _RULE_FIELDS})
    is_active = bool(current.pop("is_active"))
    values = _clean_rule(current)
    for name, value in values.items():
        setattr(rule, name, value)
    rule.is_active = is_active
    _save_rule(rule)
    if tiers is not None:
        _set_tiers(rule, _clean_tiers(tiers, rule.kind))
    changes = audit.diff(before, audit.snapshot(rule, _RULE_FIELDS))
    if _tier_snapshot(rule) != tiers_before:
        changes["tiers"] = [tiers_before, _tier_snapshot(rule)]
    audit.audit_record(RULE_UPDATED, actor=actor, obj=rule, changes=changes)
    return rule


# --------------------------------------------------------------------------------------
# Ledger sync


@dataclass(frozen=True)
class Terms:
    kind: str
    value: Decimal
    rule_id: int | None

    def commission(self, base: Decimal, charged: Decimal, currency: str) -> Decimal:
        if base <= 0:
            return ZERO
        if self.kind == CommissionRule.Kind.PERCENT:
            return round_money(base * self.value / HUNDRED, currency)
        # A fixed amount per line, reduced in proportion when part of the line is credited.
        if charged <= 0:
            return ZERO
        return round_money(self.value * min(base / charged, Decimal(1)), currency)


@dataclass
class _Held:
    total: Decimal = ZERO
    revisions: int = 0
    terms: Terms | None = None
    order_id: int | None = None
    latest_maturity: datetime.date | None = None


def _rule_for(product_id: int) -> CommissionRule | None:
    rules = list(
        CommissionRule.objects.filter(is_active=True)
        .filter(Q(product_id=product_id) | Q(product__isnull=True))
        .prefetch_related("tiers")
    )
    # A product's own rule wins over the rule for every product.
    rules.sort(key=lambda rule: rule.product_id is None)
    return rules[0] if rules else None


def _first_invoice_of(line: InvoiceLine) -> tuple[int, datetime.date] | None:
    first = (
        InvoiceLine.objects.filter(service_id=line.service_id, invoice__kind=Invoice.Kind.INVOICE)
        .exclude(invoice__status__in=[Invoice.Status.DRAFT, Invoice.Status.VOID])
        .order_by("invoice__issue_date", "invoice_id")
        .values_list("invoice_id", "invoice__issue_date")
        .first()
    )
    return first


def _conversions(referer: Referer, order_id: int | None) -> int:
    """How many orders this partner has been credited for, counting this one."""
    orders = set(
        CommissionEntry.objects.filter(referer=referer, level=1, order__isnull=False)
        .values_list("order_id", flat=True)
        .distinct()
    )
    if order_id is not None:
        orders.add(order_id)
    return max(len(orders), 1)


def _terms_for(
    rule: CommissionRule, line: InvoiceLine, invoice: Invoice, referer: Referer, order_id
) -> Terms | None:
    """The rule's terms for a first accrual on this line, or None when it does not apply."""
    first = _first_invoice_of(line)
    if first is None:
        return None
    first_invoice_id, first_date = first
    if rule.duration == CommissionRule.Duration.FIRST_INVOICE:
        if first_invoice_id != invoice.pk:
            return None
    elif rule.months is not None and invoice.pk != first_invoice_id:
        if invoice.issue_date >= first_date + relativedelta(months=rule.months):
            return None
    if rule.kind == CommissionRule.Kind.FIXED and rule.currency != invoice.currency:
        return None  # a fixed amount is in one currency; never converted
    value = rule.rate if rule.kind == CommissionRule.Kind.PERCENT else rule.amount
    tiers = list(rule.tiers.all())
    if tiers:
        volume = _conversions(referer, order_id)
        reached = [tier for tier in tiers if tier.min_conversions <= volume]
        if reached:
            tier = reached[-1]
            value = tier.rate if rule.kind == CommissionRule.Kind.PERCENT else tier.amount
    return Terms(rule.kind, value, rule.pk)


def _credited_partner(line: InvoiceLine, invoice: Invoice) -> tuple[Referer | None, int | None]:
    """The partner a line's sale is credited to: its order's referer, else the partner the
    customer signed up through. Never the customer itself."""
    service = line.service
    order: Order | None = service.order_item.order if service.order_item_id else None
    referer = order.referer if order is not None else None
    if referer is None:
        signup = SignUp.objects.select_related("referer").filter(customer=invoice.customer_id)
        found = signup.first()
        referer = found.referer if found else None
    if referer is not None and referer.customer_id == invoice.customer_id:
        return None, None
    return referer, order.pk if order is not None else None


def _held(invoice: Invoice) -> dict[tuple[int, int, int], _Held]:
    held: dict[tuple[int, int, int], _Held] = defaultdict(_Held)
    entries = CommissionEntry.objects.filter(invoice=invoice).order_by("revision", "id")
    for entry in entries:
        state = held[(entry.invoice_line_id, entry.referer_id, entry.level)]
        state.total += entry.amount
        state.revisions = max(state.revisions, entry.revision)
        if state.terms is None:
            state.terms = Terms(entry.terms_kind, entry.terms_value, entry.rule_id)
            state.order_id = entry.order_id
        if entry.payout_id is None and (
            state.latest_maturity is None or entry.matures_on > state.latest_maturity
        ):
            state.latest_maturity = entry.matures_on
    return held


def partners_exist() -> bool:
    """Whether this instance has any partner: without one no sale earns a commission and
    the ledger holds no entry to reverse (entries name their partner, who is never deleted)."""
    return Referer.objects.exists()


@transaction.atomic
def commission_sync_invoice(
    *, invoice_id: int, today: datetime.date | None = None
) -> list[CommissionEntry]:
    """Bring the ledger in line with one invoice; returns the entries posted (none when it
    already was). Safe to call any number of times."""
    invoice = Invoice.objects.select_for_update().filter(pk=invoice_id).first()
    if invoice is None or invoice.kind != Invoice.Kind.INVOICE:
        return []
    today = today or clock.today()
    held = _held(invoice)
    targets: dict[tuple[int, int, int], tuple[Decimal, Decimal, Terms, int | None]] = {}
    paid = invoice.status == Invoice.Status.PAID
    lines = list(
        invoice.lines.filter(service__isnull=False).select_related(
            "service__order_item__order__referer__referred_by"
        )
    )
    if not lines and not held:
        return []
    credited = credited_per_line(invoice, basis="net_amount")
    rules: dict[int, CommissionRule | None] = {}
    for line in lines:
        base = max(line.net_amount - credited.get(line.pk, ZERO), ZERO) if paid else ZERO
        if base <= 0:
            continue
        referer, order_id = _credited_partner(line, invoice)
        if referer is None:
            continue
        key = (line.pk, referer.pk, 1)
        terms = held[key].terms if key in held else None
        if terms is None and referer.is_active:
            if line.service.product_id not in rules:
                rules[line.service.product_id] = _rule_for(line.service.product_id)
            rule = rules[line.service.product_id]
            terms = _terms_for(rule, line, invoice, referer, order_id) if rule else None
        if terms is None:
            continue
        amount = terms.commission(base, line.net_amount, invoice.currency)
        targets[key] = (amount, base, terms, order_id)
        upline = referer.referred_by
        if upline is None:
            continue
        key2 = (line.pk, upline.pk, 2)
        terms2 = held[key2].terms if key2 in held else None
        if terms2 is None and upline.is_active:
            rule = CommissionRule.objects.filter(pk=terms.rule_id).first()
            if rule is not None and rule.second_level_rate > 0:
                terms2 = Terms(CommissionRule.Kind.PERCENT, rule.second_level_rate, rule.pk)
        if terms2 is not None:
            amount2 = terms2.commission(base, line.net_amount, invoice.currency)
            targets[key2] = (amount2, base, terms2, order_id)
    maturity = datetime.timedelta(days=programme_settings().maturity_days)
    posted: list[CommissionEntry] = []
    for key in sorted(set(held) | set(targets)):
        state = held.get(key) or _Held()
        target, base, terms, order_id = targets.get(key, (ZERO, ZERO, state.terms, state.order_id))
        delta = target - state.total
        if delta == 0:
            continue
        line_id, referer_id, level = key
        if delta > 0:
            matures_on = today + maturity
        else:
            # A reversal matures with what it reverses: still pending, it only lowers the
            # pending amount; once that was payable (or paid out), it counts at once.
            matures_on = max(today, state.latest_maturity or today)
        posted.append(
            CommissionEntry(
                referer_id=referer_id,
                level=level,
                kind=(CommissionEntry.Kind.ACCRUAL if delta > 0 else CommissionEntry.Kind.REVERSAL),
                invoice=invoice,
                invoice_line_id=line_id,
                order_id=order_id,
                rule_id=terms.rule_id,
                terms_kind=terms.kind,
                terms_value=terms.value,
                base=base,
                amount=delta,
                currency=invoice.currency,
                revision=state.revisions + 1,
                matures_on=matures_on,
            )
        )
    if posted:
        CommissionEntry.objects.bulk_create(posted)
        audit.audit_record(
            COMMISSION_POSTED,
            actor=None,  # the system: billing's event, not a person
            obj=invoice,
            detail={
                "entries": [
                    {
                        "referer": entry.referer_id,
                        "level": entry.level,
                        "line": entry.invoice_line_id,
                        "amount": entry.amount,
                    }
                    for entry in posted
                ],
                "currency": invoice.currency,
                "status": invoice.status,
            },
        )
    return posted


def commission_sweep(*, hours: int = 48) -> int:
    """Re-sync every invoice touched in the last `hours` (idempotent: posts only what a lost
    announcement left out); returns how many entries it posted."""
    since = timezone.now() - datetime.timedelta(hours=hours)
    return sum(
        len(commission_sync_invoice(invoice_id=invoice_id))
        for invoice_id in invoices_touched_since(since)
    )


def commission_sync_order(*, order: Order) -> list[CommissionEntry]:
    """Sync every invoice that billed this order's services (after its referer changed)."""
    invoice_ids = sorted(
        set(
            InvoiceLine.objects.filter(
                service__order_item__order=order, invoice__kind=Invoice.Kind.INVOICE
            ).values_list("invoice_id", flat=True)
        )
    )
    posted: list[CommissionEntry] = []
    for invoice_id in invoice_ids:
        posted += commission_sync_invoice(invoice_id=invoice_id)
    return posted


@transaction.atomic
def order_referer_correct(
    *, order: Order, referer: Referer | None, reason: str, actor=None
) -> Order:
    """Staff set or correct the partner an order is credited to (audit row with the old and
    new partner). Commission already posted on its invoices moves with it: reversed for the
    old partner, accrued for the new one."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [gettext("Say why the referer changes.")]})
    if referer is not None and not referer.is_active:
        raise ValidationError(
            {
                "referer": [
                    gettext("The referer code “%(code)s” is no longer active.")
                    % {"code": referer.code}
                ]
            }
        )
    locked = (
        Order.objects.select_for_update(of=("self",)).select_related("referer").get(pk=order.pk)
    )
    if referer is not None and referer.customer_id == locked.customer_id:
        raise ValidationError(
            {"referer": [gettext("A customer cannot be credited with its own order.")]}
        )
    before_code = locked.referer.code if locked.referer else None
    before_source = locked.referer_source
    if (referer.pk if referer else None) == locked.referer_id:
        raise ValidationError(
            {"referer": [gettext("The order is already credited to that referer.")]}
        )
    locked.referer = referer
    locked.referer_source = Order.RefererSource.STAFF if referer else ""
    locked.save(update_fields=["referer", "referer_source"])
    audit.audit_record(
        ORDER_REFERER_CORRECTED,
        actor=actor,
        obj=locked,
        changes={
            "referer": [before_code, referer.code if referer else None],
            "referer_source": [before_source, locked.referer_source],
        },
        detail={"reason": reason[:300]},
    )
    commission_sync_order(order=locked)  # Order before Invoice: the documented lock order
    return locked


# --------------------------------------------------------------------------------------
# Payouts


@transaction.atomic
def payout_record(
    *,
    referer: Referer,
    currency: str,
    method: str,
    reference: str = "",
    paid_on: datetime.date | None = None,
    actor=None,
) -> Payout:
    """Record paying a partner everything payable in one currency on `paid_on`: the matured
    entries not yet paid out (reversals included, which is how a negative balance is netted).
    Refused when that is not more than zero. An account-credit payout adds the amount to the
    partner's customer account (billing's credit ledger)."""
    paid_on = paid_on or clock.today()
    try:
        currency = validate_currency(currency)
    except ValidationError:
        raise ValidationError({"currency": [gettext("Choose a currency (e.g. EUR).")]}) from None
    if method not in Payout.Method.values:
        raise ValidationError({"method": [gettext("Choose bank transfer or account credit.")]})
    if paid_on > clock.today():
        raise ValidationError({"paid_on": [gettext("A payout cannot be dated in the future.")]})
    locked = (
        Referer.objects.select_for_update(of=("self",))
        .select_related("customer")
        .get(pk=referer.pk)
    )
    entries = list(
        CommissionEntry.objects.select_for_update()
        .filter(referer=locked, currency=currency, payout__isnull=True, matures_on__lte=paid_on)
        .order_by("pk")
    )
    total = sum((entry.amount for entry in entries), ZERO)
    if total <= 0:
        raise ValidationError(
            {
                "amount": [
                    gettext("%(name)s has %(total)s %(currency)s payable: nothing to pay out.")
                    % {"name": locked.name, "total": total, "currency": currency}
                ]
            }
        )
    if method == Payout.Method.ACCOUNT_CREDIT:
        customer = locked.customer
        if customer is None:
            raise ValidationError(
                {
                    "method": [
                        gettext("%(name)s has no customer account: pay by bank transfer.")
                        % {"name": locked.name}
                    ]
                }
            )
        if customer.currency != currency:
            raise ValidationError(
                {
                    "method": [
                        gettext("%(customer)s is billed in %(currency)s, not %(currency2)s.")
                        % {
                            "customer": customer,
                            "currency": customer.currency,
                            "currency2": currency,
                        }
                    ]
                }
            )
    payout = Payout.objects.create(
        referer=locked,
        amount=total,
        currency=currency,
        method=method,
        reference=(reference or "").strip()[:200],
        paid_on=paid_on,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    CommissionEntry.objects.filter(pk__in=[entry.pk for entry in entries]).update(payout=payout)
    if method == Payout.Method.ACCOUNT_CREDIT:
        billing.customer_credit_adjust(
            customer=locked.customer,
            amount=total,
            note=f"Commission payout #{payout.pk} to {locked.name}",
            actor=actor,
        )
    audit.audit_record(
        PAYOUT_RECORDED,
        actor=actor,
        obj=locked,
        detail={
            "payout": payout.pk,
            "amount": total,
            "currency": currency,
            "method": method,
            "entries": len(entries),
        },
    )
    return payout
