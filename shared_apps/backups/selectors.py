"""Reads of backups shared by the console screen and `upline_backup --list`."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet

from .models import Backup
from .storage import describe


def backup_list(*, kind: str | None = None, limit: int = 100) -> QuerySet[Backup]:
    """Newest first; `kind` narrows to whole-database dumps or instance archives."""
    rows = Backup.objects.all()
    if kind:
        rows = rows.filter(kind=kind)
    return rows.order_by("-created_at", "-id")[:limit]


def backup_last_failure() -> Backup | None:
    """The newest failed backup, unless a backup of the same thing succeeded after it."""
    failed = Backup.objects.filter(status=Backup.Status.FAILED).order_by("-finished_at").first()
    if failed is None:
        return None
    later = Backup.objects.filter(
        kind=failed.kind,
        reseller_slug=failed.reseller_slug,
        status=Backup.Status.SUCCEEDED,
        created_at__gt=failed.created_at,
    )
    return None if later.exists() else failed


def backup_last_success(kind: str = Backup.Kind.DATABASE) -> Backup | None:
    return (
        Backup.objects.filter(kind=kind, status=Backup.Status.SUCCEEDED)
        .order_by("-finished_at")
        .first()
    )


@dataclass(frozen=True)
class BackupPolicy:
    """How backups are configured, in words."""

    where: str
    keep_days: int
    schedule: str
    instance_archives: bool


def backup_policy() -> BackupPolicy:
    schedule = (settings.UPLINE_BACKUP_SCHEDULE or "").strip()
    return BackupPolicy(
        where=describe(),
        keep_days=settings.UPLINE_BACKUP_KEEP_DAYS,
        schedule="" if schedule in ("", "off") else schedule,
        instance_archives=settings.UPLINE_BACKUP_INSTANCE_ARCHIVES,
    )
