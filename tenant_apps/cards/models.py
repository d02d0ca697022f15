"""What an instance knows of its card payments: its Stripe connection, its customers' Stripe
ids and saved cards, and one row per PaymentIntent with the refunds and disputes on it.

Money is Decimal in the invoice's currency; Stripe's minor units exist only in the gateway.
The ids of our rows name the idempotency keys of the calls they cause, so a retried
request or task never charges or refunds twice.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy

from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.money import ZERO
from tenant_apps.instance.pipelines import InvalidTransition, Pipeline


class CardError(DomainError):
    """A card payment the rules or the card network refuse, said in a sentence."""

    code = "card_payment"


class CardsNotSetUp(CardError):
    status_code = 409
    code = "cards_not_set_up"


class InvalidCardPaymentState(CardError, InvalidTransition):
    status_code = 409


class CardConnection(models.Model):
    """This instance's Stripe account (one row). A reseller's is a connected account of the
    platform; the operator's instance charges on the platform account and has no id here."""

    account_id = models.CharField(gettext_lazy("Stripe account"), max_length=255, blank=True)
    charges_enabled = models.BooleanField(default=False)
    payouts_enabled = models.BooleanField(default=False)
    details_submitted = models.BooleanField(default=False)
    requirements_due = models.JSONField(
        default=list,
        blank=True,
        help_text=gettext_lazy("What Stripe still needs before it pays out"),
    )
    disabled_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = gettext_lazy("Stripe connection")

    def __str__(self) -> str:
        return self.account_id or "Stripe (not connected)"


class StripeCustomer(models.Model):
    """The Stripe customer object of one of our customers, on this instance's account."""

    customer = models.OneToOneField(
        "clients.Customer", related_name="stripe_customer", on_delete=models.CASCADE
    )
    stripe_id = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.stripe_id


class SavedCard(models.Model):
    """A card the customer chose to keep for later payments (Stripe holds the number)."""

    customer = models.ForeignKey(
        "clients.Customer", related_name="saved_cards", on_delete=models.CASCADE
    )
    payment_method_id = models.CharField(max_length=255, unique=True)
    brand = models.CharField(max_length=32, blank=True)
    last4 = models.CharField(max_length=4, blank=True)
    exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_default", "-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(is_default=True),
                name="one_default_card_per_customer",
            )
        ]

    def __str__(self) -> str:
        expiry = (
            f" {self.exp_month:02d}/{self.exp_year}" if self.exp_month and self.exp_year else ""
        )
        return f"{self.brand.title() or 'Card'} •••• {self.last4}{expiry}"


