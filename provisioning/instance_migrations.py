"""Migrating every instance schema: in parallel, resumable, one failure never stops the rest.

What a schema still needs is read from that schema's own `django_migrations` table and
compared with the migration graph on disk. There is no separate progress record that could
disagree with the schema: Django applies each migration in its own transaction and records
it in that same transaction (PostgreSQL DDL is transactional), so a run killed at any moment
leaves every schema exactly before or after each migration, and the next run applies only
what is still missing.

Schemas are handed one at a time to forked worker processes, each with its own database
connection. A worker keeps the migration graph and the rendered model state it starts from
between schemas (instances normally sit at the same migration state), so each schema costs
its DDL and a few bookkeeping queries, not a full `migrate` start-up. An error in one
schema is caught, rolled back and reported as that schema's outcome.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.apps import apps as global_apps
from django.db import connection, connections
from django.db.migrations.exceptions import InconsistentMigrationHistory
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.db.migrations.state import ProjectState
from django.db.models.signals import post_migrate

from .schema_names import validate_schema_name

MigrationKey = tuple[str, str]  # (app label, migration name)
# Schemas per UNION ALL query when reading what every instance has applied.
_READ_BATCH = 200
# A worker reconnects after this many schemas: a PostgreSQL backend's relation cache keeps
# an entry for every table it touched, in every schema (see provisioning.schemas).
_SCHEMAS_PER_CONNECTION = 50


@dataclass(frozen=True)
class SchemaOutcome:
    """What happened to one schema in this run."""

    schema_name: str
    applied: tuple[str, ...] = ()
    error: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.error)


@dataclass
class MigrationSurvey:
    """Which schemas need work before a run starts."""

    pending: dict[str, int] = field(default_factory=dict)  # schema -> migrations missing
    up_to_date: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # a tenant row without its schema


# --------------------------------------------------------------------------------------
# What each schema still needs


def _graph() -> tuple[set[MigrationKey], dict[MigrationKey, tuple[MigrationKey, ...]]]:
    """Every migration a fully migrated schema has recorded, and what squashes replace."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    nodes = set(loader.graph.nodes)
    replaces = {key: tuple(m.replaces) for key, m in loader.replacements.items()}
    return nodes, replaces


def _applied_by_schema(schema_names: list[str]) -> dict[str, set[MigrationKey]]:
    applied: dict[str, set[MigrationKey]] = {name: set() for name in schema_names}
    with connection.cursor() as cursor:
        for start in range(0, len(schema_names), _READ_BATCH):
            batch = schema_names[start : start + _READ_BATCH]
            # Names are validated identifiers (validate_schema_name), never user text.
            query = " UNION ALL ".join(
                f"SELECT '{name}', app, name FROM \"{name}\".django_migrations" for name in batch
            )
            cursor.execute(query)
            for schema_name, app, name in cursor.fetchall():
                applied[schema_name].add((app, name))
    return applied


def survey(schema_names: Iterable[str]) -> MigrationSurvey:
    """Compare every schema's own `django_migrations` with the migrations on disk."""
    names = sorted({validate_schema_name(n, allow_internal=True) for n in schema_names})
    result = MigrationSurvey()
    if not names:
        return result
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname, EXISTS (SELECT 1 FROM pg_tables t WHERE t.schemaname = n.nspname "
            "AND t.tablename = 'django_migrations') FROM pg_namespace n WHERE n.nspname = ANY(%s)",
            [names],
        )
        found = dict(cursor.fetchall())
    result.missing = [n for n in names if n not in found]
    with_table = [n for n in names if found.get(n)]
    applied = _applied_by_schema(with_table)
    nodes, replaces = _graph()
    for name in names:
        if name not in found:
            continue
        done = applied.get(name, set())
        missing = {
            key
            for key in nodes
            if key not in done and not (key in replaces and set(replaces[key]) <= done)
        }
        if missing:
            result.pending[name] = len(missing)
        else:
            result.up_to_date.append(name)
    return result


# --------------------------------------------------------------------------------------
# Migrating one schema (runs in a worker process)


class _WorkerState:
    """Kept by each worker between schemas: the graph and the states it starts from."""

    loader: MigrationLoader | None = None
    migrated = 0
    # Rendered model state before migrating, per set of applied migrations. Instances
    # normally share one, so rendering (the slow part of `migrate`) happens once per worker.
    states: dict[frozenset[MigrationKey], ProjectState] = {}


class _SchemaRecorder(MigrationRecorder):
    """Django's recorder, asking for its table by name in the current schema.

    Django asks the introspection for every table name of the schema, which django-tenants
    answers by scanning pg_class: with a thousand instances that is half a million rows,
    several times per schema. A lookup of one qualified name uses the catalog's index.
    """

    def has_table(self):
        if self._has_table:
            return True
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT to_regclass(%s) IS NOT NULL",
                [f'"{self.connection.schema_name}".{self.Migration._meta.db_table}'],
            )
            self._has_table = bool(cursor.fetchone()[0])
        return self._has_table


