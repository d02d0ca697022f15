"""Drop ResellerEvent: its rows live on in the operator's audit trail (copied by 0004), and
nothing writes to it any more (tenancy and the bridge record `instance.AuditEvent` rows).

Reversing recreates the empty table; the history stays in the audit trail.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("tenancy", "0004_copy_reseller_events_to_audit_trail"),
    ]

    operations = [
        migrations.DeleteModel(
            name="ResellerEvent",
        ),
    ]
