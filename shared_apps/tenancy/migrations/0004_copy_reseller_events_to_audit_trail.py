"""Copy every ResellerEvent into the operator's instance trail (instance.AuditEvent).

The reseller history becomes rows of the public schema's one audit trail: object type
"reseller", the reseller's id and slug, the action as "reseller.<verb>", the actor's label
(and a link to the operator's user when one has that e-mail), the original time and detail.
Status moves and allocation changes also get their old/new values as `changes`.

Reverse is a no-op: the forward only copies, the old rows are untouched.
"""

from django.conf import settings
from django.db import migrations

# Old action → new event code, where the verb changed; others become "reseller.<action>".
ACTIONS = {
    "status:suspended": "reseller.suspended",
    "status:active": "reseller.resumed",
    "status:terminated": "reseller.terminated",
    "escalation_price": "reseller.escalation_price_set",
}


def _code(action: str) -> str:
    if action in ACTIONS:
        return ACTIONS[action]
    verb = action.replace(":", "_").replace(" ", "_") or "changed"
    return f"reseller.{verb}"[:64]


def _changes_and_detail(action: str, detail: dict) -> tuple[dict, dict]:
    detail = dict(detail or {})
    if action.startswith("status:"):
        previous = detail.pop("previous", None)
        return {"status": [previous, action.split(":", 1)[1]]}, detail
    if action == "allocation_set" and "quantity" in detail:
        previous = detail.pop("previous", None)
        quantity = detail.pop("quantity")
        return {"quantity": [previous, quantity]}, detail
    return {}, detail


def copy_events(apps, schema_editor):
    ResellerEvent = apps.get_model("tenancy", "ResellerEvent")
    AuditEvent = apps.get_model("instance", "AuditEvent")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    users = {email.lower(): pk for pk, email in User.objects.values_list("pk", "email")}
    rows = []
    for event in ResellerEvent.objects.order_by("created_at", "id").iterator():
        changes, detail = _changes_and_detail(event.action, event.detail)
        label = event.actor or "system"
        rows.append(
            AuditEvent(
                action=_code(event.action),
                actor_id=users.get(label.lower()),
                actor_label=label[:254],
                object_type="reseller",
                object_id=str(event.reseller_id) if event.reseller_id else "",
                object_label=event.reseller_slug[:200],
                changes=changes,
                detail=detail,
                created_at=event.created_at,
            )
        )
    AuditEvent.objects.bulk_create(rows, batch_size=2000)


class Migration(migrations.Migration):
    dependencies = [
        ("tenancy", "0003_reseller_escalation_price"),
        ("instance", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(copy_events, migrations.RunPython.noop)]
