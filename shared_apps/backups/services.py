"""Every write of backups: run them, record how they went, prune old ones, restore.

A run queues one whole-database backup (pg_dump of every schema plus the media files) and
one archive per reseller instance (the signed format of `provisioning.archive`), each a
`Backup` row and a task of its own, so a slow or failing instance delays or fails only
itself. Each backup is a folder in the backup storage with a signed manifest listing the
size and SHA-256 of its files; a failure is recorded on its row in plain words and logged.

Restoring reads nothing but the storage: the manifest's signature and every file's digest
are checked before anything is touched. A whole database goes only into an empty database
(there is no --force: restoring over data would mix two histories); an instance archive
becomes a new instance (`reseller_import`) or fills an existing one that holds nothing yet.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import Storage, default_storage
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from django_tenants.utils import get_public_schema_name, schema_context, schema_exists
from psycopg import sql

from provisioning import archive, schemas
from provisioning.schema_names import TEMPLATE_SCHEMA
from shared_apps.tenancy.models import Reseller
from shared_apps.tenancy.selectors import reseller_archive_facts
from shared_apps.tenancy.services import ArchiveRefused, reseller_import
from tenant_apps.instance import audit
from tenant_apps.instance.errors import DomainError
from tenant_apps.instance.pipelines import transition

from . import database as pg
from . import manifest as manifests
from .models import Backup
from .storage import (
    BackupStorageError,
    backup_storage,
    fetch,
    folder_delete,
    local_path,
    storage_kind,
    upload,
)

log = logging.getLogger(__name__)

# A backup task's limits (seconds); a row still "running" after STALE_AFTER lost its worker.
WORK_SOFT_SECONDS = 100 * 60
WORK_HARD_SECONDS = 110 * 60
STALE_AFTER = timedelta(seconds=WORK_HARD_SECONDS + 10 * 60)
# A queued backup no worker picked up in this long is reported, not left waiting silently.
NEVER_STARTED_AFTER = timedelta(hours=12)
DATABASE_FILE = "database.dump"
MEDIA_FILE = "media.tar"
ARCHIVE_FILE = "archive.tar.gz"
_DATABASE_LOCK = int.from_bytes(hashlib.sha256(b"upline.backups.database").digest()[:4], "big")

BACKUP_REQUESTED = audit.event_type("backup.requested", gettext_noop("Backup requested"))
RESELLER_RESTORED = audit.event_type(
    "reseller.restored", gettext_noop("Instance restored from a backup")
)


class BackupRefused(DomainError):
    """A backup or restore that cannot go ahead; the sentence says why and what to do."""

    code = "backup_refused"


# --------------------------------------------------------------------------------------
# Run


def backup_run(
    *,
    trigger: str = Backup.Trigger.SCHEDULE,
    actor: Any = None,
    include_database: bool = True,
    instance_slugs: list[str] | None = None,
    enqueue: bool = True,
) -> list[Backup]:
    """Queue a whole-database backup and one archive per reseller instance (all of them
    when UPLINE_BACKUP_INSTANCE_ARCHIVES is on, or those `instance_slugs` name); each runs
    as its own task once this transaction commits (`enqueue=False`: the caller runs them)."""
    if trigger != Backup.Trigger.SCHEDULE:
        # Refused now, with a sentence; a scheduled run records it on each backup instead.
        storage_kind()
    label = (getattr(actor, "email", "") or str(actor)) if actor is not None else trigger
    resellers = Reseller.objects.order_by("slug")
    if instance_slugs is not None:
        resellers = resellers.filter(slug__in=instance_slugs)
        unknown = sorted(set(instance_slugs) - set(resellers.values_list("slug", flat=True)))
        if unknown:
            raise BackupRefused(
                gettext("There is no instance %(slugs)s to back up.")
                % {"slugs": ", ".join(unknown)}
            )
    elif not settings.UPLINE_BACKUP_INSTANCE_ARCHIVES:
        resellers = resellers.none()
    with transaction.atomic():
        queued = []
        if include_database:
            queued.append(
                Backup.objects.create(
                    kind=Backup.Kind.DATABASE, trigger=trigger, requested_by=label
                )
            )
        queued += Backup.objects.bulk_create(
            Backup(
                kind=Backup.Kind.INSTANCE,
                trigger=trigger,
                requested_by=label,
                reseller_slug=slug,
                schema_name=schema_name,
            )
            for slug, schema_name in resellers.values_list("slug", "schema_name")
        )
        if not queued:
            raise BackupRefused(
                gettext("Nothing to back up: no database and no instance was chosen.")
            )
        if trigger == Backup.Trigger.OPERATOR:
            with schema_context(get_public_schema_name()):
                audit.audit_record(
                    BACKUP_REQUESTED,
                    actor=actor,
                    obj=queued[0],
                    object_label=f"backup #{queued[0].pk}",
                    detail={"backups": len(queued)},
                )
        if enqueue:
            ids = [(b.pk, b.kind) for b in queued]
            transaction.on_commit(lambda: _enqueue(ids))
    return queued


def _enqueue(ids: list[tuple[int, str]]) -> None:
    from . import tasks

    for backup_id, kind in ids:
        task = tasks.database_backup if kind == Backup.Kind.DATABASE else tasks.instance_backup
        task.delay(backup_id=backup_id)


def _claim(backup_id: int) -> Backup | None:
    """Move a queued backup to running; None when it is not queued (a redelivered task)."""
    with transaction.atomic():
        backup = Backup.objects.select_for_update().filter(pk=backup_id).first()
        if backup is None or backup.status != Backup.Status.QUEUED:
            return None
        transition(backup, Backup.Status.RUNNING, noun="The backup")
        backup.started_at = timezone.now()
        backup.storage = (settings.UPLINE_BACKUP_STORAGE or "file")[:10]
        backup.save(update_fields=["status", "started_at", "storage"])
    return backup


def _finish(backup: Backup, *, error: str = "", **fields: Any) -> Backup:
    with transaction.atomic():
        locked = Backup.objects.select_for_update().get(pk=backup.pk)
        transition(locked, Backup.Status.FAILED if error else Backup.Status.SUCCEEDED)
        locked.error = error
        locked.finished_at = timezone.now()
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.save()
    if error:
        log.error("Backup #%s (%s) failed: %s", locked.pk, locked, error)
    else:
        log.info("Backup #%s (%s) stored at %s", locked.pk, locked, locked.location)
    return locked


def _location(backup: Backup) -> str:
    stamp = (backup.started_at or timezone.now()).strftime("%Y%m%dT%H%M%SZ")
    if backup.kind == Backup.Kind.DATABASE:
        return f"database/{stamp}-{backup.pk}"
    return f"instances/{backup.reseller_slug}/{stamp}-{backup.pk}"


@contextmanager
def _staging():
    folder = settings.UPLINE_BACKUP_WORK_DIR or None
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix="upline-backup-") as path:
        yield Path(path)


def _store(storage: Storage, location: str, files: dict[str, Path], manifest: dict) -> str:
    """Upload the files, the signature, and the manifest last: once it is there, the
    backup is whole."""
    for name, path in files.items():
        upload(storage, f"{location}/{name}", path)
    data, signature = manifests.encode(manifest)
    with tempfile.TemporaryDirectory() as folder:
        for name, payload in ((manifests.SIGNATURE, signature), (manifests.MANIFEST, data)):
            path = Path(folder) / name
            path.write_bytes(payload)
            upload(storage, f"{location}/{name}", path)
    return hashlib.sha256(data).hexdigest()


def _discard(storage: Storage, location: str) -> None:
    try:
        folder_delete(storage, location)
    except Exception:  # the failure being reported matters more than the leftovers
        log.exception("Could not remove the partial backup at %s", location)


def _failure_text(exc: BaseException) -> str:
    from celery.exceptions import SoftTimeLimitExceeded

    if isinstance(exc, SoftTimeLimitExceeded):
        return gettext(
            "It took longer than %(minutes)s minutes and was stopped; a faster "
            "disk or network to the backup storage, or fewer instances per run, is needed."
        ) % {"minutes": WORK_SOFT_SECONDS // 60}
    if isinstance(
        exc,
        (pg.DatabaseBackupError, BackupStorageError, archive.ArchiveError, ImproperlyConfigured),
    ):
        return str(exc)
    return gettext("Unexpected error (%(type)s): %(error)s") % {
        "type": type(exc).__name__,
        "error": exc,
    }


def _perform(backup_id: int, work: Callable[[Backup, Storage, str], dict]) -> Backup | None:
    backup = _claim(backup_id)
    if backup is None:
        return None
    location = _location(backup)
    storage = None
    try:
        storage = backup_storage()
        fields = work(backup, storage, location)
    except Exception as exc:
        if storage is not None:
            _discard(storage, location)
        return _finish(backup, error=_failure_text(exc))
    backup = _finish(backup, location=location, **fields)
    backups_prune(kind=backup.kind, reseller_slug=backup.reseller_slug)
    return backup


def backup_database_perform(*, backup_id: int) -> Backup | None:
    """Dump the whole database and the media files to the backup storage (one at a time)."""

    def work(backup: Backup, storage: Storage, location: str) -> dict:
        database = pg.Database.configured()
        # The lock lives as long as this connection: a killed worker releases it.
        with database.connect() as lock_holder:
            cursor = lock_holder.cursor()
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [_DATABASE_LOCK])
            if not cursor.fetchone()[0]:
                raise pg.DatabaseBackupError(
                    gettext(
                        "Another whole-database backup was still running; this one was skipped "
                        "(the next scheduled run makes a new one)."
                    )
                )
            with _staging() as staging:
                dump_path, media_path = staging / DATABASE_FILE, staging / MEDIA_FILE
                facts = pg.dump(dump_path, database=database)
                media = pg.media_tar(default_storage, media_path)
                files = {DATABASE_FILE: dump_path, MEDIA_FILE: media_path}
                entries = {name: manifests.file_entry(path) for name, path in files.items()}
                manifest = manifests.build(
                    kind=Backup.Kind.DATABASE,
                    backup_id=backup.pk,
                    files=entries,
                    started_at=backup.started_at.isoformat(),
                    database={"name": database.name, "server_version": facts.server_version},
                    schemas=facts.schemas,
                    tables=facts.tables,
                    applied_migrations=facts.applied_migrations,
                    media=media,
                )
                digest = _store(storage, location, files, manifest)
        return {
            "size_bytes": sum(entry["size"] for entry in entries.values()),
            "manifest_sha256": digest,
        }

    return _perform(backup_id, work)


def backup_instance_perform(*, backup_id: int) -> Backup | None:
    """Write one reseller instance's signed archive to the backup storage."""

    def work(backup: Backup, storage: Storage, location: str) -> dict:
        reseller = Reseller.objects.filter(
            slug=backup.reseller_slug, schema_name=backup.schema_name
        ).first()
        if reseller is None or not schema_exists(backup.schema_name):
            raise pg.DatabaseBackupError(
                gettext(
                    "The instance %(slug)s no longer exists (deleted after the "
                    "backup was queued); nothing was archived."
                )
                % {"slug": backup.reseller_slug}
            )
        with _staging() as staging:
            path, digest, size = archive.schema_export(
                schema_name=reseller.schema_name,
                reseller=reseller_archive_facts(reseller),
                directory=staging,
            )
            # Read back through the import's own checks: an archive that cannot be
            # imported is a failed backup now, not a surprise on the day it is needed.
            with archive.archive_open(path) as reader:
                contents = reader.manifest
            manifest = manifests.build(
                kind=Backup.Kind.INSTANCE,
                backup_id=backup.pk,
                files={ARCHIVE_FILE: {"sha256": digest, "size": size}},
                started_at=backup.started_at.isoformat(),
                reseller={"slug": reseller.slug, "name": reseller.name},
                schema_name=reseller.schema_name,
                schemas=[reseller.schema_name],
                tables={table: spec["rows"] for table, spec in contents["tables"].items()},
                stored_files=sum(1 for name in contents["members"] if name.startswith("files/")),
            )
            manifest_digest = _store(storage, location, {ARCHIVE_FILE: path}, manifest)
        return {"size_bytes": size, "manifest_sha256": manifest_digest}

    return _perform(backup_id, work)


