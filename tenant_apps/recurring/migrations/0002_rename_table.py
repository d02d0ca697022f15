from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('recurring', '0001_initial'),
        ('billing', '0011_billing_run_moved_to_recurring'),
    ]

    operations = [
        migrations.AlterModelTable(name='billingrun', table=None),
    ]
