"""Portable instance archives: one reseller's rows and files as a signed .tar.gz — data, never code.

Layout of an archive (format 2), members in this order:

    manifest.json      reseller facts, migration state, each table's column list and row
                       count, and the size and SHA-256 of every member that follows
    manifest.sig       HMAC-SHA256 of manifest.json's bytes under the server's archive key
    data/<table>.copy  the table's rows in PostgreSQL COPY text format, columns as listed
    files/<path>       the instance's stored files (invoice PDFs, ticket attachments, logo),
                       relative to its media folder `<schema>/`

Import never runs SQL taken from an archive (format 1 carried pg_dump SQL and is refused).
The schema is built from the local template exactly as a new reseller's is; the archive
only contributes rows, copied into tables and columns that the local template has (names
quoted as identifiers, never pasted), and files, written under the new instance's folder.
Sequences continue after the loaded ids, and deferred foreign keys are checked before the
import returns. The signature covers the manifest, the manifest covers every member, and
every member is verified while it streams past — never unpacked whole in memory or on disk:
members are capped in number and size (`UPLINE_ARCHIVE_MAX_*`), so a gzip bomb is refused
after reading at most a cap's worth. Links, devices, absolute names and `..` are refused.

Everything runs in the caller's transaction; files written by a failed import are removed
when its `ArchiveReader` closes on the error.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from django.apps import apps
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from psycopg import sql

from . import schemas
from .schema_names import validate_schema_name

FORMAT = 2
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
# Tables that describe the local code, not the instance: the new schema keeps the template's.
LOCAL_ONLY_TABLES = frozenset({"django_migrations"})
# What format 1 archives held besides rows: SQL (or values pasted into SQL) to replay.
_FORMAT_1_MEMBERS = frozenset({"pre_data.sql", "post_data.sql", "sequences.json"})

_KEY_SALT = "upline.provisioning.archive.signing-key"
_CHUNK = 1024 * 1024
# Bytes tar may read around a member (headers, padding, its read-ahead); a pax or long-name
# header asking for more is refused before tarfile buffers it.
_HEADER_ALLOWANCE = 1024 * 1024
_MANIFEST_MAX_BYTES = 64 * 1024 * 1024

_IDENTIFIER_RE = re.compile(r"^[a-z_][a-z0-9_$]{0,62}\Z")
_PATH_PART_RE = re.compile(r"^[-\w.]{1,255}\Z")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}\Z")


class ArchiveError(schemas.ProvisioningError):
    """The archive is missing, damaged, unsigned, altered or from an incompatible version."""


@dataclass(frozen=True)
class Limits:
    member_bytes: int
    members: int
    total_bytes: int


def limits() -> Limits:
    return Limits(
        member_bytes=settings.UPLINE_ARCHIVE_MAX_MEMBER_BYTES,
        members=settings.UPLINE_ARCHIVE_MAX_MEMBERS,
        total_bytes=settings.UPLINE_ARCHIVE_MAX_TOTAL_BYTES,
    )


# --------------------------------------------------------------------------------------
# Signing


def _signing_key() -> bytes:
    """UPLINE_ARCHIVE_KEY, else a key derived from SECRET_KEY for this use only."""
    secret = settings.UPLINE_ARCHIVE_KEY or settings.SECRET_KEY
    return salted_hmac(_KEY_SALT, "instance archives", secret=secret, algorithm="sha256").digest()


def manifest_signature(manifest_bytes: bytes) -> str:
    return hmac.new(_signing_key(), manifest_bytes, hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------------------
# Names, catalogue and files of an instance


def _quoted(name: str, limit: int = 80) -> str:
    """A name from an archive, shortened and safe to put in a message."""
    text = name if len(name) <= limit else name[:limit] + "…"
    return json.dumps(text, ensure_ascii=True)


def check_member_name(name: str) -> str:
    """Refuse names that could escape a folder or that format 2 does not use."""
    if (
        not isinstance(name, str)
        or not name
        or len(name) > 1000
        or name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or any(part in ("", ".", "..") for part in name.split("/"))
    ):
        raise ArchiveError(
            f"The archive holds a member with an unsafe name ({_quoted(str(name))}): absolute "
            "paths, “..” and empty path parts are refused."
        )
    if name in (MANIFEST, SIGNATURE):
        return name
    if name.startswith("data/") and name.endswith(".copy"):
        if _IDENTIFIER_RE.match(name[len("data/") : -len(".copy")]):
            return name
    elif name.startswith("files/"):
        if all(_PATH_PART_RE.match(part) for part in name[len("files/") :].split("/")):
            return name
    raise ArchiveError(f"The archive holds a member Upline does not use: {_quoted(name)}.")


def _table_of(member: str) -> str:
    return member[len("data/") : -len(".copy")]


def _raw_cursor() -> psycopg.Cursor:
    return schemas._raw_cursor()


def table_columns(schema_name: str) -> dict[str, list[str]]:
    """Every table of `schema_name` and its stored columns, in table order (from the catalogue)."""
    cursor = _raw_cursor()
    cursor.execute(
        "SELECT c.relname, a.attname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid "
        "WHERE n.nspname = %s AND c.relkind = 'r' AND a.attnum > 0 "
        "AND NOT a.attisdropped AND a.attgenerated = '' "
        "ORDER BY c.relname, a.attnum",
        [schema_name],
    )
    tables: dict[str, list[str]] = {}
    for table, column in cursor.fetchall():
        tables.setdefault(table, []).append(column)
    return tables


def _file_columns(tables: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(table, column) of every FileField stored in these tables (Django's model registry)."""
    found = set()
    for model in apps.get_models():
        table = model._meta.db_table
        for field in model._meta.concrete_fields:
            if isinstance(field, models.FileField) and field.column in tables.get(table, ()):
                found.add((table, field.column))
    return sorted(found)