# --------------------------------------------------------------------------------------
# Sweep and prune


def backups_sweep(*, now=None) -> dict[str, int]:
    """Report backups whose worker vanished or that never started, then prune."""
    now = now or timezone.now()
    stale = 0
    for backup_id, status in Backup.objects.filter(
        status=Backup.Status.RUNNING, started_at__lt=now - STALE_AFTER
    ).values_list("pk", "status"):
        stale += _fail_abandoned(
            backup_id,
            status,
            gettext(
                "The worker stopped before the backup finished (killed, restarted or out of "
                "memory); the next run makes a new one."
            ),
        )
    for backup_id, status in Backup.objects.filter(
        status=Backup.Status.QUEUED, created_at__lt=now - NEVER_STARTED_AFTER
    ).values_list("pk", "status"):
        stale += _fail_abandoned(
            backup_id,
            status,
            gettext(
                "No worker started this backup within 12 hours: check that the Celery worker "
                "runs and reaches the broker."
            ),
        )
    return {"abandoned": stale, "pruned": backups_prune(now=now)}


def _fail_abandoned(backup_id: int, status: str, message: str) -> int:
    with transaction.atomic():
        backup = Backup.objects.select_for_update().filter(pk=backup_id, status=status).first()
        if backup is None:
            return 0
        _finish(backup, error=message)
    return 1


