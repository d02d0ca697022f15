"""`manage.py upline_backup` — back up now; `--list` what was backed up; `--prune` old ones.

Without options it backs up the whole database (pg_dump of every schema, plus the media
files) and every reseller instance's archive, here and now, and says how each went;
`--queue` hands them to the Celery workers instead. `--no-database` and `--instance SLUG`
(repeatable) narrow it down. A failed backup exits with status 1 after the others ran.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.timesince import timesince

from shared_apps.backups import selectors, services
from shared_apps.backups.models import Backup


class Command(BaseCommand):
    help = "Back up the whole database and every instance now (or --list, --prune)."

    def add_arguments(self, parser):
        parser.add_argument("--list", action="store_true", help="List recorded backups.")
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Remove backups past UPLINE_BACKUP_KEEP_DAYS (the newest good one stays).",
        )
        parser.add_argument(
            "--queue", action="store_true", help="Hand the backups to the Celery workers."
        )
        parser.add_argument("--no-database", action="store_true", help="Only instance archives.")
        parser.add_argument(
            "--instance",
            action="append",
            metavar="SLUG",
            help="Archive only this instance (repeatable); none: every instance.",
        )
        parser.add_argument("--limit", type=int, default=50, help="Rows --list shows.")

    def handle(self, *args, **options):
        try:
            if options["list"]:
                return self._list(options["limit"])
            if options["prune"]:
                result = services.backups_sweep()
                self.stdout.write(
                    f"Removed {result['pruned']} backups past their "
                    f"{selectors.backup_policy().keep_days} days; marked "
                    f"{result['abandoned']} abandoned ones as failed."
                )
                return
            self._run(options)
        except (services.BackupRefused, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from exc

    def _run(self, options):
        backups = services.backup_run(
            trigger=Backup.Trigger.COMMAND,
            actor="command",
            include_database=not options["no_database"],
            instance_slugs=options["instance"],
            enqueue=options["queue"],
        )
        policy = selectors.backup_policy()
        if options["queue"]:
            self.stdout.write(
                f"Queued {len(backups)} backups for the workers, to {policy.where}; "
                "`upline_backup --list` shows how they went."
            )
            return
        failed = 0
        for backup in backups:
            perform = (
                services.backup_database_perform
                if backup.kind == Backup.Kind.DATABASE
                else services.backup_instance_perform
            )
            done = perform(backup_id=backup.pk) or Backup.objects.get(pk=backup.pk)
            if done.status == Backup.Status.SUCCEEDED:
                self.stdout.write(
                    self.style.SUCCESS(
                        f"{self._what(done)}: stored at {done.location} "
                        f"({filesizeformat(done.size_bytes)})."
                    )
                )
            else:
                failed += 1
                self.stderr.write(self.style.ERROR(f"{self._what(done)} failed: {done.error}"))
        if failed:
            raise CommandError(
                f"{failed} of {len(backups)} backups failed (see above); the others are in "
                f"{policy.where}."
            )
        self.stdout.write(f"{len(backups)} backups in {policy.where}.")

    @staticmethod
    def _what(backup: Backup) -> str:
        if backup.kind == Backup.Kind.DATABASE:
            return f"Backup #{backup.pk}, whole database"
        return f"Backup #{backup.pk}, instance {backup.reseller_slug}"

    def _list(self, limit: int) -> None:
        rows = list(selectors.backup_list(limit=limit))
        policy = selectors.backup_policy()
        self.stdout.write(
            f"Backups go to {policy.where}, kept {policy.keep_days} days"
            + (f", scheduled “{policy.schedule}” (UTC)." if policy.schedule else ", unscheduled.")
        )
        if not rows:
            self.stdout.write("No backups yet: `manage.py upline_backup` makes one.")
            return
        now = timezone.now()
        for backup in rows:
            what = "database" if backup.kind == Backup.Kind.DATABASE else backup.reseller_slug
            line = (
                f"#{backup.pk:<6} {backup.status:<9} {what:<24} "
                f"{timesince(backup.created_at, now)} ago  "
                f"{filesizeformat(backup.size_bytes) if backup.size_bytes else '-':>9}  "
                f"{backup.location or '-'}"
            )
            if backup.error:
                line += f"\n        {backup.error}"
            self.stdout.write(line)
