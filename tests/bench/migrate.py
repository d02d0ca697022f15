"""Benchmark: one new migration over every instance with `manage.py upline_migrate`.

    python tests/bench/migrate.py --tenants 1000

A throw-away app, written into a temporary folder and installed only by a settings module
written next to it, holds an invoice-shaped table. The benchmark creates --tenants
instances (the table comes with the template), fills each table with --rows rows, then
writes the app's second migration (a new column and a new index on that table) and times
`manage.py upline_migrate` applying it everywhere, in a subprocess as on a release. Nothing
is written into the project's apps. Prints progress and, as its last line, a JSON object
with `seconds`; the target is seconds < 300.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

DB = "upline_bench_migrate"
APP = "upline_bench_migrate_app"
SETTINGS = "upline_bench_migrate_settings"
TARGET_SECONDS = 300

MODELS = '''
"""An invoice-shaped table for the migration benchmark."""
from django.db import models


class BenchInvoice(models.Model):
    number = models.CharField(max_length=40)
    customer_id = models.BigIntegerField()
    status = models.CharField(max_length=20)
    currency = models.CharField(max_length=3)
    issued_on = models.DateField()
    due_on = models.DateField()
    subtotal = models.DecimalField(max_digits=14, decimal_places=2)
    tax = models.DecimalField(max_digits=14, decimal_places=2)
    total = models.DecimalField(max_digits=14, decimal_places=2)
    notes = models.TextField(blank=True)
'''

INITIAL = """
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="BenchInvoice",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("number", models.CharField(max_length=40)),
                ("customer_id", models.BigIntegerField()),
                ("status", models.CharField(max_length=20)),
                ("currency", models.CharField(max_length=3)),
                ("issued_on", models.DateField()),
                ("due_on", models.DateField()),
                ("subtotal", models.DecimalField(max_digits=14, decimal_places=2)),
                ("tax", models.DecimalField(max_digits=14, decimal_places=2)),
                ("total", models.DecimalField(max_digits=14, decimal_places=2)),
                ("notes", models.TextField(blank=True)),
            ],
        ),
    ]
"""

# The migration being measured: a column and an index on a table that has rows.
SECOND = """
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("upline_bench_migrate_app", "0001_initial")]
    operations = [
        migrations.AddField(
            model_name="benchinvoice",
            name="external_reference",
            field=models.CharField(max_length=40, blank=True, default=""),
        ),
        migrations.AddIndex(
            model_name="benchinvoice",
            index=models.Index(fields=["status", "due_on"], name="bench_inv_status_due"),
        ),
    ]
"""

SETTINGS_MODULE = f'''
"""Benchmark settings plus the throw-away app (tests/bench/migrate.py)."""
from config.settings.bench import *  # noqa: F401,F403
from config.settings.bench import INSTALLED_APPS, SHARED_APPS, TENANT_APPS

TENANT_APPS = [*TENANT_APPS, "{APP}"]
SHARED_APPS = [*SHARED_APPS, "{APP}"]
INSTALLED_APPS = [*INSTALLED_APPS, "{APP}"]
'''


def _write_app(folder: Path) -> None:
    app = folder / APP
    (app / "migrations").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "models.py").write_text(textwrap.dedent(MODELS))
    (app / "migrations" / "__init__.py").write_text("")
    (app / "migrations" / "0001_initial.py").write_text(textwrap.dedent(INITIAL))
    (folder / f"{SETTINGS}.py").write_text(textwrap.dedent(SETTINGS_MODULE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--rows", type=int, default=1000, help="invoice rows per instance")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="upline-bench-migrate-"))
    _write_app(folder)
    sys.path.insert(0, str(folder))
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    from _setup import configure, drop

    configure(DB)
    sys.path.insert(0, str(folder))  # configure() rewrote sys.path
    from django.db import connection

    from shared_apps.tenancy.services import reseller_create

    started = time.perf_counter()
    schemas = []
    for i in range(args.tenants):
        reseller = reseller_create(
            slug=f"m{i}",
            name=f"m{i}",
            legal_name=f"M{i} Ltd",
            owner_email=f"o@m{i}.test",
            owner_password="bench-password-123",
            method="template",
        )
        schemas.append(reseller.schema_name)
        with connection.cursor() as cursor:
            cursor.execute(
                f'INSERT INTO "{reseller.schema_name}".{APP}_benchinvoice (number, customer_id,'
                " status, currency, issued_on, due_on, subtotal, tax, total, notes)"
                " SELECT 'INV-' || n, n %% 97, (ARRAY['draft','issued','paid'])[n %% 3 + 1], 'EUR',"
                " DATE '2026-01-01' + n %% 300, DATE '2026-01-31' + n %% 300, 100, 20, 120, ''"
                " FROM generate_series(1, %s) AS n",
                [args.rows],
            )
        if (i + 1) % 100 == 0:
            print(f"{i + 1} instances with {args.rows} invoices each", file=sys.stderr)
    print(
        f"{args.tenants} instances ready in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    connection.close()

    (folder / APP / "migrations" / "0002_reference_and_index.py").write_text(
        textwrap.dedent(SECOND)
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")]),
        "CI": "1",
    }
    root = Path(__file__).resolve().parents[2]
    started = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "manage.py", "upline_migrate", "--workers", str(args.workers)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    print(run.stdout.strip().splitlines()[-1] if run.stdout.strip() else "", file=sys.stderr)
    if run.returncode != 0:
        print(run.stderr, file=sys.stderr)
        raise SystemExit("upline_migrate failed")

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'bench_inv_status_due'"
            " AND schemaname = ANY(%s)",
            [schemas],
        )
        migrated = cursor.fetchone()[0]
    if migrated != len(schemas):
        raise SystemExit(f"only {migrated} of {len(schemas)} instances have the new index")

    result = {
        "bench": "migrate",
        "tenants": args.tenants,
        "rows_per_instance": args.rows,
        "workers": args.workers,
        "seconds": round(seconds, 1),
        "instances_per_second": round(args.tenants / seconds, 1),
        "target": f"seconds < {TARGET_SECONDS}",
        "meets_target": seconds < TARGET_SECONDS,
    }
    if not args.keep:
        drop(DB)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
