"""Rows written when a block ends, all in one round trip to the database.

A crossing between two instances (an escalation, a relayed reply) records events in both
schemas' audit trails and queues notifications in their outboxes. Nobody reads those rows
back inside the crossing, so instead of one INSERT each, as they happen, `batched()` holds
them and writes them when the block ends: one INSERT per schema and table, each naming its
schema's table, sent together. They are still written inside the caller's transaction (an
exception writes none: the transaction rolls back anyway).

Only for append-only rows whose id nobody needs before the block ends; `insert_later`
says whether a row was held, so the caller saves it at once otherwise.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from django.db import connection, models
from django.db.models.sql import InsertQuery

_batch: contextvars.ContextVar[list | None] = contextvars.ContextVar("deferred_rows", default=None)


@contextlib.contextmanager
def batched() -> Iterator[None]:
    """Hold the rows given to `insert_later` inside and write them when the block ends.
    Nested blocks join the outermost."""
    if _batch.get() is not None:
        yield
        return
    rows: list[tuple[str, models.Model]] = []
    token = _batch.set(rows)
    try:
        yield
    finally:
        _batch.reset(token)
    if rows:
        _insert_all(rows)


def insert_later(row: models.Model) -> bool:
    """Hold `row` (unsaved) for the current schema until the enclosing `batched()` block
    ends; False, and nothing held, outside one."""
    pending = _batch.get()
    if pending is None:
        return False
    pending.append((connection.schema_name, row))
    return True


def _insert_all(rows: list[tuple[str, models.Model]]) -> None:
    groups: dict[tuple[str, type[models.Model]], list[models.Model]] = {}
    for schema, row in rows:
        groups.setdefault((schema, type(row)), []).append(row)
    statements, params = [], []
    for (schema, model), group in groups.items():
        fields = [f for f in model._meta.local_concrete_fields if not f.primary_key]
        query = InsertQuery(model)
        query.insert_values(fields, group)
        ((sql, values),) = query.get_compiler(connection=connection).as_sql()
        table = connection.ops.quote_name(model._meta.db_table)
        schema_table = f"{connection.ops.quote_name(schema)}.{table}"
        statements.append(sql.replace(f"INSERT INTO {table}", f"INSERT INTO {schema_table}", 1))
        params.extend(values)
    with connection.cursor() as cursor:
        cursor.execute("; ".join(statements), params)