class CardSettings(models.Model):
    """A customer's choices about paying by card (one row, made when first changed)."""

    customer = models.OneToOneField(
        "clients.Customer", related_name="card_settings", on_delete=models.CASCADE
    )
    # The renewal run charges the default card when this is on (cards/autocharge.py).
    auto_charge_renewals = models.BooleanField(
        gettext_lazy("Charge my default card automatically when a renewal invoice is issued"),
        default=False,
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = gettext_lazy("card settings")
        verbose_name_plural = gettext_lazy("card settings")

    def __str__(self) -> str:
        return f"Card settings of customer {self.customer_id}"


class CardPayment(models.Model):
    """One PaymentIntent on this instance's account for (part of) one invoice."""

    class Status(models.TextChoices):
        PENDING = "pending", gettext_lazy("Awaiting card")
        REQUIRES_ACTION = "requires_action", gettext_lazy("Awaiting authentication")
        PROCESSING = "processing", gettext_lazy("Processing")
        FAILED = "failed", gettext_lazy("Declined")
        SUCCEEDED = "succeeded", gettext_lazy("Paid")
        CANCELED = "canceled", gettext_lazy("Cancelled")

    OPEN = (Status.PENDING, Status.REQUIRES_ACTION, Status.PROCESSING, Status.FAILED)

    # A declined attempt leaves the intent open for another card. Stripe's word is final:
    # an intent it reports paid is paid, even one we had given up on (a race with cancel).
    pipeline = Pipeline(
        Status,
        {
            Status.PENDING: {
                Status.REQUIRES_ACTION,
                Status.PROCESSING,
                Status.FAILED,
                Status.SUCCEEDED,
                Status.CANCELED,
            },
            Status.REQUIRES_ACTION: {
                Status.PENDING,
                Status.PROCESSING,
                Status.FAILED,
                Status.SUCCEEDED,
                Status.CANCELED,
            },
            Status.PROCESSING: {Status.FAILED, Status.SUCCEEDED, Status.PENDING},
            Status.FAILED: {
                Status.PENDING,
                Status.REQUIRES_ACTION,
                Status.PROCESSING,
                Status.SUCCEEDED,
                Status.CANCELED,
            },
            Status.CANCELED: {Status.SUCCEEDED},
        },
        error=InvalidCardPaymentState,
    )

    invoice = models.ForeignKey(
        "billing.Invoice", related_name="card_payments", on_delete=models.PROTECT
    )
    customer = models.ForeignKey(
        "clients.Customer", related_name="card_payments", on_delete=models.PROTECT
    )
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    # Fixed when the payment is opened, sent as the intent's application_fee_amount
    # (cards/platform_fee.py); 0 on the operator's own instance and while no fee is set.
    application_fee = models.DecimalField(
        gettext_lazy("Platform fee"),
        max_digits=14,
        decimal_places=2,
        default=Decimal("0"),
        help_text=gettext_lazy("What the platform takes from this payment through Stripe"),
    )
    # NULL until Stripe answered the create call (the unique constraint ignores NULLs).
    intent_id = models.CharField(  # noqa: DJ001
        gettext_lazy("PaymentIntent"), max_length=255, unique=True, null=True, blank=True
    )
    charge_id = models.CharField(max_length=255, blank=True, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    failure_message = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveIntegerField(
        default=0,
        help_text=gettext_lazy("Cards tried on this intent (names each confirm call's key)"),
    )
    payment = models.OneToOneField(
        "billing.Payment",
        null=True,
        blank=True,
        related_name="card_payment",
        on_delete=models.PROTECT,
        help_text=gettext_lazy("The payment it produced once Stripe confirmed it"),
    )
    disputed = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+", on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = gettext_lazy("card payment")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="card_payment_positive"),
            models.CheckConstraint(
                condition=Q(application_fee__gte=0, application_fee__lte=F("amount")),
                name="card_payment_fee_within_amount",
            ),
            # Two tabs starting a payment for one invoice share one intent, never two.
            models.UniqueConstraint(
                fields=["invoice"],
                condition=Q(status__in=["pending", "requires_action", "processing", "failed"]),
                name="one_open_card_payment_per_invoice",
            ),
        ]

    def __str__(self) -> str:
        return f"Card payment of {self.amount} {self.currency} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN

    @property
    def refundable(self) -> Decimal:
        """What staff may still refund: paid, less refunds sent or being sent."""
        if self.payment_id is None:
            return ZERO
        taken = sum((r.amount for r in self.refunds.all() if r.status in CardRefund.COUNTED), ZERO)
        return max(min(self.amount - taken, self.payment.refundable), ZERO)


class CardRefund(models.Model):
    """Money sent back on a card payment, from staff or seen in Stripe (its dashboard)."""

    class Status(models.TextChoices):
        PENDING = "pending", gettext_lazy("Sending to Stripe")
        SENT = "sent", gettext_lazy("Refunded at Stripe, not yet in the books")
        SUCCEEDED = "succeeded", gettext_lazy("Refunded")
        FAILED = "failed", gettext_lazy("Refused by Stripe")

    class Origin(models.TextChoices):
        STAFF = "staff", gettext_lazy("Staff")
        STRIPE = "stripe", gettext_lazy("Stripe")

    # Refunds that count against what Stripe reports refunded on the charge.
    COUNTED = (Status.PENDING, Status.SENT, Status.SUCCEEDED)

    card_payment = models.ForeignKey(CardPayment, related_name="refunds", on_delete=models.PROTECT)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    origin = models.CharField(max_length=8, choices=Origin.choices, default=Origin.STAFF)
    stripe_refund_id = models.CharField(  # noqa: DJ001
        max_length=255, unique=True, null=True, blank=True
    )
    reason = models.CharField(max_length=300)
    # Staff's choice on billing's refund form, applied when the refund is booked.
    waive_periods = models.BooleanField(
        default=False, help_text=gettext_lazy("Service periods wholly refunded are given away")
    )
    refund = models.OneToOneField(
        "billing.Refund",
        null=True,
        blank=True,
        related_name="card_refund",
        on_delete=models.PROTECT,
        help_text=gettext_lazy("The refund in the books, with its credit notes"),
    )
    failure_message = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+", on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="card_refund_positive"),
        ]

    def __str__(self) -> str:
        return f"Card refund of {self.amount} {self.currency}"


class CardDispute(models.Model):
    """A chargeback the cardholder opened with their bank (Stripe's dispute object)."""

    card_payment = models.ForeignKey(CardPayment, related_name="disputes", on_delete=models.PROTECT)
    dispute_id = models.CharField(max_length=255, unique=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="card_dispute_amount"),
        ]

    def __str__(self) -> str:
        return f"Dispute of {self.amount} {self.currency} ({self.reason or 'no reason given'})"


