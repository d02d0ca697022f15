"""Where backups are kept: a local folder or an S3-compatible bucket, chosen by settings.

`backup_storage()` returns a Django storage (django-storages' S3 backend for "s3"), so the
rest of the app reads and writes backups the same way wherever they are. A backup is a
folder of that storage: `database/<stamp>-<id>/` or `instances/<slug>/<stamp>-<id>/`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage
from django.utils.translation import gettext

CHUNK = 1024 * 1024
KINDS = ("file", "s3")


class BackupStorageError(Exception):
    """The backup storage cannot be reached or refused a read or write; the sentence says why."""


def storage_kind() -> str:
    kind = (settings.UPLINE_BACKUP_STORAGE or "file").strip().lower()
    if kind not in KINDS:
        raise ImproperlyConfigured(
            gettext(
                "UPLINE_BACKUP_STORAGE is “%(kind)s”; use “file” (a folder, UPLINE_BACKUP_DIR) "
                "or “s3” (an S3-compatible bucket, UPLINE_BACKUP_S3_BUCKET)."
            )
            % {"kind": kind}
        )
    return kind


def backup_storage() -> Storage:
    """The storage configured for backups (a new instance: settings may change in tests)."""
    if storage_kind() == "file":
        return FileSystemStorage(location=str(settings.UPLINE_BACKUP_DIR))
    if not settings.UPLINE_BACKUP_S3_BUCKET:
        raise ImproperlyConfigured(
            gettext(
                "UPLINE_BACKUP_STORAGE is “s3” but UPLINE_BACKUP_S3_BUCKET is empty: name the "
                "bucket (and UPLINE_BACKUP_S3_ENDPOINT_URL for a provider other than AWS)."
            )
        )
    from storages.backends.s3 import S3Storage

    return S3Storage(
        bucket_name=settings.UPLINE_BACKUP_S3_BUCKET,
        location=settings.UPLINE_BACKUP_S3_PREFIX.strip("/"),
        endpoint_url=settings.UPLINE_BACKUP_S3_ENDPOINT_URL or None,
        region_name=settings.UPLINE_BACKUP_S3_REGION or None,
        access_key=settings.UPLINE_BACKUP_S3_ACCESS_KEY_ID or None,
        secret_key=settings.UPLINE_BACKUP_S3_SECRET_ACCESS_KEY or None,
        # Backups are private and never replaced in place.
        default_acl="private",
        querystring_auth=True,
        file_overwrite=False,
    )


def describe() -> str:
    """Where backups go, in words for the console and the commands."""
    if storage_kind() == "file":
        return gettext("the folder %(path)s") % {"path": settings.UPLINE_BACKUP_DIR}
    values = {
        "bucket": settings.UPLINE_BACKUP_S3_BUCKET,
        "prefix": settings.UPLINE_BACKUP_S3_PREFIX.strip("/"),
        "endpoint": settings.UPLINE_BACKUP_S3_ENDPOINT_URL,
    }
    if values["prefix"] and values["endpoint"]:
        return gettext("the S3 bucket “%(bucket)s” under %(prefix)s/ at %(endpoint)s") % values
    if values["prefix"]:
        return gettext("the S3 bucket “%(bucket)s” under %(prefix)s/") % values
    if values["endpoint"]:
        return gettext("the S3 bucket “%(bucket)s” at %(endpoint)s") % values
    return gettext("the S3 bucket “%(bucket)s”") % values


def _failed(action: str, name: str, exc: Exception) -> BackupStorageError:
    values = {"where": describe(), "name": name, "error": exc}
    if action == "store":
        sentence = gettext("The backup storage (%(where)s) could not store %(name)s: %(error)s")
    else:
        sentence = gettext("The backup storage (%(where)s) could not read %(name)s: %(error)s")
    return BackupStorageError(sentence % values)


def _missing(name: str) -> str:
    return gettext("%(name)s is missing from the backup storage.") % {"name": name}


def _not_stored(name: str) -> str:
    return gettext("%(name)s is not in the backup storage (%(where)s).") % {
        "name": name,
        "where": describe(),
    }


def upload(storage: Storage, name: str, source: Path) -> None:
    """Store the local file `source` as `name`; refuse to end up under another name."""
    try:
        with source.open("rb") as handle:
            stored = storage.save(name, File(handle, name=name))
    except Exception as exc:  # any backend error (OSError, botocore's) becomes one sentence
        raise _failed("store", name, exc) from exc
    if stored != name:
        storage.delete(stored)
        raise BackupStorageError(
            gettext("%(name)s already exists in the backup storage; nothing replaced.")
            % {"name": name}
        )


def read_bytes(storage: Storage, name: str, limit: int) -> bytes:
    try:
        with storage.open(name, "rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError as exc:
        raise BackupStorageError(_not_stored(name)) from exc
    except Exception as exc:
        if _is_missing(exc):
            raise BackupStorageError(_not_stored(name)) from exc
        raise _failed("read", name, exc) from exc
    if len(data) > limit:
        raise BackupStorageError(
            gettext("%(name)s is larger than a backup manifest can be.") % {"name": name}
        )
    return data


def _is_missing(exc: Exception) -> bool:
    response = getattr(exc, "response", None)
    code = (response or {}).get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code in ("404", "NoSuchKey", "NotFound")


def fetch(storage: Storage, name: str, target: Path) -> tuple[str, int]:
    """Copy `name` to the local file `target`; returns (sha256, size) of what was copied."""
    digest, size = hashlib.sha256(), 0
    try:
        with storage.open(name, "rb") as source, target.open("wb") as out:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
    except FileNotFoundError as exc:
        raise BackupStorageError(_missing(name)) from exc
    except Exception as exc:
        if _is_missing(exc):
            raise BackupStorageError(_missing(name)) from exc
        raise _failed("read", name, exc) from exc
    return digest.hexdigest(), size


def local_path(storage: Storage, name: str) -> Path | None:
    """The file's path on this machine when the storage is a folder (no copy needed)."""
    try:
        return Path(storage.path(name))
    except NotImplementedError:
        return None


def folder_files(storage: Storage, folder: str) -> Iterator[str]:
    """Every file below `folder` (storage names)."""
    pending = [folder.rstrip("/")]
    while pending:
        current = pending.pop()
        try:
            folders, files = storage.listdir(current)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in files:
            yield f"{current}/{name}" if current else name
        pending.extend(f"{current}/{name}" if current else name for name in folders)


def folder_delete(storage: Storage, folder: str) -> int:
    """Remove a backup's folder and everything in it; returns how many files went."""
    removed = 0
    for name in list(folder_files(storage, folder)):
        storage.delete(name)
        removed += 1
    if isinstance(storage, FileSystemStorage):
        # Empty folders left behind (the backup's, then its instance's if now empty).
        path = Path(storage.path(folder))
        for candidate in (path, path.parent):
            try:
                if candidate != Path(storage.location) and candidate.is_dir():
                    os.rmdir(candidate)
            except OSError:
                break  # not empty: another backup lives there
    return removed
