"""The manifest of a backup: what it holds, when and by which Upline it was made, each file's
size and SHA-256 — signed, so that a restore checks everything before it touches anything.

Every backup folder holds `manifest.json`, `manifest.sig` (HMAC-SHA256 of the manifest's
bytes under the archive key, `UPLINE_ARCHIVE_KEY` or one derived from SECRET_KEY) and the
files the manifest lists. The manifest is written last: a folder without one is a backup
that did not finish.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from django.core.files.storage import Storage
from django.utils import timezone

from provisioning import archive, schemas

from .storage import BackupStorageError, read_bytes

FORMAT = "upline-backup/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
_MAX_MANIFEST_BYTES = 256 * 1024 * 1024
_FILE_NAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,80}\Z")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}\Z")
_LOCATION_PART_RE = re.compile(r"^(?!\.\.?\Z)[\w.-]{1,120}\Z")


class BackupInvalid(Exception):
    """A backup that must not be restored: missing, unsigned, altered, damaged or foreign."""


def upline_version() -> str:
    try:
        return metadata.version("upline")
    except metadata.PackageNotFoundError:  # a checkout that was never installed
        return "unknown"


def file_entry(path: Path) -> dict[str, Any]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return {"sha256": digest.hexdigest(), "size": size}


def build(*, kind: str, backup_id: int, files: dict[str, dict], **facts: Any) -> dict[str, Any]:
    """A manifest: the common facts every backup states, plus the kind's own `facts`."""
    return {
        "format": FORMAT,
        "kind": kind,
        "backup_id": backup_id,
        "finished_at": timezone.now().isoformat(),
        "upline_version": upline_version(),
        "migration_version": schemas.migration_version(),
        "files": files,
        **facts,
    }


def encode(manifest: dict[str, Any]) -> tuple[bytes, bytes]:
    """The manifest's bytes and their signature."""
    data = json.dumps(manifest, indent=1, sort_keys=True).encode()
    return data, archive.manifest_signature(data).encode()


@dataclass(frozen=True)
class Manifest:
    """A manifest read back from storage and checked: signature, format, file list."""

    location: str
    data: dict[str, Any]
    sha256: str

    @property
    def kind(self) -> str:
        return self.data["kind"]

    @property
    def files(self) -> dict[str, dict]:
        return self.data["files"]

    def summary(self) -> str:
        when = self.data.get("finished_at", "?")
        if self.kind == "database":
            what = f"whole database ({len(self.data.get('schemas', []))} schemas)"
        else:
            what = f"instance {self.data.get('reseller', {}).get('slug', '?')}"
        size = sum(entry["size"] for entry in self.files.values())
        return f"{what}, made {when} by Upline {self.data.get('upline_version')}, {size} bytes"


def read(storage: Storage, location: str) -> Manifest:
    """Read and verify the manifest of the backup in `location` (nothing else is read)."""
    location = location.strip("/")
    if not location or not all(_LOCATION_PART_RE.match(part) for part in location.split("/")):
        raise BackupInvalid(
            f"“{location[:80]}” is not a backup's folder (e.g. database/20261130T023000Z-41 "
            "or instances/acme/20261130T023000Z-57; `upline_restore --list` shows them)."
        )
    try:
        data = read_bytes(storage, f"{location}/{MANIFEST}", _MAX_MANIFEST_BYTES)
    except BackupStorageError as exc:
        raise BackupInvalid(
            f"No finished backup at “{location}”: {exc} A backup that failed or is still "
            "running has no manifest."
        ) from exc
    try:
        signature = read_bytes(storage, f"{location}/{SIGNATURE}", 200).decode("ascii", "replace")
    except BackupStorageError as exc:
        raise BackupInvalid(f"The backup at “{location}” is not signed ({exc}).") from exc
    if not hmac.compare_digest(signature.strip(), archive.manifest_signature(data)):
        raise BackupInvalid(
            f"The manifest of the backup at “{location}” does not match its signature: it was "
            "changed after the backup, or the backup was made by a server with another "
            "archive key (set UPLINE_ARCHIVE_KEY, or the same DJANGO_SECRET_KEY, as there)."
        )
    try:
        manifest = json.loads(data)
    except ValueError as exc:
        raise BackupInvalid(f"The manifest at “{location}” is not valid JSON.") from exc
    _check_shape(manifest, location)
    return Manifest(location=location, data=manifest, sha256=hashlib.sha256(data).hexdigest())


def _check_shape(manifest: Any, location: str) -> None:
    def refuse(what: str) -> BackupInvalid:
        return BackupInvalid(f"The manifest at “{location}” is not valid: {what}.")

    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise refuse(f"it is not a {FORMAT} manifest")
    if manifest.get("kind") not in ("database", "instance"):
        raise refuse("it names no known kind of backup")
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise refuse("it lists no files")
    for name, entry in files.items():
        if (
            not isinstance(name, str)
            or not _FILE_NAME_RE.match(name)
            or name
            in (
                MANIFEST,
                SIGNATURE,
            )
        ):
            raise refuse(f"it lists a file with an unusable name ({name!r:.80})")
        if (
            not isinstance(entry, dict)
            or type(entry.get("size")) is not int
            or entry["size"] < 0
            or not isinstance(entry.get("sha256"), str)
            or not _SHA256_RE.match(entry["sha256"])
        ):
            raise refuse(f"the size or digest of {name}")


def find(storage: Storage) -> list[tuple[str, bool]]:
    """Every backup folder in `storage`, oldest first, and whether it finished (has its
    manifest) — read from the storage alone, for when the database is gone."""

    def folders(path: str) -> list[str]:
        try:
            return sorted(storage.listdir(path)[0])
        except FileNotFoundError:
            return []

    found = [f"database/{name}" for name in folders("database")]
    for slug in folders("instances"):
        found += [f"instances/{slug}/{name}" for name in folders(f"instances/{slug}")]
    result = [(location, storage.exists(f"{location}/{MANIFEST}")) for location in found]
    return sorted(result, key=lambda item: (item[0].rsplit("/", 1)[-1], item[0]))
