"""Building, pooling and dropping instance schemas.

A new instance never runs migrations. The `_template` schema is migrated once per
migration state and captured as SQL (pg_dump's pre-data and post-data sections plus its
few seed rows). Creating an instance then either:

1. claims a pre-built `_pool_*` schema and renames it (`ALTER SCHEMA … RENAME`, ~ms), or
2. replays the captured SQL into a fresh schema inside the caller's transaction.

Both run inside the caller's transaction, so a failed reseller creation leaves no schema
behind. `migrate` (a plain migrate run) is kept for the benchmark's comparison only.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.db.migrations.loader import MigrationLoader
from django_tenants.utils import schema_exists

from .models import PoolSchema, TemplateSnapshot
from .schema_names import (
    POOL_SCHEMA_PREFIX,
    TEMPLATE_SCHEMA,
    validate_schema_name,
)

log = logging.getLogger(__name__)

PLACEHOLDER = "__upline_schema__"
# Advisory-lock keys serialising template rebuilds and pool refills across processes.
TEMPLATE_LOCK_KEY = 0x55504C494E45
POOL_LOCK_KEY = 0x55504C494E46
# A PostgreSQL backend keeps a relation-cache entry for every table, index and sequence it
# created until it disconnects, and ends every transaction that created more than 32
# relations by scanning that whole cache. A connection that builds schemas all day (a
# Celery worker refilling the pool, a script creating instances) would get slower and
# bigger with each one, so it is closed, after its transaction, once it has built this many.
SCHEMA_BUILDS_PER_CONNECTION = 20


class ProvisioningError(Exception):
    """Building or changing an instance schema failed; the message is for the operator."""


@dataclass(frozen=True)
class SchemaBuild:
    schema_name: str
    method: str  # "pool" | "template" | "migrate"
    milliseconds: int


# --------------------------------------------------------------------------------------
# Migration state


@functools.lru_cache(maxsize=1)
def migration_version() -> str:
    """A digest of every tenant-app migration on disk: changes when a migration is added."""
    loader = MigrationLoader(None, ignore_no_migrations=True, load=True)
    tenant_labels = {app.rsplit(".", 1)[-1] for app in settings.TENANT_APPS}
    names = sorted(f"{app}.{name}" for app, name in loader.disk_migrations if app in tenant_labels)
    return hashlib.sha256("\n".join(names).encode()).hexdigest()


# --------------------------------------------------------------------------------------
# pg_dump


def _pg_dump_binary() -> str:
    candidate = os.path.join(settings.UPLINE_PG_BIN, "pg_dump") if settings.UPLINE_PG_BIN else None
    found = candidate if candidate and os.path.exists(candidate) else shutil.which("pg_dump")
    if not found:
        raise ProvisioningError(
            "pg_dump was not found: install the PostgreSQL client (postgresql-client) "
            "or set UPLINE_PG_BIN to the folder that holds it."
        )
    return found


def pg_dump_schema(schema_name: str, section: str) -> str:
    """One section of `pg_dump --schema-only` for one schema, as SQL text."""
    db = settings.DATABASES["default"]
    env = {**os.environ}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    args = [
        _pg_dump_binary(),
        f"--schema={schema_name}",
        f"--section={section}",
        "--no-owner",
        "--no-privileges",
        "--no-comments",
        "--no-publications",
        "--no-subscriptions",
        "--dbname",
        db["NAME"],
    ]
    # dj-database-url puts a socket directory with capitals into OPTIONS["host"].
    host = db.get("HOST") or db.get("OPTIONS", {}).get("host")
    if host:
        args += ["--host", host]
    if db.get("PORT"):
        args += ["--port", str(db["PORT"])]
    if db.get("USER"):
        args += ["--username", db["USER"]]
    result = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise ProvisioningError(f"pg_dump failed for schema {schema_name}: {result.stderr.strip()}")
    return result.stdout


_STATEMENT_NOISE = re.compile(
    r"^(SET |SELECT pg_catalog\.set_config|CREATE SCHEMA |ALTER SCHEMA |--|\\)", re.MULTILINE
)


def neutralise_schema(sql: str, schema_name: str) -> str:
    """Drop session SETs and comments, and put a placeholder where the schema is named.

    pg_dump qualifies every object (`schema.table`, `'schema.seq'::regclass`) and never
    relies on search_path, so replacing the qualified prefix is enough. A session-level
    `set_config('search_path', …)` would silently move the connection to another schema,
    which is why those lines go.
    """
    kept = [line for line in sql.splitlines() if line.strip() and not _STATEMENT_NOISE.match(line)]
    qualified = re.compile(r'(?<![A-Za-z0-9_$"])' + re.escape(schema_name) + r"\.")
    return qualified.sub(PLACEHOLDER + ".", "\n".join(kept))


def _bind(sql: str, schema_name: str) -> str:
    return sql.replace(PLACEHOLDER + ".", schema_name + ".")


# --------------------------------------------------------------------------------------
# Raw helpers that run in the caller's transaction


def _raw_cursor():
    """psycopg's own cursor (skips Django's per-query bookkeeping for bulk SQL)."""
    connection.ensure_connection()
    return connection.connection.cursor()


def table_names(schema_name: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename",
            [schema_name],
        )
        return [row[0] for row in cursor.fetchall()]


def copy_out(schema_name: str, table: str) -> str:
    cursor = _raw_cursor()
    chunks: list[bytes] = []
    with cursor.copy(f'COPY "{schema_name}"."{table}" TO STDOUT') as copy:
        for chunk in copy:
            chunks.append(bytes(chunk))
    return b"".join(chunks).decode()


def copy_in(schema_name: str, table: str, text: str) -> None:
    if not text:
        return
    cursor = _raw_cursor()
    with cursor.copy(f'COPY "{schema_name}"."{table}" FROM STDIN') as copy:
        copy.write(text.encode())


def sequence_values(schema_name: str) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sequencename, last_value FROM pg_sequences "
            "WHERE schemaname = %s AND last_value IS NOT NULL",
            [schema_name],
        )
        return {name: int(value) for name, value in cursor.fetchall()}


def _schema_built() -> None:
    connection.upline_schemas_built = getattr(connection, "upline_schemas_built", 0) + 1


def _connection_worn() -> bool:
    return getattr(connection, "upline_schemas_built", 0) >= SCHEMA_BUILDS_PER_CONNECTION


def recycle_worn_connection() -> None:
    """Close the connection if it built enough schemas (see SCHEMA_BUILDS_PER_CONNECTION)."""
    if _connection_worn() and not connection.in_atomic_block:
        connection.close()
        connection.upline_schemas_built = 0


def replay(
    schema_name: str,
    *,
    pre_data: str,
    post_data: str,
    data: list[dict],
    sequences: dict[str, int],
) -> None:
    """Create `schema_name` from captured SQL, in the current transaction."""
    validate_schema_name(schema_name, allow_internal=True)
    cursor = _raw_cursor()
    cursor.execute(f'CREATE SCHEMA "{schema_name}"')
    cursor.execute(_bind(pre_data, schema_name))
    for item in data:
        copy_in(schema_name, item["table"], item["rows"])
    if sequences:
        setvals = ", ".join(
            f'setval(\'"{schema_name}"."{name}"\', {int(value)}, true)'
            for name, value in sequences.items()
        )
        cursor.execute(f"SELECT {setvals}")
    if post_data.strip():
        cursor.execute(_bind(post_data, schema_name))
    # The replayed SQL ran on psycopg's cursor: make sure django-tenants re-issues its
    # SET search_path before the next ORM query instead of trusting its cached value.
    connection.search_path_set_schemas = None
    _schema_built()


def schema_drop(schema_name: str) -> None:
    validate_schema_name(schema_name, allow_internal=True)
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{schema_name}" CASCADE')


def schema_rename(old: str, new: str) -> None:
    validate_schema_name(old, allow_internal=True)
    validate_schema_name(new)
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER SCHEMA "{old}" RENAME TO "{new}"')


# --------------------------------------------------------------------------------------
# Template


def template_capture(version: str) -> TemplateSnapshot:
    """Capture the migrated `_template` schema as a snapshot for `version`."""
    pre = neutralise_schema(pg_dump_schema(TEMPLATE_SCHEMA, "pre-data"), TEMPLATE_SCHEMA)
    post = neutralise_schema(pg_dump_schema(TEMPLATE_SCHEMA, "post-data"), TEMPLATE_SCHEMA)
    data = []
    for table in table_names(TEMPLATE_SCHEMA):
        rows = copy_out(TEMPLATE_SCHEMA, table)
        if rows:
            data.append({"table": table, "rows": rows})
    snapshot, _ = TemplateSnapshot.objects.update_or_create(
        version=version,
        defaults={
            "pre_data": pre,
            "post_data": post,
            "data": data,
            "sequences": sequence_values(TEMPLATE_SCHEMA),
        },
    )
    return snapshot


def template_rebuild(*, verbosity: int = 0) -> TemplateSnapshot:
    """Migrate `_template` to the code's migration state and capture it again."""
    version = migration_version()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [TEMPLATE_LOCK_KEY])
    try:
        snapshot = TemplateSnapshot.objects.filter(version=version).first()
        if snapshot and schema_exists(TEMPLATE_SCHEMA):
            return snapshot
        if not schema_exists(TEMPLATE_SCHEMA):
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE SCHEMA "{TEMPLATE_SCHEMA}"')
        call_command(
            "migrate_schemas",
            schema_name=TEMPLATE_SCHEMA,
            tenant=True,
            interactive=False,
            verbosity=verbosity,
        )
        connection.set_schema_to_public()
        snapshot = template_capture(version)
        TemplateSnapshot.objects.exclude(version=version).delete()
        return snapshot
    finally:
        connection.set_schema_to_public()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [TEMPLATE_LOCK_KEY])


