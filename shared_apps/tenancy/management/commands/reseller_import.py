"""`manage.py reseller_import ARCHIVE [--slug NEW]`: rebuild an exported instance."""

from pathlib import Path

from django.core.management.base import BaseCommand

from shared_apps.tenancy.services import reseller_import

from ._common import COMMAND_ACTOR, readable_errors


class Command(BaseCommand):
    help = "Import an instance archive into a new schema (under its old slug or --slug)."

    def add_arguments(self, parser):
        parser.add_argument("archive")
        parser.add_argument("--slug", default=None)

    def handle(self, *args, **options):
        with readable_errors():
            reseller = reseller_import(
                path=Path(options["archive"]), slug=options["slug"], actor=COMMAND_ACTOR
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {reseller.name} as {reseller.slug} (schema {reseller.schema_name})."
            )
        )