def _protected_ids(kind: str | None, reseller_slug: str | None) -> set[int]:
    """The newest successful backup of each series (whole database; each instance)."""
    rows = Backup.objects.filter(status=Backup.Status.SUCCEEDED)
    if kind is not None:
        rows = rows.filter(kind=kind, reseller_slug=reseller_slug or "")
    newest: dict[tuple[str, str], int] = {}
    for pk, row_kind, slug in rows.order_by("-finished_at", "-pk").values_list(
        "pk", "kind", "reseller_slug"
    ):
        newest.setdefault((row_kind, slug), pk)
    return set(newest.values())


def backups_prune(*, kind: str | None = None, reseller_slug: str | None = None, now=None) -> int:
    """Remove finished backups older than UPLINE_BACKUP_KEEP_DAYS (files and rows), except
    the newest successful one of each series, whatever its age; returns how many went."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.UPLINE_BACKUP_KEEP_DAYS)
    candidates = Backup.objects.filter(
        created_at__lt=cutoff, status__in=[Backup.Status.SUCCEEDED, Backup.Status.FAILED]
    )
    if kind is not None:
        candidates = candidates.filter(kind=kind, reseller_slug=reseller_slug or "")
    keep = _protected_ids(kind, reseller_slug)
    current = storage_kind()
    storage = None
    removed = 0
    for backup in candidates.exclude(pk__in=keep).order_by("created_at"):
        if backup.location:
            if backup.storage and backup.storage != current:
                continue  # kept in a storage no longer configured: not ours to reach now
            try:
                storage = storage or backup_storage()
                folder_delete(storage, backup.location)
            except Exception:
                log.exception("Could not remove the old backup at %s; kept", backup.location)
                continue
        backup.delete()
        removed += 1
    return removed


# --------------------------------------------------------------------------------------
# Restore


@dataclass
class Verified:
    """A backup whose manifest and files were checked; files are local paths."""

    manifest: manifests.Manifest
    files: dict[str, Path]


def backup_verify(*, location: str, staging: Path, storage: Storage | None = None) -> Verified:
    """Check the manifest's signature and every file's size and SHA-256 (files in an S3
    storage are copied into `staging` on the way). Raises BackupRefused with a sentence."""
    storage = storage or backup_storage()
    try:
        manifest = manifests.read(storage, location)
    except manifests.BackupInvalid as exc:
        raise BackupRefused(str(exc)) from exc
    files: dict[str, Path] = {}
    for name, entry in manifest.files.items():
        stored = f"{manifest.location}/{name}"
        path = local_path(storage, stored)
        try:
            if path is not None and path.is_file():
                found = manifests.file_entry(path)
                digest, size = found["sha256"], found["size"]
            elif path is not None:
                raise BackupStorageError(f"{stored} is missing from the backup storage.")
            else:
                path = staging / name
                digest, size = fetch(storage, stored, path)
        except BackupStorageError as exc:
            raise BackupRefused(
                f"The backup at “{manifest.location}” is incomplete: {exc}"
            ) from exc
        if size != entry["size"] or digest != entry["sha256"]:
            raise BackupRefused(
                f"{name} of the backup at “{manifest.location}” does not match its manifest "
                f"({size} bytes, SHA-256 {digest[:12]}…; the manifest says {entry['size']} "
                f"bytes, {entry['sha256'][:12]}…): the file is damaged or was changed. "
                "Nothing was restored; use another backup."
            )
        files[name] = path
    return Verified(manifest=manifest, files=files)


@dataclass
class DatabaseRestoreReport:
    manifest: manifests.Manifest
    tables: int
    rows: int
    files_written: int
    files_already_there: int
    migrations_differ: bool


def database_restore(
    *,
    location: str,
    database: pg.Database,
    media_storage: Storage | None = None,
    storage: Storage | None = None,
) -> DatabaseRestoreReport:
    """Restore a whole-database backup into the EMPTY `database` and its media files into
    `media_storage`, then check every table's rows against the manifest."""
    media_storage = media_storage or default_storage
    with _staging() as staging:
        verified = backup_verify(location=location, staging=staging, storage=storage)
        manifest = verified.manifest
        if manifest.kind != Backup.Kind.DATABASE:
            raise BackupRefused(
                f"The backup at “{manifest.location}” is one instance's archive, not the "
                "whole database: restore it with --instance."
            )
        for name in (DATABASE_FILE, MEDIA_FILE):
            if name not in verified.files:
                raise BackupRefused(f"The backup at “{manifest.location}” lacks its {name}.")
        try:
            holds = pg.emptiness(database)
            if holds:
                raise BackupRefused(
                    f"The database {database.label} is not empty ({holds}). A whole-database "
                    "backup is restored only into an empty database, so that nothing is "
                    "overwritten or mixed: create one (createdb NAME) and point "
                    "--database-url (or DATABASE_URL) at it. Nothing was changed."
                )
            present = pg.media_plan(verified.files[MEDIA_FILE], media_storage)
            pg.restore(verified.files[DATABASE_FILE], database=database)
        except pg.DatabaseBackupError as exc:
            raise BackupRefused(f"{exc} Nothing was restored into {database.label}.") from exc
        try:
            media = pg.media_write(verified.files[MEDIA_FILE], media_storage, skip=present)
        except (pg.DatabaseBackupError, OSError) as exc:
            raise BackupRefused(
                f"The database {database.label} was restored, but writing the media files "
                f"failed: {exc}. Unpack media.tar of the backup into the media folder by hand "
                "(tar -xf) once the cause is fixed."
            ) from exc
        found = pg.table_checksums(database)
    expected = manifest.data.get("tables", {})
    problems = pg.compare(expected, found)
    if problems:
        raise BackupRefused(
            f"The restored database {database.label} differs from the backup: "
            + "; ".join(problems[:10])
            + (" …" if len(problems) > 10 else "")
            + ". Do not use it: drop it and restore again (or restore another backup)."
        )
    return DatabaseRestoreReport(
        manifest=manifest,
        tables=len(found),
        rows=sum(entry["rows"] for entry in found.values()),
        files_written=media["written"],
        files_already_there=media["already_there"],
        migrations_differ=manifest.data.get("migration_version") != schemas.migration_version(),
    )