def _is_link(storage, name: str) -> bool:
    try:
        return os.path.islink(storage.path(name))
    except NotImplementedError:  # storages without local paths have no links
        return False


def instance_files(schema_name: str, storage=None) -> Iterator[str]:
    """Storage names of every file in the instance's media folder `<schema>/` (links skipped)."""
    storage = storage or default_storage
    pending = [schema_name]
    while pending:
        folder = pending.pop()
        try:
            folders, files = storage.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in sorted(files):
            path = f"{folder}/{name}"
            if not _is_link(storage, path):
                yield path
        pending.extend(
            f"{folder}/{name}"
            for name in sorted(folders, reverse=True)
            if not _is_link(storage, f"{folder}/{name}")
        )


def instance_files_delete(schema_name: str, storage=None) -> int:
    """Remove the instance's media folder (after its schema was dropped); returns files removed."""
    validate_schema_name(schema_name)
    storage = storage or default_storage
    removed = 0
    for name in list(instance_files(schema_name, storage)):
        storage.delete(name)
        removed += 1
    try:
        folder = storage.path(schema_name)
    except NotImplementedError:
        return removed
    if os.path.isdir(folder) and not os.path.islink(folder):
        shutil.rmtree(folder, ignore_errors=True)
    return removed


# --------------------------------------------------------------------------------------
# Export


def _add_member(tar: tarfile.TarFile, name: str, source: Path | bytes) -> None:
    info = tarfile.TarInfo(name)
    info.mtime = int(timezone.now().timestamp())
    info.mode = 0o644
    if isinstance(source, bytes):
        info.size = len(source)
        tar.addfile(info, io.BytesIO(source))
        return
    info.size = source.stat().st_size
    with source.open("rb") as handle:
        tar.addfile(info, handle)


