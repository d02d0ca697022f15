"""The whole database and the media folder as files: pg_dump/pg_restore, table checksums, tar.

A dump is taken from one exported snapshot: pg_dump reads it, and the row count and
checksum of every table (in every schema) are computed in the very same snapshot, so the
manifest states exactly what the dump holds, while the platform keeps working. After
pg_restore the same checksums are computed on the restored database and compared.

A table's checksum is the sum of a 64-bit piece of each row's md5 (order does not matter,
no sort is needed) under fixed session settings (UTC, ISO dates, exact floats), so the
same rows give the same number on any server of the same PostgreSQL major version.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dj_database_url
import psycopg
from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage
from django.utils.translation import gettext
from psycopg import sql

CHUNK = 1024 * 1024
# Session settings under which a row's text (and so its checksum) is the same everywhere.
_STABLE_TEXT = (
    "SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; "
    "SET extra_float_digits = 3; SET bytea_output = 'hex'"
)
_USER_SCHEMAS = "n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'"
_TABLES_PER_QUERY = 200


class DatabaseBackupError(Exception):
    """pg_dump, pg_restore or the database refused; the sentence says what to do."""


# --------------------------------------------------------------------------------------
# Which database


@dataclass(frozen=True)
class Database:
    """Connection facts of one PostgreSQL database (password kept out of process lists)."""

    name: str
    user: str = ""
    password: str = field(default="", repr=False)
    host: str = ""
    port: str = ""
    # libpq settings from the URL's query (sslmode=require …), for pg_dump as for psycopg.
    options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def configured(cls) -> Database:
        db = settings.DATABASES["default"]
        # dj-database-url puts a socket directory with capitals into OPTIONS["host"].
        host = db.get("HOST") or db.get("OPTIONS", {}).get("host") or ""
        return cls(
            name=db["NAME"],
            user=db.get("USER") or "",
            password=db.get("PASSWORD") or "",
            host=host,
            port=str(db.get("PORT") or ""),
            options=_libpq_options(db.get("OPTIONS", {})),
        )

    @classmethod
    def from_url(cls, url: str) -> Database:
        try:
            db = dj_database_url.parse(url)
        except ValueError as exc:
            raise DatabaseBackupError(
                gettext("The database URL is not valid (%(error)s).") % {"error": exc}
            ) from exc
        if not db.get("NAME"):
            raise DatabaseBackupError(gettext("The database URL names no database."))
        return cls(
            name=db["NAME"],
            user=db.get("USER") or "",
            password=db.get("PASSWORD") or "",
            host=db.get("HOST") or "",
            port=str(db.get("PORT") or ""),
            options=_libpq_options(db.get("OPTIONS", {})),
        )

    @property
    def label(self) -> str:
        where = self.host or gettext("the local socket")
        return gettext("“%(name)s” on %(where)s") % {
            "name": self.name,
            "where": f"{where}{':' + self.port if self.port else ''}",
        }

    def conninfo(self) -> str:
        parts = {"dbname": self.name, "user": self.user, "host": self.host, "port": self.port}
        parts.update(dict(self.options))
        return psycopg.conninfo.make_conninfo(**{k: v for k, v in parts.items() if v})

    def environment(self) -> dict[str, str]:
        env = {**os.environ}
        if self.password:
            env["PGPASSWORD"] = self.password
        return env

    def connect(self) -> psycopg.Connection:
        try:
            connection = psycopg.connect(
                self.conninfo(), password=self.password or None, autocommit=True
            )
        except psycopg.Error as exc:
            raise DatabaseBackupError(
                (
                    gettext("Cannot connect to the database %(database)s: %(error)s")
                    % {"database": self.label, "error": exc}
                ).strip()
            ) from exc
        connection.execute(_STABLE_TEXT)
        return connection


_LIBPQ_OPTIONS = frozenset(
    {
        "sslmode",
        "sslrootcert",
        "sslcert",
        "sslkey",
        "sslcrl",
        "connect_timeout",
        "application_name",
        "target_session_attrs",
        "gssencmode",
    }
)


def _libpq_options(options: dict) -> tuple[tuple[str, str], ...]:
    return tuple(
        sorted((key, str(value)) for key, value in options.items() if key in _LIBPQ_OPTIONS)
    )


def _binary(name: str) -> str:
    folder = settings.UPLINE_PG_BIN
    candidate = os.path.join(folder, name) if folder else None
    found = candidate if candidate and os.path.exists(candidate) else shutil.which(name)
    if not found:
        raise DatabaseBackupError(
            gettext(
                "%(program)s was not found: install the PostgreSQL client (postgresql-client, "
                "the same major version as the server or newer) or set UPLINE_PG_BIN to its "
                "folder."
            )
            % {"program": name}
        )
    return found


def _run(args: list[str], database: Database, what: str) -> None:
    result = subprocess.run(
        args, capture_output=True, text=True, env=database.environment(), check=False
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise DatabaseBackupError(
            gettext("%(program)s failed (exit code %(code)s): %(detail)s")
            % {
                "program": what,
                "code": result.returncode,
                "detail": " / ".join(detail[-3:]) or gettext("no message"),
            }
        )


# --------------------------------------------------------------------------------------
# Catalogue and checksums


def schema_names(cursor: psycopg.Cursor) -> list[str]:
    cursor.execute(f"SELECT n.nspname FROM pg_namespace n WHERE {_USER_SCHEMAS} ORDER BY n.nspname")
    return [row[0] for row in cursor.fetchall()]


def _tables(cursor: psycopg.Cursor) -> list[tuple[str, str]]:
    cursor.execute(
        "SELECT n.nspname, c.relname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE c.relkind = 'r' AND {_USER_SCHEMAS} ORDER BY n.nspname, c.relname"
    )
    return [(schema, table) for schema, table in cursor.fetchall()]


def _checksum_query(tables: list[tuple[str, str]]) -> sql.Composable:
    return sql.SQL(" UNION ALL ").join(
        sql.SQL(
            "SELECT {label}, count(*), coalesce(sum(('x' || left(md5(t::text), 16))"
            "::bit(64)::bigint::numeric), 0)::text FROM {table} AS t"
        ).format(label=sql.Literal(f"{schema}.{table}"), table=sql.Identifier(schema, table))
        for schema, table in tables
    )


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def table_checksums(database: Database, *, snapshot: str | None = None) -> dict[str, dict]:
    """{"schema.table": {"rows": n, "checksum": "…"}} for every table of every user schema.

    With `snapshot` (an exported snapshot id) every batch reads that snapshot, in a short
    transaction of its own, so no batch holds the locks of the others.
    """
    result: dict[str, dict] = {}
    with database.connect() as connection:
        cursor = connection.cursor()
        begin = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
        cursor.execute(begin)
        if snapshot:
            cursor.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
        tables = _tables(cursor)
        cursor.execute("COMMIT")
        for batch in _batches(tables, _TABLES_PER_QUERY):
            cursor.execute(begin)
            if snapshot:
                cursor.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
            cursor.execute(_checksum_query(batch))
            for name, rows, checksum in cursor.fetchall():
                result[name] = {"rows": rows, "checksum": checksum}
            cursor.execute("COMMIT")
    return result


def _applied_migrations(cursor: psycopg.Cursor) -> dict[str, Any]:
    cursor.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_tables "
        "WHERE schemaname = 'public' AND tablename = 'django_migrations')"
    )
    if not cursor.fetchone()[0]:
        return {"count": 0, "sha256": hashlib.sha256(b"").hexdigest(), "latest": []}
    cursor.execute("SELECT app, name FROM public.django_migrations ORDER BY app, name")
    rows = [f"{app}.{name}" for app, name in cursor.fetchall()]
    return {"count": len(rows), "sha256": hashlib.sha256("\n".join(rows).encode()).hexdigest()}


# --------------------------------------------------------------------------------------
# Dump and restore


@dataclass(frozen=True)
class DumpFacts:
    server_version: int
    schemas: list[str]
    tables: dict[str, dict]
    applied_migrations: dict[str, Any]


def dump(target: Path, *, database: Database | None = None) -> DumpFacts:
    """pg_dump the whole database to `target` (custom format) and describe what it holds."""
    database = database or Database.configured()
    with database.connect() as holder:
        cursor = holder.cursor()
        # This transaction only holds the snapshot open for pg_dump and the checksums.
        cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
        names = schema_names(cursor)
        applied = _applied_migrations(cursor)
        _run(
            [
                _binary("pg_dump"),
                "--format=custom",
                f"--snapshot={snapshot}",
                "--no-password",
                f"--file={target}",
                f"--dbname={database.conninfo()}",
            ],
            database,
            "pg_dump",
        )
        tables = table_checksums(database, snapshot=snapshot)
        cursor.execute("COMMIT")
        return DumpFacts(
            server_version=holder.info.server_version,
            schemas=names,
            tables=tables,
            applied_migrations=applied,
        )


def emptiness(database: Database) -> str:
    """ "" when `database` holds nothing (a fresh `createdb`), else what it holds, in words."""
    with database.connect() as connection:
        cursor = connection.cursor()
        cursor.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND {_USER_SCHEMAS}"
        )
        relations = cursor.fetchone()[0]
        cursor.execute(
            f"SELECT count(*) FROM pg_namespace n WHERE {_USER_SCHEMAS} AND n.nspname <> 'public'"
        )
        extra_schemas = cursor.fetchone()[0]
    if not relations and not extra_schemas:
        return ""
    return f"{relations} tables, views or sequences in {extra_schemas + 1} schemas"


def restore(source: Path, *, database: Database) -> None:
    """pg_restore `source` into `database` in one transaction: all of it, or nothing."""
    _run(
        [
            _binary("pg_restore"),
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            "--no-password",
            f"--dbname={database.conninfo()}",
            str(source),
        ],
        database,
        "pg_restore",
    )


def compare(expected: dict[str, dict], found: dict[str, dict]) -> list[str]:
    """What differs between two table-checksum maps, one sentence per table (at most 20)."""
    problems = []
    for name in sorted(set(expected) | set(found)):
        want, got = expected.get(name), found.get(name)
        if want is None:
            problems.append(f"{name} is in the restored database but not in the backup")
        elif got is None:
            problems.append(f"{name} is missing from the restored database")
        elif want["rows"] != got["rows"]:
            problems.append(f"{name} holds {got['rows']} rows; the backup held {want['rows']}")
        elif want["checksum"] != got["checksum"]:
            problems.append(f"{name} holds other rows than the backup did")
    return problems


# --------------------------------------------------------------------------------------
# Media files


def _is_link(storage: Storage, name: str) -> bool:
    try:
        return os.path.islink(storage.path(name))
    except NotImplementedError:
        return False


def _stored_files(storage: Storage) -> Iterator[str]:
    pending = [""]
    while pending:
        folder = pending.pop()
        try:
            folders, files = storage.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in sorted(files):
            path = f"{folder}/{name}" if folder else name
            if not _is_link(storage, path):
                yield path
        for name in sorted(folders, reverse=True):
            path = f"{folder}/{name}" if folder else name
            if not _is_link(storage, path):
                pending.append(path)


def media_tar(storage: Storage, target: Path) -> dict[str, int]:
    """Every stored file (invoice PDFs, attachments, logos) into an uncompressed tar."""
    files = size = 0
    with tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in _stored_files(storage):
            with storage.open(name, "rb") as handle:
                info = tarfile.TarInfo(name)
                info.size = storage.size(name)
                info.mode = 0o644
                tar.addfile(info, handle)
            files += 1
            size += info.size
    return {"files": files, "bytes": size}


def _safe_member(member: tarfile.TarInfo) -> str:
    name = member.name
    if (
        not member.isreg()
        or not name
        or name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or any(part in ("", ".", "..") for part in name.split("/"))
    ):
        raise DatabaseBackupError(
            f"The media tar holds {name[:80]!r}, which is not a plain file with a safe name; "
            "nothing was restored from it."
        )
    return name


def _digest(handle) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def media_plan(source: Path, storage: Storage) -> set[str]:
    """Check the tar's files against `storage` before anything is written: the names already
    there with the same bytes (kept as they are); one with other bytes stops the restore."""
    present: set[str] = set()
    clashes: list[str] = []
    with tarfile.open(source, "r:") as tar:
        for member in tar:
            name = _safe_member(member)
            if storage.exists(name):
                with storage.open(name, "rb") as mine:
                    if _digest(mine) == _digest(tar.extractfile(member)):
                        present.add(name)
                    else:
                        clashes.append(name)
    if clashes:
        raise DatabaseBackupError(
            f"{len(clashes)} files of the backup already exist with other contents in the media "
            f"folder (e.g. {clashes[0]}); restore into an empty media folder "
            "(UPLINE_MEDIA_ROOT) or move those away."
        )
    return present


def media_write(source: Path, storage: Storage, *, skip: set[str]) -> dict[str, int]:
    """Write the tar's files into `storage`, except those `media_plan` found already there."""
    written = 0
    with tarfile.open(source, "r:") as tar:
        for member in tar:
            name = _safe_member(member)
            if name in skip:
                continue
            stored = storage.save(name, File(tar.extractfile(member), name=name))
            if stored != name:
                raise DatabaseBackupError(f"{name} could not be stored under its own name.")
            written += 1
    return {"written": written, "already_there": len(skip)}
