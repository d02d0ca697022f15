"""django-tenants' PostgreSQL backend, with the schema switch folded into the next query.

django-tenants switches instance by sending `SET search_path = …` on its own, one network
round trip before the query that needs it. Here the statement is kept pending on the
connection and sent in the same round trip as the next query (`SET …; SELECT …` through
the simple query protocol that Django's client-side-binding cursors already use), then the
cursor moves on to the query's own result.

The pending statement belongs to the connection, not to a cursor, and is cleared only
once PostgreSQL has executed it, so a cursor that is opened and never used cannot leave
the connection believing it is in a schema it is not in. Anything this path does not
cover (server-side cursors, executemany, COPY, composed SQL) sends the SET first, exactly
as django-tenants does.

Behind PgBouncer in transaction pooling (`PGBOUNCER_TRANSACTION_POOLING` in the database
settings, from UPLINE_PGBOUNCER_TRANSACTION_POOLING) consecutive transactions of one
connection may run on different server connections, so "the path is already set" cannot be
remembered past a transaction. The schema then travels inside every transaction as
`SET LOCAL search_path`, which PostgreSQL forgets at the transaction's end (nothing leaks to
the next client of that server connection): with every statement in autocommit (the
statement and its SET form one implicit transaction), once per explicit transaction
otherwise. Off (the default), nothing of this runs.
"""

from __future__ import annotations

import re

from django.db.backends.postgresql.base import Cursor as DjangoCursor
from django_tenants.postgresql_backend import base as tenants_base
from django_tenants.utils import get_limit_set_calls, quote_schema_name

# Two statements in one simple query run as one implicit transaction, which statements like
# CREATE DATABASE or VACUUM refuse; plain DML is what pages run and is safe to combine.
_COMBINABLE = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)
# A rollback (to a savepoint) runs without the pending SET: after a failed query PostgreSQL
# refuses every statement but a rollback, so sending the SET first would lose the whole
# transaction. The rollback also undoes a SET sent since the savepoint; django-tenants then
# forgets the applied path, and the SET goes with the next query.
_ROLLBACK = re.compile(r"\s*ROLLBACK\b", re.IGNORECASE)
# Statements PostgreSQL refuses inside a transaction block: never combined, even behind
# PgBouncer (they do not depend on the search path in this project).
_OUTSIDE_TRANSACTION = re.compile(
    r"\s*(VACUUM|CREATE\s+DATABASE|DROP\s+DATABASE|ALTER\s+SYSTEM|REINDEX\s+DATABASE"
    r"|CREATE\s+(UNIQUE\s+)?INDEX\s+CONCURRENTLY|DROP\s+INDEX\s+CONCURRENTLY)\b",
    re.IGNORECASE,
)

DatabaseError = tenants_base.DatabaseError
IntegrityError = tenants_base.IntegrityError


class DeferredSearchPathCursor(DjangoCursor):
    """A client-side-binding cursor that sends its connection's pending SET with a query."""

    owner: DatabaseWrapper | None = None

    def _flush_pending_alone(self) -> None:
        pending = self.owner._pending_search_path if self.owner is not None else None
        if pending:
            super().execute(pending[0])
            self.owner._search_path_applied(pending[1])

    def execute(self, query, params=None, **kwargs):
        pending = self.owner._pending_search_path if self.owner is not None else None
        if not pending or (isinstance(query, str) and _ROLLBACK.match(query)):
            return super().execute(query, params, **kwargs)
        if not isinstance(query, str) or kwargs.get("prepare") or not self._combinable(query):
            self._flush_pending_alone()
            return super().execute(query, params, **kwargs)
        statement, paths = pending
        super().execute(f"{statement}; {query}", params, **kwargs)
        self.nextset()  # step past the SET's empty result to the query's own
        self.owner._search_path_applied(paths)
        return self

    def _combinable(self, query: str) -> bool:
        if _COMBINABLE.match(query):
            return True
        # Behind PgBouncer a SET sent alone in autocommit may reach another server
        # connection than the statement after it: DDL travels with its SET too.
        return self.owner.transaction_pooling and not _OUTSIDE_TRANSACTION.match(query)

    def executemany(self, query, params_seq, **kwargs):
        if self.owner is not None and self.owner.transaction_pooling and self.connection.autocommit:
            # One transaction for the SET and every statement: one server connection.
            with self.connection.transaction():
                self._flush_pending_alone()
                return super().executemany(query, params_seq, **kwargs)
        self._flush_pending_alone()
        return super().executemany(query, params_seq, **kwargs)

    def copy(self, statement, params=None, **kwargs):
        self._flush_pending_alone()
        return super().copy(statement, params, **kwargs)

    def stream(self, query, params=None, **kwargs):
        self._flush_pending_alone()
        return super().stream(query, params, **kwargs)


class DatabaseWrapper(tenants_base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        self._pending_search_path: tuple[str, list[str]] | None = None
        super().__init__(*args, **kwargs)
        # Behind PgBouncer in transaction pooling: the schema is set inside each transaction.
        self.transaction_pooling = bool(self.settings_dict.get("PGBOUNCER_TRANSACTION_POOLING"))

    def get_connection_params(self):
        params = super().get_connection_params()
        if params.get("cursor_factory") is DjangoCursor:
            params["cursor_factory"] = DeferredSearchPathCursor
        return params

    def create_cursor(self, name=None):
        cursor = super().create_cursor(name)
        if isinstance(cursor, DeferredSearchPathCursor):
            cursor.owner = self
        return cursor

    def close(self):
        self._pending_search_path = None
        super().close()

    def _search_path_applied(self, paths: list[str]) -> None:
        if self.transaction_pooling and self.get_autocommit():
            # That SET LOCAL ended with its statement's implicit transaction: the next
            # statement carries it again.
            self.search_path_set_schemas = None
            return
        self.search_path_set_schemas = paths
        self._pending_search_path = None

    def _handle_search_path(self, cursor=None):
        if self._setting_search_path:
            return
        raw = getattr(cursor, "cursor", None)
        if not isinstance(raw, DeferredSearchPathCursor):
            # Server-side (named) cursors and foreign cursors: set it now, on its own.
            self._pending_search_path = None
            return super()._handle_search_path(cursor)
        paths = self._get_cursor_search_paths()
        if get_limit_set_calls() and self.search_path_set_schemas == paths:
            self._pending_search_path = None
            return
        self._arm_search_path(paths)

    def _arm_search_path(self, paths: list[str]) -> None:
        verb = "SET LOCAL" if self.transaction_pooling else "SET"
        statement = f"{verb} search_path = " + ",".join(quote_schema_name(p) for p in paths)
        self._pending_search_path = (statement, paths)

    def _transaction_ended(self) -> None:
        # The SET LOCAL went with the transaction; the next one may be on another server.
        self.search_path_set_schemas = None
        if self.schema_name:
            self._arm_search_path(self._get_cursor_search_paths())

    def _commit(self):
        result = super()._commit()
        if self.transaction_pooling:
            self._transaction_ended()
        return result

    def _rollback(self):
        result = super()._rollback()
        if self.transaction_pooling:
            self._transaction_ended()
        return result

    def savepoint_rollback(self, sid):
        super().savepoint_rollback(sid)
        if self.transaction_pooling and self.schema_name:
            # A SET LOCAL sent after the savepoint is undone with it: send it again.
            self._arm_search_path(self._get_cursor_search_paths())
