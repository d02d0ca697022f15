"""Django admin for customers and their contacts (superusers of the instance only).

Read-mostly: status, tax id status and credit balance are shown but changed only by the
services (status along its pipeline, with an audit event).
"""

from django.contrib import admin

from .models import Contact, Customer


class ContactInline(admin.TabularInline):
    model = Contact
    extra = 0


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["display_name", "email", "country", "kind", "tax_id", "tax_id_status", "status"]
    list_filter = ["status", "kind", "tax_id_status"]
    search_fields = ["name", "company_name", "email", "tax_id"]
    readonly_fields = [
        "status",
        "tax_id_status",
        "tax_id_checked_at",
        "tax_id_check_detail",
        "credit_balance",
        "user",
        "reseller_id",
        "created_at",
    ]
    inlines = [ContactInline]

    def save_model(self, request, obj, form, change):
        # Save only what the form changed: never write back a stale credit balance.
        if change:
            if form.changed_data:
                obj.save(update_fields=form.changed_data)
        else:
            obj.save()


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "customer", "role", "receives_invoices"]
    search_fields = ["name", "email", "customer__name", "customer__company_name"]
    list_select_related = ["customer"]
    raw_id_fields = ["customer"]
