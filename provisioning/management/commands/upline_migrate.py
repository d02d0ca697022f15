"""`manage.py upline_migrate`: migrate public, the template and every instance in parallel.

Safe to interrupt: run it again and it applies only what each schema still lacks (read
from the schema's own `django_migrations`, see `provisioning.instance_migrations`). One
schema failing is reported at the end and never stops the others.
"""

from __future__ import annotations

import argparse
import os
import time

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django_tenants.utils import get_public_schema_name, get_tenant_model

from provisioning import instance_migrations, schemas

# Session-level advisory lock held (on a connection of its own) for the whole run.
RUN_LOCK_KEY = 0x55504C494E47
# Without a terminal (CI, logs), a counter line at most this often (and at the end).
PLAIN_PROGRESS_SECONDS = 5.0


class Command(BaseCommand):
    help = (
        "Apply migrations everywhere: the public schema, then the instance template (and its "
        "snapshot), then every reseller instance in parallel worker processes. Interrupted "
        "runs resume: a second run applies only what is still missing. Stale pool schemas "
        "are dropped and the pool is refilled from the new template."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="instance schemas migrated at the same time (default: CPU count)",
        )
        # The option's earlier name, kept so existing scripts keep working.
        parser.add_argument("--processes", type=int, dest="workers", help=argparse.SUPPRESS)

    def handle(self, *args, **options):
        workers = options["workers"] if options["workers"] is not None else os.cpu_count() or 2
        if workers < 1:
            raise CommandError("--workers must be 1 or more.")
        quiet = max(options["verbosity"] - 1, 0)
        lock = self._lock()
        try:
            call_command("migrate_schemas", shared=True, interactive=False, verbosity=quiet)
            schemas.migration_version.cache_clear()
            snapshot = schemas.template_rebuild(verbosity=quiet)
            dropped = schemas.pool_discard_stale()
            names = list(
                get_tenant_model()
                .objects.exclude(schema_name=get_public_schema_name())
                .values_list("schema_name", flat=True)
            )
            survey = instance_migrations.survey(names)
            self.stdout.write(
                f"{len(survey.pending)} of {len(names)} instance schema(s) to migrate, "
                f"{len(survey.up_to_date)} already up to date."
            )
            failures = self._migrate(sorted(survey.pending), workers)
            failures += [
                instance_migrations.SchemaOutcome(name, error="the schema does not exist")
                for name in survey.missing
            ]
            connection.set_schema_to_public()
            built = schemas.pool_refill()
        except schemas.ProvisioningError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            lock.close()
        if failures:
            for outcome in sorted(failures, key=lambda o: o.schema_name):
                self.stderr.write(f"  {outcome.schema_name}: {outcome.error}")
            listed = ", ".join(sorted(o.schema_name for o in failures))
            raise CommandError(
                f"{len(failures)} of {len(names)} instance schema(s) failed to migrate: {listed}. "
                "The others are migrated; fix the cause and run upline_migrate again (it "
                "applies only what is still missing)."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"All instances migrated ({len(survey.pending)} changed); template "
                f"{snapshot.version[:12]}; {dropped} stale pool schema(s) dropped, {built} built."
            )
        )

    def _lock(self):
        """Hold the run lock on a connection of its own (workers close the shared ones)."""
        raw = connection.get_new_connection(connection.get_connection_params())
        raw.autocommit = True
        if not raw.execute("SELECT pg_try_advisory_lock(%s)", [RUN_LOCK_KEY]).fetchone()[0]:
            raw.close()
            raise CommandError(
                "Another upline_migrate is running on this database; wait for it to finish."
            )
        return raw

    def _migrate(self, pending: list[str], workers: int) -> list:
        """Run the instance migrations with a progress display; returns the failures."""
        failures: list[instance_migrations.SchemaOutcome] = []
        total = len(pending)
        if not total:
            return failures
        bar = None
        if self.stdout.isatty() and not os.environ.get("CI"):
            from tqdm import tqdm

            bar = tqdm(total=total, unit="schema", desc="instances", dynamic_ncols=True)
        done, last_line = 0, 0.0
        try:
            for outcome in instance_migrations.schemas_migrate(pending, workers=workers):
                done += 1
                if outcome.failed:
                    failures.append(outcome)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(failed=len(failures), refresh=False)
                    continue
                now = time.monotonic()
                if done == total or now - last_line >= PLAIN_PROGRESS_SECONDS or outcome.failed:
                    failed = f", {len(failures)} failed" if failures else ""
                    self.stdout.write(f"instances: {done}/{total} migrated{failed}")
                    self.stdout.flush()
                    last_line = now
        except KeyboardInterrupt:
            raise CommandError(
                f"Interrupted after {done} of {total} instance schema(s); run upline_migrate "
                "again to finish (it applies only what is still missing)."
            ) from None
        finally:
            if bar is not None:
                bar.close()
        return failures
