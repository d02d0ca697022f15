"""Creates the probe table; pauses UPLINE_PROBE_PAUSE seconds per schema (so a test can
kill a run part-way through)."""

import os
import time

from django.db import migrations, models


def pause(apps, schema_editor):
    time.sleep(float(os.environ.get("UPLINE_PROBE_PAUSE", "0")))


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="ProbeNote",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("text", models.CharField(max_length=100)),
            ],
        ),
        migrations.RunPython(pause, migrations.RunPython.noop),
    ]