class _ReusingExecutor(MigrationExecutor):
    """Django's executor on a loader the worker keeps (it would build a new one)."""

    def __init__(self, loader: MigrationLoader, recorder: MigrationRecorder):
        self.connection = connection
        self.loader = loader
        self.recorder = recorder
        self.progress_callback = None


def schema_migrate(schema_name: str) -> SchemaOutcome:
    """Apply every missing migration to `schema_name`; never raises."""
    try:
        validate_schema_name(schema_name, allow_internal=True)
        applied = _schema_migrate(schema_name)
        _WorkerState.migrated += 1
        if _WorkerState.migrated % _SCHEMAS_PER_CONNECTION == 0:
            connection.close()
        return SchemaOutcome(schema_name=schema_name, applied=tuple(applied))
    except Exception as exc:  # reported per schema: the other schemas carry on
        message = " ".join(str(exc).split()) or exc.__class__.__name__
        # The failed migration rolled back its own transaction; a connection left broken
        # (a server-side error mid-statement) is replaced before the next schema.
        connection.close()
        return SchemaOutcome(schema_name=schema_name, error=message[:500])
    finally:
        connection.set_schema_to_public()


def _schema_migrate(schema_name: str) -> list[str]:
    # django_migrations must exist in the schema itself before anything reads it, or the
    # public table would answer (the same guard django-tenants' migrate_schemas has).
    connection.set_schema(schema_name, include_public=False)
    recorder = _SchemaRecorder(connection)
    recorder.ensure_schema()
    connection.set_schema(schema_name)

    state = _WorkerState
    if state.loader is None:
        state.loader = MigrationLoader(connection)
    loader = state.loader
    loader.applied_migrations = recorder.applied_migrations()
    if loader.replacements:
        loader.build_graph()  # squashes are resolved against what this schema applied
    _check_consistent_history(loader)

    executor = _ReusingExecutor(loader, recorder)

    targets = loader.graph.leaf_nodes()
    plan = executor.migration_plan(targets)
    if not plan:
        return []
    applied_key = frozenset(loader.applied_migrations)
    start_state = state.states.get(applied_key)
    if start_state is None:
        start_state = executor._create_project_state(with_applied_migrations=True)
        start_state.apps  # noqa: B018  render once; each schema gets a cheap clone
        state.states = {applied_key: start_state}
    executor.migrate(targets, plan=plan, state=start_state.clone())
    _post_migrate({migration.app_label for migration, _ in plan}, plan)
    return [f"{migration.app_label}.{migration.name}" for migration, _ in plan]


def _post_migrate(app_labels: set[str], plan) -> None:
    """Content types and permissions of new models, as `migrate` does after applying.

    `migrate` signals every installed app (some 120 queries per schema, most of a schema's
    time here); only the apps this plan migrated can have new models.
    """
    for app_config in global_apps.get_app_configs():
        if app_config.label in app_labels and app_config.models_module is not None:
            post_migrate.send(
                sender=app_config,
                app_config=app_config,
                verbosity=0,
                interactive=False,
                using=connection.alias,
                apps=global_apps,
                plan=plan,
            )


def _check_consistent_history(loader: MigrationLoader) -> None:
    """Refuse a schema that recorded a migration without one it depends on (as `migrate`
    does, from the applied set already read instead of reading it again)."""
    applied = loader.applied_migrations
    for key in applied:
        if key not in loader.graph.nodes:
            continue
        for parent in loader.graph.node_map[key].parents:
            if parent.key in applied or parent.key in loader.replacements:
                continue
            raise InconsistentMigrationHistory(
                f"Migration {key[0]}.{key[1]} is applied before its dependency "
                f"{parent.key[0]}.{parent.key[1]}."
            )


# --------------------------------------------------------------------------------------
# Many schemas


def _worker_start() -> None:
    _WorkerState.loader = None
    _WorkerState.states = {}
    _WorkerState.migrated = 0


def schemas_migrate(schema_names: list[str], *, workers: int) -> Iterator[SchemaOutcome]:
    """Migrate `schema_names`, `workers` at a time; yields each outcome as it completes.

    The caller's own connections are closed first: forked workers must not share them.
    """
    if not schema_names:
        return
    workers = max(1, min(workers, len(schema_names)))
    if workers == 1:
        for name in schema_names:
            yield schema_migrate(name)
        return
    connections.close_all()
    context = multiprocessing.get_context("fork")
    pool = context.Pool(workers, initializer=_worker_start)
    try:
        yield from pool.imap_unordered(schema_migrate, schema_names, chunksize=1)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