class AutoChargeAttempt(models.Model):
    """One automatic charge of a customer's default card for a renewal invoice: the one made
    when the invoice is issued, or a retry on a dunning step (cards/autocharge.py).

    Each attempt that reaches Stripe has its own CardPayment (one PaymentIntent per attempt,
    as for cards typed in the portal), whose idempotency key names that row and this
    attempt's number: a task run twice for one attempt gets Stripe's first answer back.
    """

    class Trigger(models.TextChoices):
        RENEWAL = "renewal", gettext_lazy("Renewal invoice issued")
        DUNNING = "dunning", gettext_lazy("Dunning step")

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", gettext_lazy("Scheduled")
        CHARGING = "charging", gettext_lazy("Charging")
        PROCESSING = "processing", gettext_lazy("Processing")
        SUCCEEDED = "succeeded", gettext_lazy("Paid")
        FAILED = "failed", gettext_lazy("Declined")
        REQUIRES_ACTION = "requires_action", gettext_lazy("Needs the customer's authentication")
        SKIPPED = "skipped", gettext_lazy("Not charged")

    # Attempts the customer hears about ("we could not charge your card").
    UNSUCCESSFUL = (Status.FAILED, Status.REQUIRES_ACTION)
    FINAL = (Status.SUCCEEDED, Status.FAILED, Status.REQUIRES_ACTION, Status.SKIPPED)

    pipeline = Pipeline(
        Status,
        {
            Status.SCHEDULED: {Status.CHARGING, Status.SKIPPED},
            Status.CHARGING: {
                Status.PROCESSING,
                Status.SUCCEEDED,
                Status.FAILED,
                Status.REQUIRES_ACTION,
                Status.SKIPPED,
            },
            # Stripe settles a processing charge later (its webhook updates the card payment).
            Status.PROCESSING: {Status.SUCCEEDED, Status.FAILED},
        },
    )

    invoice = models.ForeignKey(
        "billing.Invoice", related_name="auto_charge_attempts", on_delete=models.PROTECT
    )
    customer = models.ForeignKey(
        "clients.Customer", related_name="auto_charge_attempts", on_delete=models.PROTECT
    )
    number = models.PositiveSmallIntegerField(
        help_text=gettext_lazy("1 for the first attempt on the invoice")
    )
    trigger = models.CharField(max_length=8, choices=Trigger.choices)
    dunning_step = models.PositiveSmallIntegerField(
        default=0, help_text=gettext_lazy("The dunning step that retried the card (0: at renewal)")
    )
    charge_date = models.DateField(
        help_text=gettext_lazy("The instance's day the attempt was made for")
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    card_label = models.CharField(
        max_length=64, blank=True, help_text=gettext_lazy("The card charged")
    )
    payment_method_id = models.CharField(max_length=255, blank=True)
    card_payment = models.OneToOneField(
        CardPayment,
        null=True,
        blank=True,
        related_name="auto_charge_attempt",
        on_delete=models.PROTECT,
    )
    failure_message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    charging_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=gettext_lazy("When the customer was told the charge failed"),
    )

    class Meta:
        ordering = ["invoice_id", "number"]
        verbose_name = gettext_lazy("automatic card charge")
        constraints = [
            models.UniqueConstraint(fields=["invoice", "number"], name="auto_charge_number"),
            # At most one attempt per dunning step (step 0: when the invoice is issued)…
            models.UniqueConstraint(fields=["invoice", "dunning_step"], name="auto_charge_step"),
            # …and never two on one day, whatever ran them.
            models.UniqueConstraint(fields=["invoice", "charge_date"], name="auto_charge_day"),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="auto_charge_status")]

    def __str__(self) -> str:
        return f"Automatic charge {self.number} of invoice {self.invoice_id}"

    @property
    def outcome(self) -> str:
        """The status to show: a processing charge reads as its card payment now stands."""
        if self.status == self.Status.PROCESSING and self.card_payment_id is not None:
            settled = {
                CardPayment.Status.SUCCEEDED: self.Status.SUCCEEDED,
                CardPayment.Status.FAILED: self.Status.FAILED,
                CardPayment.Status.CANCELED: self.Status.FAILED,
            }.get(self.card_payment.status)
            if settled:
                return settled
        return self.status

    @property
    def outcome_label(self) -> str:
        return str(self.Status(self.outcome).label)

    @property
    def trigger_label(self) -> str:
        if self.trigger == self.Trigger.DUNNING:
            return f"Dunning step {self.dunning_step}"
        return str(self.get_trigger_display())
