"""The catalog: products and add-ons, their prices per currency and cycle, and tax classes."""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy

from tenant_apps.instance.money import ZERO, validate_currency


class BillingCycle(models.TextChoices):
    MONTHLY = "monthly", gettext_lazy("Monthly")
    QUARTERLY = "quarterly", gettext_lazy("Quarterly")
    SEMIANNUAL = "semiannual", gettext_lazy("Semi-annually")
    ANNUAL = "annual", gettext_lazy("Annually")
    ONE_TIME = "one_time", gettext_lazy("One time")


# How many months one period of each cycle lasts (0: billed once, never renewed).
CYCLE_MONTHS = {
    BillingCycle.MONTHLY: 1,
    BillingCycle.QUARTERLY: 3,
    BillingCycle.SEMIANNUAL: 6,
    BillingCycle.ANNUAL: 12,
    BillingCycle.ONE_TIME: 0,
}


class TaxClass(models.Model):
    """Products in one class are taxed at the same rate in a given country."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = gettext_lazy("tax classes")

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    class Kind(models.TextChoices):
        PLAN = "plan", gettext_lazy("Plan")
        ADDON = "addon", gettext_lazy("Add-on")

    code = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PLAN)
    tax_class = models.ForeignKey(TaxClass, on_delete=models.PROTECT, related_name="products")
    is_active = models.BooleanField(
        default=True, help_text=gettext_lazy("Inactive products cannot be ordered")
    )
    position = models.PositiveIntegerField(default=0)
    # Capacity one unit of this product uses, by resource code (e.g. {"disk_gb": 10}).
    resources = models.JSONField(default=dict, blank=True)
    # Operator instance only: ordering it provisions a reseller instance whose allocations
    # are `resources`.
    is_reseller_plan = models.BooleanField(default=False)
    # Operator instance, reseller plans: price of each upstream escalation (empty: free).
    escalation_price = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(ZERO)],
    )
    # Add-ons: a service holds this add-on at most once (e.g. backups), or may hold it
    # several times (e.g. extra IP addresses).
    once_per_service = models.BooleanField(
        default=True, help_text=gettext_lazy("Add-ons: a service can have this add-on only once")
    )
    addons = models.ManyToManyField(
        "self",
        symmetrical=False,
        blank=True,
        related_name="parent_products",
        limit_choices_to={"kind": Kind.ADDON},
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class Price(models.Model):
    product = models.ForeignKey(Product, related_name="prices", on_delete=models.CASCADE)
    currency = models.CharField(max_length=3, validators=[validate_currency])
    cycle = models.CharField(max_length=12, choices=BillingCycle.choices)
    amount = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(ZERO)]
    )
    setup_fee = models.DecimalField(
        max_digits=12, decimal_places=2, default=ZERO, validators=[MinValueValidator(ZERO)]
    )

    class Meta:
        ordering = ["currency", "cycle"]
        constraints = [
            models.UniqueConstraint(
                fields=["product", "currency", "cycle"], name="one_price_per_cycle"
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gte=0, setup_fee__gte=0), name="price_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product} {self.amount} {self.currency} {self.get_cycle_display()}"
