"""Commission rules, the commission ledger and payouts.

The ledger is append-only: an entry is never edited. What a partner earned on one invoice
line at one level is the sum of its entries for that (line, partner, level); a payment,
refund, credit note or reversal posts the difference between what the rules give now and
that sum — a positive accrual or a negative reversal. An entry is pending until its
`matures_on` (the refund window) and payable after; a payout settles the payable entries
it pays (`payout`). A reversal after a payout is a new negative entry: the partner's
balance goes below zero and the next payout nets it.

Amounts are in the invoice's currency; balances are kept per currency.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy

from tenant_apps.instance.money import ZERO


class CommissionRule(models.Model):
    """What a partner earns on a product (or, without a product, on everything)."""

    class Kind(models.TextChoices):
        PERCENT = "percent", gettext_lazy("Percentage of the net amount paid")
        FIXED = "fixed", gettext_lazy("Fixed amount per invoice line")

    class Duration(models.TextChoices):
        FIRST_INVOICE = "first_invoice", gettext_lazy("First invoice only")
        RECURRING = "recurring", gettext_lazy("Recurring invoices")

    name = models.CharField(max_length=120)
    product = models.ForeignKey(
        "catalog.Product",
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.PROTECT,
        help_text=gettext_lazy("Empty: every product without a rule of its own"),
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PERCENT)
    rate = models.DecimalField(
        max_digits=6,
        decimal_places=3,
        default=ZERO,
        help_text=gettext_lazy("Percent, for percentage rules"),
    )
    amount = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=ZERO,
        help_text=gettext_lazy("For fixed-amount rules"),
    )
    currency = models.CharField(
        max_length=3,
        blank=True,
        help_text=gettext_lazy("Of a fixed amount (it applies to that currency only)"),
    )
    duration = models.CharField(max_length=14, choices=Duration.choices, default=Duration.RECURRING)
    months = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text=gettext_lazy(
            "Recurring: for this many months from the first invoice (empty: always)"
        ),
    )
    second_level_rate = models.DecimalField(
        max_digits=6,
        decimal_places=3,
        default=ZERO,
        help_text=gettext_lazy(
            "Percent of the net amount paid for the partner's own referer (0: none)"
        ),
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["product"],
                condition=models.Q(is_active=True, product__isnull=False),
                name="one_active_rule_per_product",
            ),
            models.UniqueConstraint(
                fields=["is_active"],
                condition=models.Q(is_active=True, product__isnull=True),
                name="one_active_default_rule",
            ),
            models.CheckConstraint(
                condition=models.Q(rate__gte=0, rate__lte=100, amount__gte=0),
                name="rule_terms_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(second_level_rate__gte=0, second_level_rate__lte=100),
                name="rule_second_level_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CommissionTier(models.Model):
    """Volume tier: from its `min_conversions`-th credited order on, a partner earns this
    rate (or amount) instead of the rule's own."""

    rule = models.ForeignKey(CommissionRule, related_name="tiers", on_delete=models.CASCADE)
    min_conversions = models.PositiveIntegerField()
    rate = models.DecimalField(max_digits=6, decimal_places=3, default=ZERO)
    amount = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)

    class Meta:
        ordering = ["min_conversions"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "min_conversions"], name="one_tier_per_volume"),
            models.CheckConstraint(
                condition=models.Q(
                    rate__gte=0, rate__lte=100, amount__gte=0, min_conversions__gte=1
                ),
                name="tier_terms_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"from {self.min_conversions}"


class Payout(models.Model):
    """Money the instance paid a partner (bank transfer, or credit on its customer account).

    A payout is the instance paying its partner, never an invoice in the partner's name;
    its statement lists the ledger entries it settled."""

    class Method(models.TextChoices):
        BANK_TRANSFER = "bank_transfer", gettext_lazy("Bank transfer")
        ACCOUNT_CREDIT = "account_credit", gettext_lazy("Credit on the partner's customer account")

    referer = models.ForeignKey(
        "referrals.Referer", related_name="payouts", on_delete=models.PROTECT
    )
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    method = models.CharField(max_length=16, choices=Method.choices)
    reference = models.CharField(max_length=200, blank=True)
    paid_on = models.DateField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+", on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-paid_on", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="payout_positive")
        ]

    def __str__(self) -> str:
        return f"Payout #{self.pk}: {self.amount} {self.currency}"


class CommissionEntry(models.Model):
    class Kind(models.TextChoices):
        ACCRUAL = "accrual", gettext_lazy("Earned")
        REVERSAL = "reversal", gettext_lazy("Reversed")

    referer = models.ForeignKey(
        "referrals.Referer", related_name="commission_entries", on_delete=models.PROTECT
    )
    level = models.PositiveSmallIntegerField(
        default=1, help_text=gettext_lazy("1: the partner; 2: its referer")
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    invoice = models.ForeignKey("billing.Invoice", related_name="+", on_delete=models.PROTECT)
    invoice_line = models.ForeignKey(
        "billing.InvoiceLine", related_name="+", on_delete=models.PROTECT
    )
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, related_name="+", on_delete=models.SET_NULL
    )
    rule = models.ForeignKey(
        CommissionRule, null=True, blank=True, related_name="entries", on_delete=models.SET_NULL
    )
    # The terms applied, frozen at the first accrual of this (line, partner, level), so a
    # later refund reverses at the rate that was earned, whatever the rule or tier is now.
    terms_kind = models.CharField(max_length=10, choices=CommissionRule.Kind.choices)
    terms_value = models.DecimalField(max_digits=12, decimal_places=3)
    # The net amount (tax and credit notes taken off) the line's commission stands on now.
    base = models.DecimalField(max_digits=14, decimal_places=2)
    amount = models.DecimalField(
        max_digits=14, decimal_places=2, help_text=gettext_lazy("Negative: reversed")
    )
    currency = models.CharField(max_length=3)
    # Revision of this (line, partner, level): 1, 2, … A sync replayed concurrently would
    # post the same revision twice; the unique constraint refuses the second.
    revision = models.PositiveIntegerField()
    matures_on = models.DateField(help_text=gettext_lazy("Pending until this day, then payable"))
    payout = models.ForeignKey(
        Payout, null=True, blank=True, related_name="entries", on_delete=models.PROTECT
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = gettext_lazy("commission entries")
        constraints = [
            models.UniqueConstraint(
                fields=["invoice_line", "referer", "level", "revision"],
                name="one_commission_revision",
            ),
            models.CheckConstraint(condition=~models.Q(amount=0), name="commission_not_zero"),
        ]
        indexes = [
            models.Index(fields=["referer", "currency", "payout"], name="commission_by_partner"),
            models.Index(fields=["invoice"], name="commission_by_invoice"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} {self.currency}"

    def is_payable_on(self, day) -> bool:
        return self.payout_id is None and self.matures_on <= day
