"""Django admin for billing (instance superusers only): mostly for looking, not for editing.

Issued documents, payments, the credit ledger, numbering and runs are read-only here: they
change only through the services (the staff screens and the API), which keep numbering
gap-free, amounts reconciled and issued documents immutable. Drafts can have their notes
edited and can be deleted (through `invoice_draft_delete`).
"""

from __future__ import annotations

from django.contrib import admin, messages

from tenant_apps.instance.errors import DomainError

from . import services
from .models import (
    BillingSettings,
    CreditEntry,
    Invoice,
    InvoiceLine,
    NumberSequence,
    Payment,
    TaxRate,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by services: visible, never added, changed or deleted here."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    extra = 0
    can_delete = False
    fields = [
        "position",
        "kind",
        "description",
        "quantity",
        "unit_price",
        "tax_class_code",
        "tax_rate",
        "net_amount",
        "tax_amount",
        "gross_amount",
        "service",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class PaymentInline(admin.TabularInline):
    model = Payment
    extra = 0
    can_delete = False
    fields = ["received_on", "amount", "applied_amount", "method", "reference", "created_by"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "kind",
        "status",
        "customer",
        "issue_date",
        "due_date",
        "total",
        "currency",
    ]
    list_filter = ["kind", "status", "tax_treatment", "currency"]
    search_fields = ["number", "customer__name", "customer__company_name", "customer__email"]
    list_select_related = ["customer"]
    date_hierarchy = "created_at"
    inlines = [InvoiceLineInline, PaymentInline]
    # Everything but the notes of a draft; lines and amounts change through the services.
    readonly_fields = [
        "kind",
        "status",
        "number",
        "customer",
        "currency",
        "prices_include_tax",
        "tax_treatment",
        "issue_date",
        "due_date",
        "subtotal",
        "tax_total",
        "total",
        "amount_paid",
        "amount_credited",
        "issuer_snapshot",
        "customer_snapshot",
        "legal_notes",
        "credited_invoice",
        "billing_run",
        "pdf",
        "reminders_sent",
        "last_reminder_at",
        "late_fee_invoice",
        "created_by",
        "created_at",
        "issued_at",
        "emailed_at",
        "paid_at",
        "voided_at",
    ]
    fields = ["notes", *readonly_fields]

    def has_add_permission(self, request) -> bool:
        return False  # drafts are created on the staff screens, which price them

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and not obj.is_editable:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and not obj.is_editable:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        # The bulk delete action would bypass the draft check; deletes go one by one.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_model(self, request, obj):
        try:
            services.invoice_draft_delete(invoice=obj, actor=request.user)
        except DomainError as exc:
            messages.error(request, str(exc))


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ["received_on", "customer", "invoice", "amount", "currency", "method"]
    list_filter = ["method", "currency"]
    search_fields = ["reference", "customer__name", "invoice__number"]
    list_select_related = ["customer", "invoice"]
    date_hierarchy = "received_on"


@admin.register(CreditEntry)
class CreditEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "customer", "kind", "amount", "note"]
    list_filter = ["kind"]
    search_fields = ["customer__name", "note"]
    list_select_related = ["customer"]


@admin.register(NumberSequence)
class NumberSequenceAdmin(ReadOnlyAdmin):
    """Read-only: editing a counter would break gap-free numbering."""

    list_display = ["series", "period", "next_number"]


@admin.register(BillingSettings)
class BillingSettingsAdmin(ReadOnlyAdmin):
    """Changed on Staff → Billing settings, where `billing_settings_update` validates it."""


@admin.register(TaxRate)
class TaxRateAdmin(admin.ModelAdmin):
    """Editable, through the same services as the staff screen (so each change is audited)."""

    list_display = ["country", "tax_class", "rate", "name"]
    list_filter = ["tax_class"]
    list_select_related = ["tax_class"]

    def save_model(self, request, obj, form, change):
        # The service snapshots the stored row before applying the form's values.
        stored = TaxRate.objects.filter(pk=obj.pk).first() if obj.pk else None
        saved = services.tax_rate_set(
            country=obj.country,
            tax_class=obj.tax_class,
            rate=obj.rate,
            name=obj.name,
            tax_rate=stored,
            actor=request.user,
        )
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        services.tax_rate_delete(tax_rate=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for tax_rate in queryset:
            services.tax_rate_delete(tax_rate=tax_rate, actor=request.user)
