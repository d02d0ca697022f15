"""Invoicing data of one instance: identity, settings, taxes, numbering, invoices, payments.

Lock order for concurrent writes: see `tenant_apps.instance.locking` (billing takes
Customer → Invoice → PendingCharge → NumberSequence, never the reverse).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F
from django.utils.translation import gettext_lazy
from django_countries.fields import CountryField

from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.money import ZERO
from tenant_apps.instance.pipelines import InvalidTransition, Pipeline


class BillingError(DomainError):
    """A billing write refused with a sentence the user can act on (400 unless narrower)."""

    code = "billing_error"


class InvalidInvoiceState(BillingError, InvalidTransition):
    """An invoice cannot make that move (pay a draft, void a paid invoice …): 409."""

    code = "invalid_invoice_state"
    status_code = 409


class BillingSettings(models.Model):
    """How this instance invoices: numbering, tax display, renewals and dunning (singleton)."""

    class LateFeeVat(models.TextChoices):
        OUTSIDE_SCOPE = (
            "outside_scope",
            gettext_lazy("Outside the scope of VAT (no VAT; the invoice says so)"),
        )
        STANDARD = "standard", gettext_lazy("Taxed like the late invoice, at the standard rate")

    prices_include_tax = models.BooleanField(
        default=False,
        help_text=gettext_lazy("Catalog prices already include tax (typical for consumers)"),
    )
    payment_terms_days = models.PositiveSmallIntegerField(default=14)
    renewal_lead_days = models.PositiveSmallIntegerField(
        default=14,
        help_text=gettext_lazy("Issue renewal invoices this many days before a service is due"),
    )
    invoice_number_format = models.CharField(
        max_length=60,
        default="{year}-{number:06d}",
        help_text=gettext_lazy(
            "Placeholders: {year}, {number} (e.g. {number:06d} pads to six digits)"
        ),
    )
    credit_note_number_format = models.CharField(max_length=60, default="CN{year}-{number:06d}")
    reminder_days = models.JSONField(
        default=list,
        blank=True,
        help_text=gettext_lazy("Days after the due date to send reminders, e.g. [3, 10]"),
    )
    late_fee_amount = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    late_fee_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=ZERO,
        validators=[MinValueValidator(ZERO), MaxValueValidator(Decimal("100"))],
    )
    late_fee_after_days = models.PositiveSmallIntegerField(default=14)

    late_fee_vat = models.CharField(
        gettext_lazy("VAT on late fees"),
        max_length=16,
        choices=LateFeeVat.choices,
        default=LateFeeVat.OUTSIDE_SCOPE,
        help_text=gettext_lazy(
            "A late fee compensates late payment; it is not the price of a supply, so "
            "by default it carries no VAT"
        ),
    )
    suspend_after_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        default=21,
        help_text=gettext_lazy("Suspend services this many days overdue"),
    )
    terminate_after_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        default=60,
        help_text=gettext_lazy("Terminate services this many days overdue"),
    )
    void_issued_invoices = models.BooleanField(
        default=False,
        help_text=gettext_lazy(
            "Only where EU invoicing rules do not apply: allow voiding an issued, "
            "unpaid invoice. Under EU rules an issued invoice is corrected by a credit note."
        ),
    )
    checkout_expiry_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        default=14,
        help_text=gettext_lazy(
            "Cancel portal orders left unpaid this many days after checkout (their "
            "invoice is credited; no reminder or fee is ever sent for them)"
        ),
    )
    apply_credit_automatically = models.BooleanField(
        default=False,
        help_text=gettext_lazy(
            "Settle open invoices from account credit as soon as both exist, oldest due date first"
        ),
    )
    singleton = models.BooleanField(default=True, editable=False)

    class Meta:
        verbose_name_plural = gettext_lazy("billing settings")
        constraints = [models.UniqueConstraint(fields=["singleton"], name="one_billing_settings")]

    def __str__(self) -> str:
        return "Billing settings"


class TaxRate(models.Model):
    """The rate for one tax class in one country (e.g. FR, standard → 20 %)."""

    country = CountryField()
    tax_class = models.ForeignKey(
        "catalog.TaxClass", related_name="rates", on_delete=models.CASCADE
    )
    rate = models.DecimalField(
        max_digits=6,
        decimal_places=3,
        validators=[MinValueValidator(ZERO), MaxValueValidator(Decimal("100"))],
        help_text=gettext_lazy("Percent, e.g. 20 or 5.5"),
    )
    name = models.CharField(max_length=40, default="VAT")

    class Meta:
        ordering = ["country", "tax_class"]
        constraints = [
            models.UniqueConstraint(
                fields=["country", "tax_class"], name="one_rate_per_country_class"
            )
        ]

    def __str__(self) -> str:
        return f"{self.country} {self.tax_class}: {self.rate} %"


class NumberSequence(models.Model):
    """The next number of one series (invoices, credit notes) in one period (year)."""

    series = models.CharField(max_length=20)
    period = models.CharField(max_length=10, blank=True)
    next_number = models.PositiveBigIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["series", "period"], name="one_sequence_per_period")
        ]

    def __str__(self) -> str:
        return f"{self.series} {self.period}: next {self.next_number}"


class Invoice(models.Model):
    """An invoice or a credit note. Issued documents never change; corrections are credit notes."""

    class Kind(models.TextChoices):
        INVOICE = "invoice", gettext_lazy("Invoice")
        CREDIT_NOTE = "credit_note", gettext_lazy("Credit note")

    class Status(models.TextChoices):
        DRAFT = "draft", gettext_lazy("Draft")
        ISSUED = "issued", gettext_lazy("Issued")
        PARTIALLY_PAID = "partially_paid", gettext_lazy("Partially paid")
        PAID = "paid", gettext_lazy("Paid")
        CREDITED = "credited", gettext_lazy("Credited")
        VOID = "void", gettext_lazy("Void")

    class TaxTreatment(models.TextChoices):
        STANDARD = "standard", gettext_lazy("Standard")
        REVERSE_CHARGE = "reverse_charge", gettext_lazy("Reverse charge")
        EXEMPT = "exempt", gettext_lazy("Exempt")
        OUTSIDE_SCOPE = "outside_scope", gettext_lazy("Outside the scope of VAT")

    # The legal status moves. Payments and credit notes settle an issued invoice part- or
    # all-way (a credit note on a paid invoice leaves it paid: the excess becomes account
    # credit); only an invoice with nothing paid or credited is voided; a zero invoice is
    # issued and settled at once (draft → issued → paid in one write). Credit notes are
    # issued and stay issued. Void and credited are final; paid moves back only when a
    # payment is reversed or refunded.
    pipeline = Pipeline(
        Status,
        {
            Status.DRAFT: {Status.ISSUED},
            Status.ISSUED: {Status.PARTIALLY_PAID, Status.PAID, Status.CREDITED, Status.VOID},
            # Partly credited (nothing paid) and the rest credited too: credited, not paid.
            # A payment reversed (recorded by mistake) reopens the invoice.
            Status.PARTIALLY_PAID: {Status.PAID, Status.CREDITED, Status.ISSUED},
            # A reversed payment reopens a paid invoice; a refund with its credit note of
            # everything paid leaves it credited.
            Status.PAID: {Status.PARTIALLY_PAID, Status.ISSUED, Status.CREDITED},
        },
        error=InvalidInvoiceState,
    )

    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.INVOICE)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    # NULL (not "") until issue, so the unique constraint ignores drafts.
    number = models.CharField(max_length=60, null=True, blank=True)  # noqa: DJ001
    customer = models.ForeignKey(
        "clients.Customer", related_name="invoices", on_delete=models.PROTECT
    )
    currency = models.CharField(max_length=3)
    prices_include_tax = models.BooleanField(default=False)
    tax_treatment = models.CharField(
        max_length=16, choices=TaxTreatment.choices, default=TaxTreatment.STANDARD
    )
    issue_date = models.DateField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    subtotal = models.DecimalField(max_digits=14, decimal_places=2, default=ZERO)
    tax_total = models.DecimalField(max_digits=14, decimal_places=2, default=ZERO)
    total = models.DecimalField(max_digits=14, decimal_places=2, default=ZERO)
    amount_paid = models.DecimalField(max_digits=14, decimal_places=2, default=ZERO)
    amount_credited = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        default=ZERO,
        help_text=gettext_lazy("Reduced by credit notes"),
    )
    issuer_snapshot = models.JSONField(default=dict, blank=True)
    customer_snapshot = models.JSONField(default=dict, blank=True)
    legal_notes = models.TextField(blank=True)
    notes = models.TextField(blank=True, help_text=gettext_lazy("Shown to the customer"))
    credited_invoice = models.ForeignKey(
        "self", null=True, blank=True, related_name="credit_notes", on_delete=models.PROTECT
    )
    billing_run = models.ForeignKey(
        "recurring.BillingRun",
        null=True,
        blank=True,
        related_name="invoices",
        on_delete=models.SET_NULL,
        help_text=gettext_lazy("The renewal run that issued it"),
    )
    pdf = models.FileField(upload_to="invoices/", blank=True)
    reminders_sent = models.PositiveSmallIntegerField(default=0)
    last_reminder_at = models.DateTimeField(null=True, blank=True)
    late_fee_invoice = models.ForeignKey(
        "self", null=True, blank=True, related_name="+", on_delete=models.SET_NULL
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+", on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(
        null=True, blank=True, help_text=gettext_lazy("When the customer was sent it")
    )
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "number"],
                condition=models.Q(number__isnull=False),
                name="unique_document_number",
            ),
            models.CheckConstraint(
                condition=models.Q(amount_paid__gte=0, amount_credited__gte=0),
                name="amounts_not_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "due_date"]),
            models.Index(fields=["customer", "status"]),
            # Reports select a range of issue dates; the journal reads it in (date, id) order.
            models.Index(fields=["issue_date", "id"], name="billing_invoice_issued_idx"),
        ]

    def __str__(self) -> str:
        return self.number or f"Draft #{self.pk}"

    @property
    def amount_due(self) -> Decimal:
        if (
            self.status in (self.Status.DRAFT, self.Status.VOID)
            or self.kind == self.Kind.CREDIT_NOTE
        ):
            return ZERO
        return max(self.total - self.amount_paid - self.amount_credited, ZERO)

    @property
    def is_editable(self) -> bool:
        return self.status == self.Status.DRAFT


class InvoiceLine(models.Model):
    class Kind(models.TextChoices):
        SERVICE = "service", gettext_lazy("Service")
        SETUP = "setup", gettext_lazy("Setup fee")
        LATE_FEE = "late_fee", gettext_lazy("Late fee")
        ADJUSTMENT = "adjustment", gettext_lazy("Adjustment")

    invoice = models.ForeignKey(Invoice, related_name="lines", on_delete=models.CASCADE)
    position = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.ADJUSTMENT)
    description = models.CharField(max_length=300)
    quantity = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("1"))
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    tax_class_code = models.CharField(max_length=40, default="standard")
    tax_rate = models.DecimalField(max_digits=6, decimal_places=3, default=ZERO)
    net_amount = models.DecimalField(max_digits=14, decimal_places=2, default=ZERO)
    tax_amount = models.DecimalField(max_digits=14, decimal_places=2, default=ZERO)
    gross_amount = models.DecimalField(max_digits=14, decimal_places=2, default=ZERO)
    service = models.ForeignKey(
        "orders.Service",
        null=True,
        blank=True,
        related_name="invoice_lines",
        on_delete=models.SET_NULL,
    )
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    credited_line = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        related_name="credited_by",
        on_delete=models.PROTECT,
        help_text=gettext_lazy(
            "On a credit note: the invoice line it credits (capped at that line)"
        ),
    )

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.description


class Payment(models.Model):
    class Method(models.TextChoices):
        BANK_TRANSFER = "bank_transfer", gettext_lazy("Bank transfer")
        CASH = "cash", gettext_lazy("Cash")
        CHEQUE = "cheque", gettext_lazy("Cheque")
        CARD = "card", gettext_lazy("Card")
        OTHER = "other", gettext_lazy("Other")

    customer = models.ForeignKey(
        "clients.Customer", related_name="payments", on_delete=models.PROTECT
    )
    invoice = models.ForeignKey(
        Invoice, null=True, blank=True, related_name="payments", on_delete=models.PROTECT
    )
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    applied_amount = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        default=ZERO,
        help_text=gettext_lazy("Part settled on invoices (the sum of its allocations)"),
    )
    refunded_amount = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        default=ZERO,
        help_text=gettext_lazy("Part paid back to the customer"),
    )
    currency = models.CharField(max_length=3)
    method = models.CharField(max_length=16, choices=Method.choices)
    reference = models.CharField(max_length=200, blank=True)
    received_on = models.DateField()
    notes = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+", on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    reversed_at = models.DateTimeField(
        null=True, blank=True, help_text=gettext_lazy("When it was reversed as recorded by mistake")
    )
    reversal_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-received_on", "-id"]
        # Reports select a range of days received (the journal reads it in (day, id)
        # order) and of reversals, which are few.
        indexes = [
            models.Index(fields=["received_on", "id"], name="billing_payment_received_idx"),
            models.Index(
                fields=["reversed_at"],
                condition=models.Q(reversed_at__isnull=False),
                name="billing_payment_reversed_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="payment_positive"),
            models.CheckConstraint(
                condition=models.Q(refunded_amount__gte=0, refunded_amount__lte=F("amount")),
                name="payment_refund_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} ({self.get_method_display()})"

    @property
    def is_reversed(self) -> bool:
        return self.reversed_at is not None

    @property
    def refundable(self) -> Decimal:
        return ZERO if self.is_reversed else self.amount - self.refunded_amount


class PaymentAllocation(models.Model):
    """The part of one payment that settles one invoice (a payment may settle several)."""

    payment = models.ForeignKey(Payment, related_name="allocations", on_delete=models.CASCADE)
    invoice = models.ForeignKey(Invoice, related_name="allocations", on_delete=models.PROTECT)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    refunded = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        default=ZERO,
        help_text=gettext_lazy("Part paid back with a credit note on the invoice"),
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["payment", "invoice"], name="one_allocation_per_pair"),
            models.CheckConstraint(
                condition=models.Q(amount__gt=0, refunded__gte=0, refunded__lte=F("amount")),
                name="allocation_amounts_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} of {self.payment} on {self.invoice}"


class Refund(models.Model):
    """Money paid back on a payment: from what it left as credit, then from what it settled
    (with the credit note that reduces each invoice it settled)."""

    customer = models.ForeignKey(
        "clients.Customer", related_name="refunds", on_delete=models.PROTECT
    )
    payment = models.ForeignKey(Payment, related_name="refunds", on_delete=models.PROTECT)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    from_credit = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        default=ZERO,
        help_text=gettext_lazy("Part taken from account credit"),
    )
    credit_notes = models.ManyToManyField(Invoice, related_name="refunds", blank=True)
    method = models.CharField(max_length=16, choices=Payment.Method.choices)
    reference = models.CharField(max_length=200, blank=True)
    reason = models.CharField(max_length=300)
    refunded_on = models.DateField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+", on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-refunded_on", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="refund_positive"),
            models.CheckConstraint(
                condition=models.Q(from_credit__gte=0, from_credit__lte=F("amount")),
                name="refund_credit_part_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Refund of {self.amount} {self.currency}"


class CreditEntry(models.Model):
    """The customer's credit ledger; the balance on Customer is the sum of these."""

    class Kind(models.TextChoices):
        OVERPAYMENT = "overpayment", gettext_lazy("Overpayment")
        APPLIED = "applied", gettext_lazy("Applied to an invoice")
        CREDIT_NOTE = "credit_note", gettext_lazy("Credit note on a paid invoice")
        MANUAL = "manual", gettext_lazy("Manual adjustment")
        REFUND = "refund", gettext_lazy("Paid back to the customer")
        REVERSAL = "reversal", gettext_lazy("Payment reversed")

    customer = models.ForeignKey(
        "clients.Customer", related_name="credit_entries", on_delete=models.PROTECT
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    amount = models.DecimalField(
        max_digits=14, decimal_places=2, help_text=gettext_lazy("Positive adds credit")
    )
    # Credit is kept per currency: a credit note on an invoice of the customer's former
    # currency is credit in that currency, never added to today's balance.
    currency = models.CharField(max_length=3)
    invoice = models.ForeignKey(
        Invoice, null=True, blank=True, related_name="+", on_delete=models.PROTECT
    )
    payment = models.ForeignKey(
        Payment, null=True, blank=True, related_name="+", on_delete=models.PROTECT
    )
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = gettext_lazy("credit entries")

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.amount}"


class PendingCharge(models.Model):
    """Something to bill on the customer's next invoice (e.g. a paid upstream escalation)."""

    customer = models.ForeignKey(
        "clients.Customer", related_name="pending_charges", on_delete=models.PROTECT
    )
    description = models.CharField(max_length=300)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    tax_class_code = models.CharField(max_length=40, default="standard")
    invoice = models.ForeignKey(
        Invoice,
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.SET_NULL,
        help_text=gettext_lazy("The invoice that billed it (empty while pending)"),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="charge_positive")
        ]

    def __str__(self) -> str:
        return f"{self.description}: {self.amount} {self.currency}"
