"""Data: every instance starts with a “General support” department."""

from django.db import migrations


def seed(apps, schema_editor):
    Department = apps.get_model("helpdesk", "Department")
    Department.objects.get_or_create(
        slug="general-support",
        defaults={
            "name": "General support",
            "first_response_minutes": 4 * 60,
            "resolution_minutes": 3 * 24 * 60,
        },
    )


def unseed(apps, schema_editor):
    Department = apps.get_model("helpdesk", "Department")
    Department.objects.filter(slug="general-support", tickets__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("helpdesk", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
