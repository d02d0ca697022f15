"""Seed the resources the operator sells; add rows (admin or a migration) to extend."""
from django.db import migrations

RESOURCES = [
    ("disk_gb", "Disk space", "GB", 10),
    ("bandwidth_gb", "Bandwidth", "GB", 20),
    ("hosting_accounts", "Hosting accounts", "accounts", 30),
    ("domains", "Domains", "domains", 40),
    ("email_accounts", "E-mail accounts", "mailboxes", 50),
]


def seed(apps, schema_editor):
    Resource = apps.get_model("tenancy", "Resource")
    for code, name, unit, position in RESOURCES:
        Resource.objects.update_or_create(
            code=code, defaults={"name": name, "unit": unit, "position": position}
        )


def unseed(apps, schema_editor):
    apps.get_model("tenancy", "Resource").objects.filter(code__in=[r[0] for r in RESOURCES]).delete()


class Migration(migrations.Migration):
    dependencies = [("tenancy", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
