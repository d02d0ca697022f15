"""`manage.py upline_migrate`: migrate public, the template and every instance in parallel."""

import os

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from provisioning import schemas


class Command(BaseCommand):
    help = (
        "Apply migrations everywhere: the public schema, then the instance template (and its "
        "snapshot), then all reseller instances in parallel processes. Stale pool schemas are "
        "dropped and the pool is refilled from the new template."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--processes",
            type=int,
            default=os.cpu_count() or 2,
            help="parallel migration processes for the instances (default: CPU count)",
        )

    def handle(self, *args, **options):
        from django.conf import settings

        quiet = max(options["verbosity"] - 1, 0)
        settings.TENANT_MULTIPROCESSING_MAX_PROCESSES = max(options["processes"], 1)
        try:
            call_command("migrate_schemas", shared=True, interactive=False, verbosity=quiet)
            schemas.migration_version.cache_clear()
            snapshot = schemas.template_rebuild(verbosity=quiet)
            dropped = schemas.pool_discard_stale()
            connection.close()  # worker processes must not inherit this connection
            call_command(
                "migrate_schemas",
                tenant=True,
                interactive=False,
                verbosity=quiet,
                executor="multiprocessing" if options["processes"] > 1 else "standard",
            )
            built = schemas.pool_refill()
        except schemas.ProvisioningError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"All instances migrated; template {snapshot.version[:12]}; "
                f"{dropped} stale pool schema(s) dropped, {built} built."
            )
        )
