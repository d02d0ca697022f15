"""Orders (each with its referer) and the services they create.

Status pipelines, declared on each model as `pipeline` and followed by every status write
(`tenant_apps.instance.pipelines.transition`, called from `services`):
    Order:   pending → accepted | cancelled
    Service: pending → active ⇄ suspended → terminated;  pending/active/suspended → cancelled

An add-on service (`Service.parent`) follows its plan: suspended, resumed, terminated and
cancelled with it (`services.service_transition`), renewed on the plan's due date.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tenant_apps.catalog.models import BillingCycle
from tenant_apps.instance.money import ZERO
from tenant_apps.instance.pipelines import InvalidTransition, Pipeline


class InvalidOrderTransition(InvalidTransition):
    """An order asked to move where its pipeline does not go (accepting a cancelled one…)."""


class InvalidServiceTransition(InvalidTransition):
    """A service asked to move where its pipeline does not go (409 in the API)."""


def _order_refusal(noun: str, current: str, target: str) -> str:
    # The wording staff already know from the order screens and the API.
    return _("%(noun)s is %(current)s already.") % {"noun": noun, "current": current}


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", gettext_lazy("Pending")
        ACCEPTED = "accepted", gettext_lazy("Accepted")
        CANCELLED = "cancelled", gettext_lazy("Cancelled")

    pipeline = Pipeline(
        Status,
        {
            Status.PENDING: {Status.ACCEPTED, Status.CANCELLED},
            # Accepted but never paid: cancelling credits its invoices (`order_cancel`).
            Status.ACCEPTED: {Status.CANCELLED},
            Status.CANCELLED: set(),
        },
        error=InvalidOrderTransition,
        message=_order_refusal,
    )

    class Source(models.TextChoices):
        PORTAL = "portal", gettext_lazy("Customer portal")
        STAFF = "staff", gettext_lazy("Staff")
        API = "api", gettext_lazy("API")

    class RefererSource(models.TextChoices):
        NONE = "", gettext_lazy("None")
        LINK = "link", gettext_lazy("Referral link (?ref=)")
        CODE = "code", gettext_lazy("Code typed at checkout")
        STAFF = "staff", gettext_lazy("Chosen by staff")

    customer = models.ForeignKey(
        "clients.Customer", related_name="orders", on_delete=models.PROTECT
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.STAFF)
    referer = models.ForeignKey(
        "referrals.Referer", null=True, blank=True, related_name="orders", on_delete=models.PROTECT
    )
    referer_source = models.CharField(max_length=10, choices=RefererSource.choices, blank=True)
    currency = models.CharField(max_length=3)
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+", on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Order #{self.pk}"


class OrderItem(models.Model):
    order = models.ForeignKey(Order, related_name="items", on_delete=models.CASCADE)
    product = models.ForeignKey("catalog.Product", related_name="+", on_delete=models.PROTECT)
    cycle = models.CharField(max_length=12, choices=BillingCycle.choices)
    quantity = models.PositiveIntegerField(default=1)
    # Price and setup fee at the time of ordering (catalog prices may change later).
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    setup_fee = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    label = models.CharField(
        max_length=200, blank=True, help_text=gettext_lazy("e.g. the domain it is for")
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, related_name="addon_items", on_delete=models.CASCADE
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.product_id} ({self.cycle})"


class Service(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", gettext_lazy("Pending")
        ACTIVE = "active", gettext_lazy("Active")
        SUSPENDED = "suspended", gettext_lazy("Suspended")
        TERMINATED = "terminated", gettext_lazy("Terminated")
        CANCELLED = "cancelled", gettext_lazy("Cancelled")

    pipeline = Pipeline(
        Status,
        {
            Status.PENDING: {Status.ACTIVE, Status.CANCELLED},
            Status.ACTIVE: {Status.SUSPENDED, Status.TERMINATED, Status.CANCELLED},
            Status.SUSPENDED: {Status.ACTIVE, Status.TERMINATED, Status.CANCELLED},
            Status.TERMINATED: set(),
            Status.CANCELLED: set(),
        },
        error=InvalidServiceTransition,
    )
    # Statuses in which the service holds capacity of the instance's allocation.
    HOLDS_CAPACITY = frozenset({Status.ACTIVE, Status.SUSPENDED})

    customer = models.ForeignKey(
        "clients.Customer", related_name="services", on_delete=models.PROTECT
    )
    product = models.ForeignKey(
        "catalog.Product", related_name="services", on_delete=models.PROTECT
    )
    order_item = models.OneToOneField(
        OrderItem, null=True, blank=True, related_name="service", on_delete=models.SET_NULL
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, related_name="addons", on_delete=models.CASCADE
    )
    label = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    cycle = models.CharField(max_length=12, choices=BillingCycle.choices)
    quantity = models.PositiveIntegerField(default=1)
    currency = models.CharField(max_length=3)
    recurring_amount = models.DecimalField(max_digits=12, decimal_places=2)
    # Capacity this service holds against the instance's allocation (resource code → amount).
    resources = models.JSONField(default=dict, blank=True)
    next_due_date = models.DateField(null=True, blank=True)
    # Start of the last period a renewal invoice was generated for (idempotency of runs).
    invoiced_period_start = models.DateField(null=True, blank=True)
    # First day of the service's first period: the day its first invoice was paid when the
    # order waited for payment (that invoice states the period's length, not its dates).
    first_period_start = models.DateField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    suspended_for_nonpayment = models.BooleanField(default=False)
    # An add-on suspended because its plan was: it resumes when the plan does, not before.
    suspended_with_parent = models.BooleanField(default=False)
    status_reason = models.CharField(max_length=300, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    suspended_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_due_date"])]

    def __str__(self) -> str:
        return f"{self.product} {self.label}".strip()