_snapshot_cache: dict[str, TemplateSnapshot] = {}


def current_snapshot() -> TemplateSnapshot:
    """The snapshot for the code's migration state, rebuilding the template if needed."""
    version = migration_version()
    cached = _snapshot_cache.get(version)
    if cached is not None:
        return cached
    snapshot = TemplateSnapshot.objects.filter(version=version).first()
    if snapshot is None:
        if connection.in_atomic_block:
            raise ProvisioningError(
                "The instance template is out of date: run `manage.py upline_setup` "
                "(or `upline_migrate`) first."
            )
        snapshot = template_rebuild()
    _snapshot_cache.clear()
    _snapshot_cache[version] = snapshot
    return snapshot


# --------------------------------------------------------------------------------------
# Warm pool


def pool_schema_build() -> str:
    """Build one pool schema from the template snapshot and register it."""
    snapshot = current_snapshot()
    name = POOL_SCHEMA_PREFIX + secrets.token_hex(6)
    with transaction.atomic():
        replay(
            name,
            pre_data=snapshot.pre_data,
            post_data=snapshot.post_data,
            data=snapshot.data,
            sequences=snapshot.sequences,
        )
        PoolSchema.objects.create(schema_name=name, version=snapshot.version)
    return name


def pool_discard_stale() -> int:
    """Drop pool schemas built for an older migration state."""
    version = migration_version()
    dropped = 0
    for pool in PoolSchema.objects.exclude(version=version):
        with transaction.atomic():
            schema_drop(pool.schema_name)
            pool.delete()
        dropped += 1
    return dropped


