"""Resellers (one PostgreSQL schema each), their domains, and what the operator allocated."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy
from django_tenants.models import DomainMixin, TenantMixin

from tenant_apps.instance.pipelines import Pipeline

from .naming import validate_slug


class Reseller(TenantMixin):
    """A reseller and its isolated instance. Schemas are built by `provisioning`, never on save."""

    class Status(models.TextChoices):
        ACTIVE = "active", gettext_lazy("Active")
        SUSPENDED = "suspended", gettext_lazy("Suspended")
        TERMINATED = "terminated", gettext_lazy("Terminated")

    # Legal lifecycle: terminated is final; only delete (after an export) goes further.
    # Moves go through `tenant_apps.instance.pipelines.transition` in tenancy's services.
    pipeline = Pipeline(
        Status,
        {
            Status.ACTIVE: {Status.SUSPENDED, Status.TERMINATED},
            Status.SUSPENDED: {Status.ACTIVE, Status.TERMINATED},
            Status.TERMINATED: set(),
        },
    )

    slug = models.CharField(max_length=40, unique=True, validators=[validate_slug])
    name = models.CharField(gettext_lazy("trading name"), max_length=200)
    legal_name = models.CharField(max_length=200)
    contact_email = models.EmailField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    status_reason = models.CharField(max_length=300, blank=True)
    held_by_billing = models.BooleanField(
        default=False,
        help_text=gettext_lazy(
            "Suspended by the operator's billing (lifted when its plans are paid); a "
            "suspension from the console is lifted only by hand"
        ),
    )
    status_changed_at = models.DateTimeField(null=True, blank=True)
    provisioned_by = models.CharField(
        max_length=12,
        blank=True,
        help_text=gettext_lazy("pool, template or migrate: how the schema was built"),
    )
    provisioning_ms = models.PositiveIntegerField(null=True, blank=True)
    last_exported_at = models.DateTimeField(null=True, blank=True)
    # Price of one upstream escalation for this reseller; overrides its plan's price.
    escalation_price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    auto_create_schema = False
    auto_drop_schema = False

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    def primary_domain_name(self) -> str | None:
        for domain in self.domains.all():
            if domain.is_primary:
                return domain.domain
        return None


class Domain(DomainMixin):
    """A host name that routes to a reseller's instance (primary sub-domain or custom)."""

    tenant = models.ForeignKey(Reseller, related_name="domains", on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_primary", "domain"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant"], condition=Q(is_primary=True), name="one_primary_domain"
            )
        ]

    def __str__(self) -> str:
        return self.domain


class Resource(models.Model):
    """A kind of capacity the operator sells (disk, bandwidth, accounts…); add rows to extend."""

    code = models.SlugField(max_length=40, primary_key=True)
    name = models.CharField(max_length=100)
    unit = models.CharField(max_length=20, help_text=gettext_lazy("GB, accounts, domains…"))
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "code"]

    def __str__(self) -> str:
        return self.name


class Allocation(models.Model):
    """How much of one resource a reseller may use, and how much it uses now.

    `used` is changed only by the reserve/release services under a row lock, so the
    check-then-write of a quota is atomic across concurrent requests and workers.
    """

    reseller = models.ForeignKey(Reseller, related_name="allocations", on_delete=models.CASCADE)
    resource = models.ForeignKey(Resource, on_delete=models.PROTECT)
    quantity = models.PositiveBigIntegerField(default=0)
    used = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["resource__position"]
        constraints = [
            models.UniqueConstraint(
                fields=["reseller", "resource"], name="one_allocation_per_resource"
            ),
            models.CheckConstraint(
                condition=Q(used__lte=F("quantity")), name="used_within_allocation"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.resource}: {self.used}/{self.quantity}"

    @property
    def available(self) -> int:
        return self.quantity - self.used

    @property
    def percent_used(self) -> int:
        return round(100 * self.used / self.quantity) if self.quantity else 0


class SuspensionPolicy(models.Model):
    """The operator's choice of what a reseller's customers see while the reseller is
    suspended for non-payment (one row, id 1; absent means the defaults).

    Its staff always keep a read-only staff area to pay from (see `payment_hold`); a
    suspension made by hand in the console always shows everyone the suspension page.
    """

    class CustomerView(models.TextChoices):
        PAGE = "page", gettext_lazy("The suspension page")
        READ_ONLY = "read_only", gettext_lazy("Their customer portal, read-only")

    SINGLETON_ID = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_ID, editable=False)
    customers_see = models.CharField(
        gettext_lazy("What a reseller's customers see while it is suspended for non-payment"),
        max_length=12,
        choices=CustomerView.choices,
        default=CustomerView.PAGE,
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = gettext_lazy("suspension policy")
        verbose_name_plural = gettext_lazy("suspension policy")
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="one_suspension_policy"),
        ]

    def __str__(self) -> str:
        return f"While a reseller is held for payment: {self.get_customers_see_display()}"
