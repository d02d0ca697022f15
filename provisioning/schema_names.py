"""Schema names: what an instance schema may be called.

Schema names reach SQL (CREATE/ALTER SCHEMA, SET search_path), so they are validated by a
strict allow-list, not by escaping: lowercase ASCII letters, digits and underscores, 63
bytes at most, never a name PostgreSQL or Upline reserves for itself.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

SCHEMA_PREFIX = "r_"
TEMPLATE_SCHEMA = "_template"
POOL_SCHEMA_PREFIX = "_pool_"
MAX_SCHEMA_LENGTH = 63

_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]*\Z")

RESERVED_SCHEMAS = {"public", "information_schema", TEMPLATE_SCHEMA}


def validate_schema_name(name: str, *, allow_internal: bool = False) -> str:
    """Return `name` if it is a schema an instance may live in, else raise ValidationError."""
    if not isinstance(name, str) or not name:
        raise ValidationError("A schema name is required.", code="schema_required")
    if len(name.encode()) > MAX_SCHEMA_LENGTH:
        raise ValidationError(
            f"Schema names are at most {MAX_SCHEMA_LENGTH} characters.", code="schema_too_long"
        )
    if not _SCHEMA_RE.match(name):
        raise ValidationError(
            "Schema names use lowercase letters, digits and underscores only.",
            code="schema_invalid",
        )
    if name.startswith("pg_"):
        raise ValidationError("Names starting with pg_ belong to PostgreSQL.", code="schema_pg")
    if not allow_internal and (name in RESERVED_SCHEMAS or name.startswith(POOL_SCHEMA_PREFIX)):
        raise ValidationError(f"“{name}” is reserved by Upline.", code="schema_reserved")
    return name