def pool_refill(target: int | None = None) -> int:
    """Top the warm pool up to `target` ready schemas; returns how many were built.

    Refills triggered at the same time (after several creations, by beat) would each see
    the same shortfall and overfill the pool, so only one runs; the others return 0.
    """
    target = settings.UPLINE_POOL_SIZE if target is None else target
    if getattr(connection, "transaction_pooling", False):
        return _pool_refill_in_one_transaction(target)
    if not _advisory_try_lock(POOL_LOCK_KEY):
        return 0
    locked = True
    try:
        pool_discard_stale()
        missing = max(target - PoolSchema.objects.filter(version=migration_version()).count(), 0)
        for built in range(1, missing + 1):
            pool_schema_build()
            if _connection_worn() and built < missing:
                # A fresh connection for the rest; the lock is the connection's, so let it go
                # first and stop if another refill took it meanwhile.
                _advisory_unlock(POOL_LOCK_KEY)
                locked = False
                recycle_worn_connection()
                if not _advisory_try_lock(POOL_LOCK_KEY):
                    return built
                locked = True
        return missing
    finally:
        if locked:
            _advisory_unlock(POOL_LOCK_KEY)
        recycle_worn_connection()


def _pool_refill_in_one_transaction(target: int) -> int:
    """Behind PgBouncer in transaction pooling a session lock may be taken on one server
    connection and released on another, so the refill holds a transaction-level lock and
    commits its schemas together."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [POOL_LOCK_KEY])
            if not cursor.fetchone()[0]:
                return 0
        pool_discard_stale()
        missing = max(target - PoolSchema.objects.filter(version=migration_version()).count(), 0)
        for _ in range(missing):
            pool_schema_build()
    recycle_worn_connection()
    return missing


def _advisory_try_lock(key: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        return bool(cursor.fetchone()[0])


def _advisory_unlock(key: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def _pool_claim(version: str) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM provisioning_poolschema WHERE id = ("
            "  SELECT id FROM provisioning_poolschema WHERE version = %s"
            "  ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
            ") RETURNING schema_name",
            [version],
        )
        row = cursor.fetchone()
    return row[0] if row else None


# --------------------------------------------------------------------------------------
# Creating an instance schema


def instance_schema_create(schema_name: str, *, method: str = "auto") -> SchemaBuild:
    """Build the schema for a new instance inside the caller's transaction.

    `auto` claims a pool schema when one is ready, else replays the template snapshot.
    """
    validate_schema_name(schema_name)
    if not connection.in_atomic_block:
        raise ProvisioningError("instance_schema_create must run inside a transaction.")
    if schema_exists(schema_name):
        raise ProvisioningError(f"Schema {schema_name} already exists.")
    started = time.perf_counter()
    if method == "migrate":
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE SCHEMA "{schema_name}"')
        call_command(
            "migrate_schemas", schema_name=schema_name, tenant=True, interactive=False, verbosity=0
        )
        connection.set_schema_to_public()
        used = "migrate"
    else:
        snapshot = current_snapshot()
        pooled = _pool_claim(snapshot.version) if method in ("auto", "pool") else None
        if pooled:
            schema_rename(pooled, schema_name)
            used = "pool"
        elif method == "pool":
            raise ProvisioningError("The warm pool is empty.")
        else:
            replay(
                schema_name,
                pre_data=snapshot.pre_data,
                post_data=snapshot.post_data,
                data=snapshot.data,
                sequences=snapshot.sequences,
            )
            transaction.on_commit(recycle_worn_connection)
            used = "template"
    elapsed = int((time.perf_counter() - started) * 1000)
    return SchemaBuild(schema_name=schema_name, method=used, milliseconds=elapsed)
