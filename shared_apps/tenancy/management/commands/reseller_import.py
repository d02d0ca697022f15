"""`manage.py reseller_import ARCHIVE [--slug NEW] [--status active] [--allocation CODE=N]`.

Rebuilds an exported instance from a signed archive (rows and files only). It starts
suspended for review unless `--status active`; `--allocation` grants quantities in place
of the archived ones. A refused archive exits with status 1 and one sentence.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from shared_apps.tenancy.models import Reseller
from shared_apps.tenancy.services import IMPORT_STATUSES, reseller_import

from ._common import COMMAND_ACTOR, readable_errors


def _allocation(text: str) -> tuple[str, int]:
    code, sep, quantity = text.partition("=")
    if not sep or not code.strip() or not quantity.strip().isdecimal():
        raise CommandError(f"--allocation takes CODE=N (e.g. disk_gb=100), not “{text}”.")
    return code.strip(), int(quantity)


class Command(BaseCommand):
    help = "Import a signed instance archive into a new schema (under its old slug or --slug)."

    def add_arguments(self, parser):
        parser.add_argument("archive")
        parser.add_argument("--slug", default=None)
        parser.add_argument(
            "--status",
            choices=[str(s) for s in IMPORT_STATUSES],
            default=Reseller.Status.SUSPENDED,
            help="How the instance starts (default: suspended, for review).",
        )
        parser.add_argument(
            "--allocation",
            action="append",
            default=[],
            metavar="CODE=N",
            help="Grant N of a resource instead of the archived quantity (repeatable).",
        )

    def handle(self, *args, **options):
        allocations = dict(_allocation(item) for item in options["allocation"])
        with readable_errors():
            reseller = reseller_import(
                path=Path(options["archive"]),
                slug=options["slug"],
                status=options["status"],
                allocations=allocations or None,
                actor=COMMAND_ACTOR,
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {reseller.name} as {reseller.slug} (schema {reseller.schema_name}), "
                f"{reseller.get_status_display().lower()}."
            )
        )
