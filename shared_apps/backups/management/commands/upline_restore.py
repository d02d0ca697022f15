"""`manage.py upline_restore BACKUP` — restore a backup, after checking it is whole.

BACKUP is a backup's folder in the backup storage (as `upline_backup --list` shows it,
e.g. database/20261130T023000Z-41), its number, or a local folder holding its
manifest.json. The manifest's signature and every file's SHA-256 are checked first; a
damaged or altered backup is refused before anything is touched (`--check` stops there).

* A whole-database backup goes into an EMPTY database only (`--database-url`, default
  DATABASE_URL): create one with `createdb`. Its media files go into the media folder.
  Every table's row count and checksum are then compared with the backup's.
* An instance archive becomes a new instance (its old slug, or `--slug NEW`, suspended
  unless `--status active`), or fills the existing instance `--into SLUG`, which must
  hold nothing yet.

`--list` shows the backups the storage holds (readable when the database is gone).
Refusals exit with status 1 and a sentence.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.files.storage import FileSystemStorage
from django.core.management.base import BaseCommand, CommandError

from shared_apps.backups import database as pg
from shared_apps.backups import manifest as manifests
from shared_apps.backups import services
from shared_apps.backups.storage import backup_storage, describe
from shared_apps.tenancy.models import Reseller
from tenant_apps.instance.errors import DomainError


class Command(BaseCommand):
    help = "Check and restore a backup: the whole database (into an empty one) or an instance."
    # A whole-database restore runs against an empty database: nothing may query it first.
    requires_system_checks: list = []

    def add_arguments(self, parser):
        parser.add_argument("backup", nargs="?", help="Folder in the backup storage, or number.")
        parser.add_argument("--list", action="store_true", help="Backups in the storage.")
        parser.add_argument(
            "--check", action="store_true", help="Only verify the backup; restore nothing."
        )
        parser.add_argument(
            "--database-url",
            default=None,
            help="The EMPTY database to restore into (default: DATABASE_URL).",
        )
        parser.add_argument("--slug", default=None, help="Instance archive: restore as SLUG.")
        parser.add_argument(
            "--into", default=None, metavar="SLUG", help="Instance archive: fill this empty one."
        )
        parser.add_argument(
            "--status",
            choices=[Reseller.Status.SUSPENDED, Reseller.Status.ACTIVE],
            default=Reseller.Status.SUSPENDED,
            help="How a new instance starts (default: suspended, for review).",
        )

    def handle(self, *args, **options):
        try:
            if options["list"]:
                return self._list()
            if not options["backup"]:
                raise CommandError("Name the backup to restore (`--list` shows them).")
            storage, location = self._locate(options["backup"])
            if options["check"]:
                return self._check(storage, location)
            manifest = manifests.read(storage, location)
            if manifest.kind == "database":
                return self._database(storage, location, options)
            return self._instance(storage, location, options)
        except manifests.BackupInvalid as exc:
            raise CommandError(str(exc)) from exc
        except (DomainError, pg.DatabaseBackupError, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from exc
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc

    def _locate(self, text: str):
        folder = Path(text)
        if (folder / manifests.MANIFEST).is_file():
            folder = folder.resolve()
            return FileSystemStorage(location=str(folder.parent)), folder.name
        if text.isdecimal():
            from shared_apps.backups.models import Backup

            backup = Backup.objects.filter(pk=int(text)).first()
            if backup is None or not backup.location:
                raise CommandError(f"There is no finished backup #{text}.")
            return backup_storage(), backup.location
        return backup_storage(), text.strip("/")

    def _list(self) -> None:
        found = manifests.find(backup_storage())
        if not found:
            self.stdout.write(f"No backups in {describe()}.")
            return
        self.stdout.write(f"Backups in {describe()}, oldest first:")
        for location, finished in found:
            self.stdout.write(f"  {location}{'' if finished else '   (unfinished: no manifest)'}")

    def _check(self, storage, location: str) -> None:
        with tempfile.TemporaryDirectory() as staging:
            verified = services.backup_verify(
                location=location, staging=Path(staging), storage=storage
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"The backup at {location} is whole: {verified.manifest.summary()}; every "
                "file matches its SHA-256."
            )
        )

    def _database(self, storage, location: str, options) -> None:
        url = options["database_url"]
        database = pg.Database.from_url(url) if url else pg.Database.configured()
        self.stdout.write(f"Restoring {location} into {database.label} …")
        report = services.database_restore(location=location, database=database, storage=storage)
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored {report.manifest.summary()} into {database.label}: {report.tables} "
                f"tables and {report.rows} rows, each matching the backup's checksum; "
                f"{report.files_written} files written to the media folder"
                + (
                    f" ({report.files_already_there} were there already)."
                    if report.files_already_there
                    else "."
                )
            )
        )
        if report.migrations_differ:
            self.stdout.write(
                "This code's migrations differ from the backup's: run `manage.py "
                "migrate_schemas --shared` and `manage.py upline_migrate` next."
            )

    def _instance(self, storage, location: str, options) -> None:
        if options["slug"] and options["into"]:
            raise CommandError("Give --slug (a new instance) or --into (an empty one), not both.")
        reseller = services.instance_restore(
            location=location,
            slug=options["slug"],
            into=options["into"],
            status=options["status"],
            actor="command",
            storage=storage,
        )
        how = "into the existing instance" if options["into"] else "as"
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored {location} {how} {reseller.slug} (schema {reseller.schema_name}), "
                f"{reseller.get_status_display().lower()}."
            )
        )
