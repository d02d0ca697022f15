"""Copy every CustomerEvent into the instance's one audit trail (instance.AuditEvent).

Each row becomes an event on the customer (object type "customer", its id and name,
`customer_id` set, so the customer page still lists it), with the action as the code the
services now write: "customer.<verb>" ("customer.created", "customer.closed" …) and, for
contacts, "contact.<verb>" ("contact_added" → "contact.added"). The actor's label is kept,
linked to the instance's user with that e-mail when there is one; the time and the detail
are kept as they were. Closing and reopening also get their old/new status as `changes`.

Reverse is a no-op: the forward only copies, the old rows are untouched (the next
migration drops them).
"""

from django.conf import settings
from django.db import migrations

STATUS_MOVES = {"closed": ["active", "closed"], "reopened": ["closed", "active"]}


def _code(action: str) -> str:
    if action.startswith("contact_"):
        return f"contact.{action.removeprefix('contact_')}"[:64]
    return f"customer.{action or 'changed'}"[:64]


def copy_events(apps, schema_editor):
    CustomerEvent = apps.get_model("clients", "CustomerEvent")
    AuditEvent = apps.get_model("instance", "AuditEvent")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    users = {email.lower(): pk for pk, email in User.objects.values_list("pk", "email")}
    rows = []
    events = CustomerEvent.objects.select_related("customer").order_by("created_at", "id")
    for event in events.iterator(chunk_size=2000):
        customer = event.customer
        label = event.actor or "system"
        status = STATUS_MOVES.get(event.action)
        rows.append(
            AuditEvent(
                action=_code(event.action),
                actor_id=users.get(label.lower()),
                actor_label=label[:254],
                object_type="customer",
                object_id=str(customer.pk),
                object_label=(customer.company_name or customer.name)[:200],
                customer_id=customer.pk,
                changes={"status": status} if status else {},
                detail=event.detail or {},
                created_at=event.created_at,
            )
        )
    AuditEvent.objects.bulk_create(rows, batch_size=2000)


class Migration(migrations.Migration):
    dependencies = [
        ("clients", "0002_customerevent"),
        ("instance", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(copy_events, migrations.RunPython.noop)]
