"""Portable instance archives: one reseller schema as a .tar.gz that imports under any name.

Layout of an archive (format 1):

    manifest.json      reseller facts, migration version, tables and row counts, checksums
    pre_data.sql       tables and sequences (pg_dump pre-data, schema name neutralised)
    post_data.sql      indexes, constraints and foreign keys (pg_dump post-data)
    sequences.json     where each sequence continues
    data/<table>.copy  rows in PostgreSQL COPY text format

Import replays it like pg_restore does: pre-data, then rows, then post-data, so foreign
keys are checked once over complete data. Everything runs in the caller's transaction.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from django.utils import timezone

from . import schemas

FORMAT = 1


class ArchiveError(schemas.ProvisioningError):
    """The archive is missing, damaged or from an incompatible version."""


def _add(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    info.mtime = int(timezone.now().timestamp())
    tar.addfile(info, io.BytesIO(payload))


def schema_export(*, schema_name: str, manifest: dict, directory: Path) -> tuple[Path, str, int]:
    """Write `schema_name` to `directory`; returns (path, sha256, size in bytes)."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
    path = directory / f"{manifest['slug']}-{stamp}.tar.gz"
    pre = schemas.neutralise_schema(schemas.pg_dump_schema(schema_name, "pre-data"), schema_name)
    post = schemas.neutralise_schema(schemas.pg_dump_schema(schema_name, "post-data"), schema_name)
    tables = {}
    with tarfile.open(path, "w:gz") as tar:
        for table in schemas.table_names(schema_name):
            rows = schemas.copy_out(schema_name, table)
            tables[table] = rows.count("\n")
            _add(tar, f"data/{table}.copy", rows.encode())
        _add(tar, "pre_data.sql", pre.encode())
        _add(tar, "post_data.sql", post.encode())
        _add(tar, "sequences.json", json.dumps(schemas.sequence_values(schema_name)).encode())
        full = {
            **manifest,
            "format": FORMAT,
            "exported_at": timezone.now().isoformat(),
            "source_schema": schema_name,
            "migration_version": schemas.migration_version(),
            "tables": tables,
        }
        _add(tar, "manifest.json", json.dumps(full, indent=2).encode())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return path, digest, path.stat().st_size


def _open(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, "r:gz")
    except FileNotFoundError as exc:
        raise ArchiveError(f"No archive at {path}.") from exc
    except (tarfile.TarError, OSError) as exc:
        raise ArchiveError(f"{path} is not an Upline instance archive ({exc}).") from exc


def _read(tar: tarfile.TarFile, name: str) -> bytes:
    try:
        member = tar.extractfile(name)
    except KeyError as exc:
        raise ArchiveError(f"The archive has no {name}: it is incomplete.") from exc
    if member is None:
        raise ArchiveError(f"The archive's {name} is not a file.")
    return member.read()


def read_manifest(path: Path) -> dict:
    with _open(path) as tar:
        try:
            manifest = json.loads(_read(tar, "manifest.json"))
        except json.JSONDecodeError as exc:
            raise ArchiveError("The archive's manifest is not valid JSON.") from exc
    if manifest.get("format") != FORMAT:
        raise ArchiveError(f"Unsupported archive format {manifest.get('format')!r}.")
    for key in ("slug", "name", "legal_name", "contact_email", "tables"):
        if key not in manifest:
            raise ArchiveError(f"The archive's manifest lacks “{key}”.")
    return manifest


def schema_import(*, path: Path, schema_name: str) -> dict:
    """Rebuild the archived instance as `schema_name` in the current transaction."""
    manifest = read_manifest(path)
    if manifest["migration_version"] != schemas.migration_version():
        raise ArchiveError(
            "The archive was made by a different version of Upline (its migrations differ); "
            "import it with the version that exported it, migrate, and export again."
        )
    with _open(path) as tar:
        data = [
            {"table": table, "rows": _read(tar, f"data/{table}.copy").decode()}
            for table in manifest["tables"]
        ]
        schemas.replay(
            schema_name,
            pre_data=_read(tar, "pre_data.sql").decode(),
            post_data=_read(tar, "post_data.sql").decode(),
            data=data,
            sequences=json.loads(_read(tar, "sequences.json")),
        )
    return manifest
