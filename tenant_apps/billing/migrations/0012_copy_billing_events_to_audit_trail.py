"""Copy every BillingEvent into the instance's one audit trail (instance.AuditEvent).

Each row becomes an event with the code the services now write:
    issued → invoice.issued, voided → invoice.voided, credit_note_issued → invoice.credited,
    credit_applied → invoice.credit_applied, credit_adjusted → customer.credit_adjusted,
    payment_recorded → invoice.payment_recorded (customer.payment_recorded without an
    invoice), settings_changed → billingsettings.changed.
The object is the row's invoice (so the invoice page still lists it), else its customer,
else the billing settings. The actor string is kept as the label and linked to the
instance's user with that e-mail when there is one; the time and the detail are kept.

Reverse is a no-op: the forward only copies, the old rows are untouched (the next
migration drops them).
"""

from django.conf import settings
from django.db import migrations

INVOICE_CODES = {
    "issued": "invoice.issued",
    "voided": "invoice.voided",
    "credit_note_issued": "invoice.credited",
    "credit_applied": "invoice.credit_applied",
    "payment_recorded": "invoice.payment_recorded",
}
CUSTOMER_CODES = {
    "credit_adjusted": "customer.credit_adjusted",
    "payment_recorded": "customer.payment_recorded",
}


def _code(action: str, object_type: str) -> str:
    if object_type == "invoice" and action in INVOICE_CODES:
        return INVOICE_CODES[action]
    if object_type == "customer" and action in CUSTOMER_CODES:
        return CUSTOMER_CODES[action]
    if action == "settings_changed":
        return "billingsettings.changed"
    return f"{object_type}.{action or 'changed'}"[:64]


def copy_events(apps, schema_editor):
    BillingEvent = apps.get_model("billing", "BillingEvent")
    BillingSettings = apps.get_model("billing", "BillingSettings")
    AuditEvent = apps.get_model("instance", "AuditEvent")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    users = {email.lower(): pk for pk, email in User.objects.values_list("pk", "email")}
    settings_pk = BillingSettings.objects.values_list("pk", flat=True).first()
    rows = []
    events = BillingEvent.objects.select_related("invoice", "customer").order_by("created_at", "id")
    for event in events.iterator(chunk_size=2000):
        invoice, customer = event.invoice, event.customer
        if invoice is not None:
            object_type, object_id = "invoice", str(invoice.pk)
            object_label = invoice.number or f"Draft #{invoice.pk}"
            customer_id = event.customer_id or invoice.customer_id
        elif customer is not None:
            object_type, object_id = "customer", str(customer.pk)
            object_label = customer.company_name or customer.name
            customer_id = customer.pk
        else:
            object_type = "billingsettings" if event.action == "settings_changed" else "billing"
            object_id = str(settings_pk) if settings_pk and object_type != "billing" else ""
            object_label = "Billing settings" if object_type == "billingsettings" else ""
            customer_id = None
        label = event.actor or "system"
        rows.append(
            AuditEvent(
                action=_code(event.action, object_type),
                actor_id=users.get(label.lower()),
                actor_label=label[:254],
                object_type=object_type,
                object_id=object_id,
                object_label=object_label[:200],
                customer_id=customer_id,
                detail=event.detail or {},
                created_at=event.created_at,
            )
        )
    AuditEvent.objects.bulk_create(rows, batch_size=2000)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0011_billing_run_moved_to_recurring"),
        ("instance", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(copy_events, migrations.RunPython.noop)]
