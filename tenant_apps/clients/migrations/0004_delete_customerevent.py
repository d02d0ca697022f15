"""Drop CustomerEvent: its rows were copied into the audit trail by 0003."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('clients', '0003_copy_customer_events_to_audit_trail'),
    ]

    operations = [
        migrations.DeleteModel(
            name='CustomerEvent',
        ),
    ]