# Tables a new instance already fills (its owner, its issuer identity), and how many rows
# that takes; tables that record visits (sign-ins, sessions, the trail), not work.
_CREATION_ROWS = {"accounts_user": 1, "instance_issueridentity": 1}
_NOT_CONTENT = frozenset(
    {
        "instance_auditevent",
        "django_session",
        "django_admin_log",
        "axes_accessattempt",
        "axes_accessfailurelog",
        "axes_accesslog",
        "otp_totp_totpdevice",
        "otp_static_staticdevice",
        "otp_static_statictoken",
    }
)


def instance_contents(schema_name: str) -> str:
    """ "" when the instance holds nothing beyond what creating it put there; else, in
    words, what it holds (the tables with rows its users made, and its stored files)."""
    template = _row_counts(TEMPLATE_SCHEMA)
    mine = _row_counts(schema_name)
    extra = []
    for table, count in sorted(mine.items()):
        if table in _NOT_CONTENT or table in archive.LOCAL_ONLY_TABLES:
            continue
        allowed = max(template.get(table, 0), _CREATION_ROWS.get(table, 0))
        if count > allowed:
            extra.append(f"{table} ({count - allowed} rows)")
    files = sum(1 for _ in archive.instance_files(schema_name))
    if files:
        extra.append(f"{files} stored files")
    if not extra:
        return ""
    return ", ".join(extra[:6]) + (" …" if len(extra) > 6 else "")