def _stage_table(schema_name: str, table: str, columns: list[str], target: Path) -> dict:
    query = sql.SQL("COPY {} ({}) TO STDOUT").format(
        sql.Identifier(schema_name, table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    digest, size, rows = hashlib.sha256(), 0, 0
    with target.open("wb") as out, _raw_cursor().copy(query) as copy:
        for chunk in copy:
            data = bytes(chunk)
            digest.update(data)
            size += len(data)
            rows += data.count(b"\n")  # text format escapes newlines inside values
            out.write(data)
    return {"sha256": digest.hexdigest(), "size": size, "rows": rows}


def _stage_file(storage, name: str, target: Path) -> dict:
    digest, size = hashlib.sha256(), 0
    with storage.open(name, "rb") as source, target.open("wb") as out:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return {"sha256": digest.hexdigest(), "size": size}


@contextmanager
def _one_snapshot():
    """All tables read from one snapshot, even while the instance keeps working."""
    if connection.in_atomic_block:  # the caller's transaction already is one view
        yield
        return
    with transaction.atomic():
        _raw_cursor().execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _check_export_limits(members: dict[str, dict]) -> None:
    cap = limits()
    for name, entry in members.items():
        if entry["size"] > cap.member_bytes:
            raise ArchiveError(
                f"{name} is {entry['size']} bytes, more than an archive member may hold "
                f"({cap.member_bytes}); raise UPLINE_ARCHIVE_MAX_MEMBER_BYTES to export it."
            )
    if len(members) + 2 > cap.members:
        raise ArchiveError(
            f"The instance needs {len(members) + 2} archive members, more than "
            f"UPLINE_ARCHIVE_MAX_MEMBERS ({cap.members}) allows."
        )
    total = sum(entry["size"] for entry in members.values())
    if total > cap.total_bytes:
        raise ArchiveError(
            f"The instance holds {total} bytes, more than UPLINE_ARCHIVE_MAX_TOTAL_BYTES "
            f"({cap.total_bytes}) allows."
        )


def schema_export(*, schema_name: str, reseller: dict, directory: Path) -> tuple[Path, str, int]:
    """Write the instance in `schema_name` to `directory`; returns (path, sha256, bytes).

    `reseller` holds the platform's facts about it (slug, names, domains, allocations).
    Members are staged in a temporary folder first: the manifest that lists their digests
    leads the archive, so that an import can check each member while streaming it.
    """
    validate_schema_name(schema_name)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
    path = directory / f"{reseller['slug']}-{stamp}.tar.gz"
    storage = default_storage
    with tempfile.TemporaryDirectory(dir=directory, prefix=".export-") as staging_dir:
        staging = Path(staging_dir)
        staged: list[tuple[str, Path]] = []
        members: dict[str, dict] = {}
        tables: dict[str, dict] = {}
        with _one_snapshot():
            for table, columns in table_columns(schema_name).items():
                if table in LOCAL_ONLY_TABLES:
                    continue
                name = check_member_name(f"data/{table}.copy")
                target = staging / str(len(staged))
                entry = _stage_table(schema_name, table, columns, target)
                tables[table] = {"columns": columns, "rows": entry.pop("rows")}
                members[name] = entry
                staged.append((name, target))
        prefix = schema_name + "/"
        for stored in instance_files(schema_name, storage):
            try:
                name = check_member_name("files/" + stored[len(prefix) :])
            except ArchiveError as exc:
                raise ArchiveError(
                    f"The stored file {_quoted(stored)} has a name archives do not carry "
                    "(letters, digits, “-”, “_” and “.” only); rename it and export again."
                ) from exc
            target = staging / str(len(staged))
            members[name] = _stage_file(storage, stored, target)
            staged.append((name, target))
        _check_export_limits(members)
        manifest = {
            "format": FORMAT,
            "exported_at": timezone.now().isoformat(),
            "source_schema": schema_name,
            "migration_version": schemas.migration_version(),
            "reseller": reseller,
            "tables": tables,
            "members": members,
        }
        manifest_bytes = json.dumps(manifest, indent=1, sort_keys=True).encode()
        partial = path.with_name(path.name + ".partial")
        try:
            with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
                _add_member(tar, MANIFEST, manifest_bytes)
                _add_member(tar, SIGNATURE, manifest_signature(manifest_bytes).encode())
                for name, target in staged:
                    _add_member(tar, name, target)
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return path, digest.hexdigest(), path.stat().st_size


# --------------------------------------------------------------------------------------
# Import


class _Allowance(io.RawIOBase):
    """The decompressed stream, refusing to give tar more than the current allowance.

    tarfile buffers pax and long-name headers whole; the allowance stops a header (or a
    member) that claims gigabytes before it is decompressed, not after.
    """

    def __init__(self, raw):
        self._raw = raw
        self.left = 0

    def readable(self) -> bool:
        return True

    def allow(self, size: int) -> None:
        self.left = size + _HEADER_ALLOWANCE

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or size > self.left + 1:
            size = self.left + 1
        data = self._raw.read(size)
        self.left -= len(data)
        if self.left < 0:
            raise ArchiveError(
                "The archive unpacks to more than the size limits allow "
                "(UPLINE_ARCHIVE_MAX_MEMBER_BYTES); refused while reading."
            )
        return data


class _VerifiedMember:
    """One member's bytes as they stream, hashed and counted against the manifest."""

    def __init__(self, handle, name: str, expected: dict):
        self._handle = handle
        self._name = name
        self._expected = expected
        self._digest = hashlib.sha256()
        self._size = 0

    def read(self, size: int = _CHUNK) -> bytes:
        if size is None or size < 0:
            size = _CHUNK
        data = self._handle.read(min(size, _CHUNK))
        self._size += len(data)
        if self._size > self._expected["size"]:
            raise ArchiveError(f"{self._name} is longer than its manifest says.")
        self._digest.update(data)
        return data

    def verify(self) -> None:
        if (
            self._size != self._expected["size"]
            or self._digest.hexdigest() != self._expected["sha256"]
        ):
            raise ArchiveError(
                f"{self._name} does not match the digest its manifest lists: the archive was "
                "changed or damaged after export."
            )


def _not_an_archive(path: Path, exc: Exception) -> ArchiveError:
    return ArchiveError(f"{path} is not an Upline instance archive ({exc}).")


class ArchiveReader:
    """An archive opened for import: the manifest is verified on entering, members on `load`.

    Use as a context manager around the whole import; when it exits on an error, the files
    `load` wrote are removed again (the database side rolls back with the transaction).
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.manifest: dict[str, Any] = {}
        self.files_written: list[str] = []
        self._limits = limits()
        self._count = 0
        self._total = 0
        self._manifest_seen = False
        self._handle = None

    # -- opening ------------------------------------------------------------------------

    def __enter__(self) -> ArchiveReader:
        try:
            self._handle = self.path.open("rb")
        except FileNotFoundError as exc:
            raise ArchiveError(f"No archive at {self.path}.") from exc
        except OSError as exc:
            raise ArchiveError(f"The archive at {self.path} cannot be read ({exc}).") from exc
        try:
            self._stream = _Allowance(gzip.GzipFile(fileobj=self._handle, mode="rb"))
            self._stream.allow(0)
            self._tar = self._guard(lambda: tarfile.open(fileobj=self._stream, mode="r|"))
            self.manifest = self._read_manifest()
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            if exc_type is not None:
                self.discard_files()
        finally:
            self._close()

    def _close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def discard_files(self) -> None:
        """Remove the files this import wrote, and the folders that held only them."""
        folders = set()
        for name in reversed(self.files_written):
            try:
                default_storage.delete(name)
            except OSError:
                pass
            parts = name.split("/")[:-1]
            folders.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        self.files_written = []
        for folder in sorted(folders, key=len, reverse=True):
            try:
                os.rmdir(default_storage.path(folder))
            except (NotImplementedError, OSError):  # not empty, already gone, not local
                pass

    def _guard(self, read):
        """Run a tar/gzip read, turning a damaged stream into one readable sentence."""
        try:
            return read()
        except ArchiveError:
            raise
        except (tarfile.TarError, OSError, EOFError, zlib.error, ValueError) as exc:
            raise _not_an_archive(self.path, exc) from exc

    def _next_member(self) -> tarfile.TarInfo | None:
        # Room to skip what is left of the previous member, plus one header: no more.
        self._stream.allow(max(0, self._tar.offset - self._tar.fileobj.tell()))
        member = self._guard(self._tar.next)
        if member is None:
            return None
        self._count += 1
        if self._count > self._limits.members:
            raise ArchiveError(
                f"The archive holds more than {self._limits.members} members "
                "(UPLINE_ARCHIVE_MAX_MEMBERS)."
            )
        if member.name == MANIFEST:
            self._manifest_seen = True
        elif not self._manifest_seen and member.name in _FORMAT_1_MEMBERS:
            raise _format_1()
        check_member_name(member.name)
        if not member.isreg() or member.issparse():
            raise ArchiveError(
                f"{_quoted(member.name)} in the archive is not a plain file: links, devices "
                "and folders are refused."
            )
        if member.size > self._limits.member_bytes:
            raise ArchiveError(
                f"{_quoted(member.name)} unpacks to {member.size} bytes, more than a member "
                f"may hold ({self._limits.member_bytes}, UPLINE_ARCHIVE_MAX_MEMBER_BYTES)."
            )
        self._total += member.size
        if self._total > self._limits.total_bytes:
            raise ArchiveError(
                f"The archive unpacks to more than {self._limits.total_bytes} bytes "
                "(UPLINE_ARCHIVE_MAX_TOTAL_BYTES)."
            )
        self._stream.allow(member.size)
        return member

    def _read_small(self, member: tarfile.TarInfo, cap: int) -> bytes:
        if member.size > cap:
            raise ArchiveError(f"The archive's {member.name} is too large ({member.size} bytes).")
        return self._guard(lambda: self._tar.extractfile(member).read(cap + 1))

    # -- the manifest -------------------------------------------------------------------

    def _read_manifest(self) -> dict:
        first = self._next_member()
        # Format 1 put its manifest last, after the rows and its SQL (refused on sight).
        while first is not None and first.name.startswith("data/"):
            first = self._next_member()
        if first is None or first.name != MANIFEST:
            raise ArchiveError(
                f"{self.path} is not an Upline instance archive (it does not start with "
                "its manifest)."
            )
        manifest_bytes = self._read_small(first, _MANIFEST_MAX_BYTES)
        signature_member = self._next_member()
        if signature_member is None or signature_member.name != SIGNATURE:
            raise ArchiveError("The archive is not signed (its manifest.sig is missing).")
        signature = self._read_small(signature_member, 200).decode("ascii", "replace").strip()
        if not hmac.compare_digest(signature, manifest_signature(manifest_bytes)):
            raise ArchiveError(
                "The archive's signature does not match: it was changed after export, or "
                "exported by a server with another archive key (UPLINE_ARCHIVE_KEY)."
            )
        try:
            manifest = json.loads(manifest_bytes)
        except (ValueError, RecursionError) as exc:
            raise ArchiveError("The archive's manifest is not valid JSON.") from exc
        if not isinstance(manifest, dict):
            raise ArchiveError("The archive's manifest is not a JSON object.")
        if manifest.get("format") != FORMAT:
            raise ArchiveError(
                f"Unsupported archive format {_quoted(str(manifest.get('format')))}: this "
                f"version of Upline imports format {FORMAT} only."
            )
        _check_manifest(manifest, self._limits)
        return manifest

    # -- loading ------------------------------------------------------------------------

    def load(self, *, schema_name: str) -> dict[str, int]:
        """Stream the rows and files into the freshly built `schema_name` (caller's
        transaction); returns counts for the audit trail."""
        validate_schema_name(schema_name)
        local = table_columns(schema_name)
        tables = self.manifest["tables"]
        _check_tables(tables, local)
        if next(instance_files(schema_name), None) is not None:
            raise ArchiveError(
                f"The media folder {schema_name}/ still holds files (of an earlier instance "
                "with this name); move them away before importing."
            )
        # Building the schema may leave django-tenants a pending `SET search_path`: send it
        # while the transaction is healthy. Once a row is refused the transaction accepts
        # nothing but a rollback. (Everything below names its schema and never changes the
        # search path.)
        with connection.cursor() as django_cursor:
            django_cursor.execute("SELECT 1")
        cursor = _raw_cursor()
        try:
            # Rows arrive table by table in name order, so links between them are checked
            # once all are in (`_check_links`), whatever mode the caller's transaction is in.
            foreign_keys = _deferrable_constraints(cursor, schema_name)
            if foreign_keys is not None:
                cursor.execute(sql.SQL("SET CONSTRAINTS {} DEFERRED").format(foreign_keys))
            # The template's seed rows (tax classes, departments, content types…) make way
            # for the archive's own. DELETE, not TRUNCATE: the tables are nearly empty, and
            # TRUNCATE would rewrite every one of them (about a second per import).
            cursor.execute(
                sql.SQL("; ").join(
                    sql.SQL("DELETE FROM {}").format(sql.Identifier(schema_name, t))
                    for t in local
                    if t not in LOCAL_ONLY_TABLES
                )
            )
            expected = self.manifest["members"]
            seen: set[str] = set()
            files = 0
            while (member := self._next_member()) is not None:
                name = member.name
                if name not in expected:
                    raise ArchiveError(
                        f"The archive holds {_quoted(name)}, which its manifest does not list."
                    )
                if name in seen:
                    raise ArchiveError(f"The archive holds {_quoted(name)} twice.")
                seen.add(name)
                if member.size != expected[name]["size"]:
                    raise ArchiveError(f"{name} is not the size its manifest lists.")
                reader = _VerifiedMember(self._tar.extractfile(member), name, expected[name])
                if name.startswith("data/"):
                    table = _table_of(name)
                    loaded = self._copy_in(cursor, schema_name, table, tables[table], reader)
                    if loaded != tables[table]["rows"]:
                        raise ArchiveError(
                            f"{name} holds {loaded} rows; its manifest says "
                            f"{tables[table]['rows']}."
                        )
                else:
                    self._write_file(schema_name, name, reader)
                    files += 1
            missing = sorted(set(expected) - seen)
            if missing:
                raise ArchiveError(
                    f"The archive is incomplete: it lacks {', '.join(missing[:5])}"
                    + (" …" if len(missing) > 5 else "")
                    + "."
                )
            _check_links(cursor, foreign_keys)
            _sequences_follow_rows(cursor, schema_name)
            _files_follow_schema(
                cursor, schema_name, self.manifest["source_schema"], _file_columns(local)
            )
        except psycopg.Error as exc:
            primary = exc.diag.message_primary or str(exc)
            raise ArchiveError(
                f"The archive's rows were refused by the database: {primary}."
            ) from exc
        return {
            "tables": len(tables),
            "rows": sum(spec["rows"] for spec in tables.values()),
            "files": files,
        }

    def _copy_in(self, cursor, schema_name: str, table: str, spec: dict, reader) -> int:
        query = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(schema_name, table),
            sql.SQL(", ").join(map(sql.Identifier, spec["columns"])),
        )
        try:
            with cursor.copy(query) as copy:
                while chunk := self._guard(reader.read):
                    copy.write(chunk)
                reader.verify()
        except psycopg.Error as exc:
            primary = exc.diag.message_primary or str(exc)
            raise ArchiveError(f"The rows of {table} could not be loaded: {primary}.") from exc
        return cursor.rowcount

    def _write_file(self, schema_name: str, name: str, reader: _VerifiedMember) -> None:
        target = f"{schema_name}/{name[len('files/') :]}"
        if default_storage.exists(target):
            raise ArchiveError(f"{target} already exists; it is not overwritten.")
        # Recorded first: a refusal halfway through still removes the partial file.
        self.files_written.append(target)
        stream = _GuardedReader(reader, self._guard)
        stored = default_storage.save(target, File(stream, name=target))
        if stored != target:
            self.files_written.append(stored)
            raise ArchiveError(f"{_quoted(name)} could not be stored under its own name.")
        reader.verify()


def _deferrable_constraints(cursor, schema_name: str) -> sql.Composable | None:
    """The schema's deferrable constraints (Django's foreign keys), as a SET CONSTRAINTS list."""
    cursor.execute(
        "SELECT c.conname FROM pg_constraint c "
        "JOIN pg_namespace n ON n.oid = c.connamespace "
        "WHERE n.nspname = %s AND c.condeferrable ORDER BY c.conname",
        [schema_name],
    )
    names = [sql.Identifier(schema_name, row[0]) for row in cursor.fetchall()]
    return sql.SQL(", ").join(names) if names else None


def _check_links(cursor, constraints: sql.Composable | None) -> None:
    """Check the deferred foreign keys now, so a broken archive is refused here with a
    sentence, not by some later commit; then leave them deferred, as Django declares them."""
    if constraints is None:
        return
    try:
        cursor.execute(sql.SQL("SET CONSTRAINTS {} IMMEDIATE").format(constraints))
    except psycopg.Error as exc:
        detail = exc.diag.message_detail or exc.diag.message_primary or str(exc)
        raise ArchiveError(f"The archive's rows do not hold together: {detail}") from exc
    cursor.execute(sql.SQL("SET CONSTRAINTS {} DEFERRED").format(constraints))


class _GuardedReader:
    """What Django's storage reads from: the verified member, damaged streams as ArchiveError."""

    def __init__(self, reader: _VerifiedMember, guard):
        self._reader = reader
        self._guard = guard

    def read(self, size: int = _CHUNK) -> bytes:
        return self._guard(lambda: self._reader.read(size))


def _format_1() -> ArchiveError:
    return ArchiveError(
        "This archive is in format 1, which carries SQL that importing would have to run; "
        f"this version of Upline imports only signed format {FORMAT} archives of data. "
        "Import it with the version that exported it, then export it again with this one."
    )


def _check_manifest(manifest: dict, cap: Limits) -> None:
    """The shape of a signed manifest: fields, names, digests, and what it promises to hold."""

    def refuse(what: str) -> ArchiveError:
        return ArchiveError(f"The archive's manifest is not valid: {what}.")

    if manifest.get("migration_version") != schemas.migration_version():
        raise ArchiveError(
            "The archive was made by a different version of Upline (its migrations differ); "
            "import it with the version that exported it, migrate, and export again."
        )
    source = manifest.get("source_schema")
    try:
        validate_schema_name(source)
    except Exception as exc:
        raise refuse("its source schema is not an instance schema name") from exc
    if not isinstance(manifest.get("reseller"), dict):
        raise refuse("it lacks the reseller's facts")
    tables, members = manifest.get("tables"), manifest.get("members")
    if not isinstance(tables, dict) or not isinstance(members, dict):
        raise refuse("it lacks its tables or members")
    if len(members) + 2 > cap.members:
        raise ArchiveError(
            f"The archive lists {len(members) + 2} members, more than "
            f"UPLINE_ARCHIVE_MAX_MEMBERS ({cap.members})."
        )
    for table, spec in tables.items():
        if not isinstance(table, str) or not _IDENTIFIER_RE.match(table):
            raise ArchiveError(
                f"The archive lists a table Upline does not have: {_quoted(str(table))}."
            )
        if not isinstance(spec, dict) or type(spec.get("rows")) is not int or spec["rows"] < 0:
            raise refuse(f"the row count of {table}")
        columns = spec.get("columns")
        if (
            not isinstance(columns, list)
            or not columns
            or not all(isinstance(c, str) for c in columns)
            or len(set(columns)) != len(columns)
        ):
            raise refuse(f"the column list of {table}")
        if f"data/{table}.copy" not in members:
            raise refuse(f"{table} has no data member")
    total = 0
    for name, entry in members.items():
        check_member_name(name)
        if name in (MANIFEST, SIGNATURE) or not isinstance(entry, dict):
            raise refuse(f"member {_quoted(name)}")
        size, digest = entry.get("size"), entry.get("sha256")
        if type(size) is not int or size < 0 or not isinstance(digest, str):
            raise refuse(f"the size or digest of {_quoted(name)}")
        if not _SHA256_RE.match(digest):
            raise refuse(f"the digest of {_quoted(name)}")
        if size > cap.member_bytes:
            raise ArchiveError(
                f"{_quoted(name)} is {size} bytes, more than a member may hold "
                f"({cap.member_bytes}, UPLINE_ARCHIVE_MAX_MEMBER_BYTES)."
            )
        total += size
    if total > cap.total_bytes:
        raise ArchiveError(
            f"The archive unpacks to {total} bytes, more than UPLINE_ARCHIVE_MAX_TOTAL_BYTES "
            f"({cap.total_bytes})."
        )
    for name in members:
        if name.startswith("data/") and _table_of(name) not in tables:
            raise refuse(f"{_quoted(name)} belongs to no listed table")


def _check_tables(tables: dict, local: dict[str, list[str]]) -> None:
    """Every table and column the archive names must exist in the locally built schema."""
    for table, spec in tables.items():
        if table not in local or table in LOCAL_ONLY_TABLES:
            raise ArchiveError(f"The archive lists a table Upline does not have: {_quoted(table)}.")
        unknown = [c for c in spec["columns"] if c not in local[table]]
        if unknown:
            raise ArchiveError(
                f"The archive lists columns that {table} does not have: "
                + ", ".join(_quoted(c) for c in unknown[:5])
                + "."
            )


def _sequences_follow_rows(cursor, schema_name: str) -> None:
    """Each sequence owned by a column continues after that column's largest value."""
    cursor.execute(
        "SELECT seq.relname, tbl.relname, att.attname FROM pg_class seq "
        "JOIN pg_namespace n ON n.oid = seq.relnamespace "
        "JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = seq.oid "
        "  AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') "
        "JOIN pg_class tbl ON tbl.oid = d.refobjid "
        "JOIN pg_attribute att ON att.attrelid = tbl.oid AND att.attnum = d.refobjsubid "
        "WHERE seq.relkind = 'S' AND n.nspname = %s ORDER BY seq.relname",
        [schema_name],
    )
    for sequence, table, column in cursor.fetchall():
        cursor.execute(
            sql.SQL(
                "SELECT setval({seq}::regclass, COALESCE(MAX({col}), 1), MAX({col}) IS NOT NULL) "
                "FROM {table}"
            ).format(
                seq=sql.Literal(sql.Identifier(schema_name, sequence).as_string(cursor)),
                col=sql.Identifier(column),
                table=sql.Identifier(schema_name, table),
            )
        )


def _files_follow_schema(
    cursor, schema_name: str, source_schema: str, columns: list[tuple[str, str]]
) -> None:
    """Stored file names move from the source's folder to the new instance's, and none may
    point anywhere else (another instance's folder, `..`)."""
    old, new = source_schema + "/", schema_name + "/"
    for table, column in columns:
        target, col = sql.Identifier(schema_name, table), sql.Identifier(column)
        if old != new:
            cursor.execute(
                sql.SQL(
                    "UPDATE {t} SET {c} = %s || substr({c}, %s) WHERE left({c}, %s) = %s"
                ).format(t=target, c=col),
                [new, len(old) + 1, len(old), old],
            )
        cursor.execute(
            sql.SQL(
                "SELECT {c} FROM {t} WHERE {c} <> '' AND (left({c}, %s) <> %s "
                r"OR {c} ~ '(^|/)\.\.?(/|$)' OR strpos({c}, E'\\') > 0) LIMIT 1"
            ).format(t=target, c=col),
            [len(new), new],
        )
        row = cursor.fetchone()
        if row is not None:
            raise ArchiveError(
                f"The archive's {table}.{column} names a file outside the instance's own "
                f"folder ({_quoted(row[0])})."
            )


def archive_open(path: Path) -> ArchiveReader:
    """`with archive_open(path) as reader:` — the verified manifest is `reader.manifest`."""
    return ArchiveReader(path)
