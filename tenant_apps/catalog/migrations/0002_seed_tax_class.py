"""Every instance starts with a "standard" tax class."""
from django.db import migrations


def seed(apps, schema_editor):
    apps.get_model("catalog", "TaxClass").objects.get_or_create(
        code="standard", defaults={"name": "Standard rate"}
    )


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