def _row_counts(schema_name: str) -> dict[str, int]:
    tables = list(archive.table_columns(schema_name))
    if not tables:
        return {}
    query = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {}, count(*) FROM {}").format(
            sql.Literal(table), sql.Identifier(schema_name, table)
        )
        for table in tables
    )
    with connection.cursor() as cursor:
        cursor.execute(query.as_string(connection.connection))
        return dict(cursor.fetchall())


def instance_restore(
    *,
    location: str,
    slug: str | None = None,
    into: str | None = None,
    status: str = Reseller.Status.SUSPENDED,
    actor: Any = None,
    storage: Storage | None = None,
) -> Reseller:
    """Restore one instance archive: as a new instance (its own slug, or `slug`), or into
    the existing instance `into`, which must hold nothing yet. Never writes elsewhere: rows
    go into that instance's schema only, files under its own folder only."""
    with _staging() as staging:
        verified = backup_verify(location=location, staging=staging, storage=storage)
        if verified.manifest.kind != Backup.Kind.INSTANCE:
            raise BackupRefused(
                f"The backup at “{verified.manifest.location}” is a whole-database backup: "
                "restore it without --instance, into an empty database."
            )
        path = verified.files.get(ARCHIVE_FILE)
        if path is None:
            raise BackupRefused(f"The backup at “{location}” lacks its {ARCHIVE_FILE}.")
        if into is None:
            return reseller_import(path=path, slug=slug, status=status, actor=actor)
        return _restore_into(path=path, slug=into, actor=actor, location=location)


def _restore_into(*, path: Path, slug: str, actor: Any, location: str) -> Reseller:
    reseller = Reseller.objects.filter(slug=slug).first()
    if reseller is None:
        raise BackupRefused(
            f"There is no instance “{slug}” to restore into; leave out --into to restore the "
            "archive as a new instance."
        )
    try:
        with archive.archive_open(path) as reader, transaction.atomic():
            locked = Reseller.objects.select_for_update().get(pk=reseller.pk)
            holds = instance_contents(locked.schema_name)
            if holds:
                raise BackupRefused(
                    f"The instance {slug} is not empty: it holds {holds}. A backup is "
                    "restored only into an instance that holds nothing yet; restore it as a "
                    "new instance instead (--slug NEW-SLUG). Nothing was changed."
                )
            loaded = reader.load(schema_name=locked.schema_name)
            with schema_context(get_public_schema_name()):
                audit.audit_record(
                    RESELLER_RESTORED,
                    actor=actor,
                    obj=locked,
                    object_label=locked.slug,
                    detail={"backup": location, **loaded},
                )
    except archive.ArchiveError as exc:
        raise ArchiveRefused(str(exc)) from exc
    return locked
