"""`manage.py upline_setup`: migrate the public schema, build the template, fill the pool."""

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from provisioning import schemas


class Command(BaseCommand):
    help = "Prepare the database: public schema, instance template and warm pool."

    def add_arguments(self, parser):
        parser.add_argument("--pool", type=int, default=None, help="warm pool size to reach")

    def handle(self, *args, **options):
        verbosity = options["verbosity"]
        try:
            call_command(
                "migrate_schemas", shared=True, interactive=False, verbosity=max(verbosity - 1, 0)
            )
            snapshot = schemas.template_rebuild(verbosity=max(verbosity - 1, 0))
            built = schemas.pool_refill(options["pool"])
        except schemas.ProvisioningError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Public schema migrated; template {snapshot.version[:12]} ready; "
                f"{built} pool schema(s) built."
            )
        )
