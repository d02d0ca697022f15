"""Writes made when a block ends, all in one round trip to the database.

A crossing between two instances (an escalation, a relayed reply) records events in both
schemas' audit trails, queues notifications in their outboxes and updates the ticket it
locked. Nobody reads those rows back inside the crossing, so instead of one statement each,
as they happen, `batched()` holds them and writes them when the block ends: one INSERT per
schema and table, and one UPDATE per changed row, each naming its schema's table, sent
together. They are still written inside the caller's transaction (an exception writes
none: the transaction rolls back anyway).

Only for rows nobody reads back from the database before the block ends: new rows whose
id nobody needs (`insert_later`), and changes to a row the caller holds locked
(`update_later`). Each says whether it held the write, so the caller writes at once
otherwise.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from django.db import connection, models
from django.db.models.sql import InsertQuery, UpdateQuery

_batch: contextvars.ContextVar[list | None] = contextvars.ContextVar("deferred_rows", default=None)


@contextlib.contextmanager
def batched() -> Iterator[None]:
    """Hold the writes given to `insert_later` and `update_later` inside and make them when
    the block ends. Nested blocks join the outermost. Outside a transaction nothing is held:
    on-commit hooks run at once there, and one that reads a held row (an outbox drain)
    would run before the row exists."""
    if _batch.get() is not None or not connection.in_atomic_block:
        yield
        return
    writes: list[tuple[str, models.Model, tuple[str, ...] | None]] = []
    token = _batch.set(writes)
    try:
        yield
    finally:
        _batch.reset(token)
    if writes:
        _write_all(writes)


def insert_later(row: models.Model) -> bool:
    """Hold `row` (unsaved) for the current schema until the enclosing `batched()` block
    ends; False, and nothing held, outside one."""
    return _hold(row, None)


def update_later(row: models.Model, fields: tuple[str, ...]) -> bool:
    """Hold the UPDATE of `fields` of `row` (saved, and locked by the caller's transaction)
    until the enclosing `batched()` block ends; False, and nothing held, outside one."""
    return _hold(row, tuple(fields))


def _hold(row: models.Model, fields: tuple[str, ...] | None) -> bool:
    pending = _batch.get()
    if pending is None:
        return False
    pending.append((connection.schema_name, row, fields))
    return True


def _in_schema(sql: str, verb: str, model: type[models.Model], schema: str) -> str:
    """`sql` with its first `verb "table"` naming the table in `schema`."""
    table = connection.ops.quote_name(model._meta.db_table)
    qualified = f"{connection.ops.quote_name(schema)}.{table}"
    return sql.replace(f"{verb} {table}", f"{verb} {qualified}", 1)


def _write_all(writes: list[tuple[str, models.Model, tuple[str, ...] | None]]) -> None:
    inserts: dict[tuple[str, type[models.Model]], list[models.Model]] = {}
    statements, params = [], []
    for schema, row, fields in writes:
        if fields is None:
            inserts.setdefault((schema, type(row)), []).append(row)
            continue
        query = UpdateQuery(type(row))
        query.add_update_fields(
            [
                (field, None, field.pre_save(row, False))
                for field in map(row._meta.get_field, fields)
            ]
        )
        query.add_filter("pk", row.pk)
        sql, values = query.get_compiler(connection=connection).as_sql()
        statements.append(_in_schema(sql, "UPDATE", type(row), schema))
        params.extend(values)
    for (schema, model), group in inserts.items():
        fields = [f for f in model._meta.local_concrete_fields if not f.primary_key]
        query = InsertQuery(model)
        query.insert_values(fields, group)
        ((sql, values),) = query.get_compiler(connection=connection).as_sql()
        statements.append(_in_schema(sql, "INSERT INTO", model, schema))
        params.extend(values)
    with connection.cursor() as cursor:
        cursor.execute("; ".join(statements), params)
