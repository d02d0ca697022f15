"""`manage.py reseller_export SLUG [--dir DIR]`: write the instance to a signed, portable archive.

The archive (format 2, see `provisioning.archive`) holds the instance's rows and stored
files, never SQL; `reseller_import` rebuilds it on a server with the same archive key.
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from shared_apps.tenancy.services import reseller_export

from ._common import COMMAND_ACTOR, get_reseller, readable_errors


class Command(BaseCommand):
    help = "Export one reseller's instance (rows and files) to a signed .tar.gz archive."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--dir", default=str(settings.UPLINE_EXPORT_DIR))

    def handle(self, *args, **options):
        reseller = get_reseller(options["slug"])
        with readable_errors():
            record = reseller_export(
                reseller=reseller, directory=Path(options["dir"]), actor=COMMAND_ACTOR
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Exported {reseller.name} to {record.path} "
                f"({record.size_bytes} bytes, sha256 {record.sha256[:16]}…)."
            )
        )
