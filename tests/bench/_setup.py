"""Shared set-up for benchmark scripts: a throw-away database and Django configured for it.

Benchmarks never touch the development or test databases: each run creates (and at the
end drops) its own database next to the one DATABASE_URL names.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]


def _admin_url(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


def configure(db_name: str) -> None:
    """Point Django at a fresh database `db_name`, migrate it and build the template."""
    # The scripts' own folder comes first on sys.path, and `provisioning.py` there would
    # shadow the `provisioning` package.
    here = Path(__file__).resolve().parent
    sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != here]
    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/upline")
    os.environ["DATABASE_URL"] = _admin_url(base_url, db_name)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.bench")
    # Stored PDFs of benchmark runs go to a throw-away folder, not the project's .var/media.
    os.environ.setdefault("UPLINE_MEDIA_ROOT", tempfile.mkdtemp(prefix="upline-bench-media-"))
    import psycopg

    with psycopg.connect(_admin_url(base_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db_name}"')

    import django

    import provisioning  # noqa: F401  (bind the package before django.setup sees the script's name)

    django.setup()
    from django.core.management import call_command

    call_command("upline_setup", pool=0, verbosity=0)


def drop(db_name: str) -> None:
    from django.db import connections

    connections.close_all()
    import psycopg

    base_url = os.environ["DATABASE_URL"]
    with psycopg.connect(_admin_url(base_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def p95(values: list[float], ndigits: int = 1) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = max(int(round(0.95 * len(ordered))) - 1, 0)
    return round(ordered[index], ndigits)
