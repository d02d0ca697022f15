"""Log lines as JSON objects, one per line, carrying the request id and instance schema.

`ContextFilter` adds `request_id` and `schema` to every record (empty outside a request or
task); `JsonLinesFormatter` writes the record as one JSON object. Production settings use
both; development keeps Django's readable lines (the filter is harmless there).
"""

from __future__ import annotations

import datetime
import json
import logging

from . import context

# Attributes every LogRecord has; anything else was passed through `extra=` and is kept.
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "request_id", "schema", "taskName", "request"}
)


class ContextFilter(logging.Filter):
    """Stamp each record with the current request id and schema (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = context.request_id.get()
        if not getattr(record, "schema", ""):
            record.schema = context.current_schema()
        return True


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, request
    id, schema, the exception if any, and whatever the caller passed with `extra=`."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "") or context.request_id.get(),
            "schema": getattr(record, "schema", "") or context.current_schema(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # default=str: a stray object in `extra=` must never cost the log line.
        return json.dumps(line, default=str, ensure_ascii=False)
