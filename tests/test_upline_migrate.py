"""`upline_migrate` over many instances: a killed run resumes, a failing instance is reported.

The real command runs in a subprocess against a database of its own (a copy of the test
database with six more instances), with the test-only app `tests.migrate_probe` installed
so that every schema has one migration to apply.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from django.db import connection, connections

from provisioning.management.commands.upline_migrate import RUN_LOCK_KEY

ROOT = Path(__file__).resolve().parents[1]
EXTRA_INSTANCES = [f"mig{i}" for i in range(6)]
PROBE_TABLE = "migrate_probe_probenote"
# Asks pytest-django for the test database (the playground copies it).
pytestmark = pytest.mark.django_db


def _url(dbname: str) -> str:
    settings_dict = connection.settings_dict
    user = settings_dict.get("USER") or "postgres"
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{dbname}"


def _env(url: str, settings_module: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "CI": "1",  # the plain counter line, not the progress bar
        **extra,
    }


def _python(url: str, code: str) -> None:
    subprocess.run(
        [sys.executable, "-c", f"import django; django.setup()\n{code}"],
        cwd=ROOT,
        env=_env(url, "config.settings.test"),
        check=True,
        capture_output=True,
        timeout=300,
    )


def _migrate(url: str, *args: str, pause: float = 0.0, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "upline_migrate", *args],
        cwd=ROOT,
        env=_env(url, "tests.migrate_probe.settings", UPLINE_PROBE_PAUSE=str(pause)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


@pytest.fixture(scope="module")
def playground(django_db_setup, django_db_blocker):
    """A database of the test's own: the session's instances plus six more."""
    with django_db_blocker.unblock():
        source = connection.settings_dict["NAME"]
        name = f"{source}_migrate"
        url = _url(name)
        admin = _url("postgres")
        connections.close_all()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            try:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
                cloned = True
            except psycopg.errors.ObjectInUse:  # another session on the test database
                conn.execute(f'CREATE DATABASE "{name}"')
                cloned = False
        if not cloned:
            subprocess.run(
                [sys.executable, "manage.py", "upline_setup", "--pool", "0"],
                cwd=ROOT,
                env=_env(url, "config.settings.test"),
                check=True,
                capture_output=True,
                timeout=600,
            )
        _python(
            url,
            "from shared_apps.tenancy.services import reseller_create\n"
            f"for slug in {EXTRA_INSTANCES!r}:\n"
            "    reseller_create(slug=slug, name=slug, legal_name=slug,"
            " owner_email=f'o@{slug}.test', owner_password='x-long-password-1',"
            " method='template')\n",
        )
        yield url
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _instance_schemas(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT schema_name FROM public.tenancy_reseller ORDER BY 1")
        return [row[0] for row in rows]


def _probe_applied(url: str) -> dict[str, list]:
    """Each instance schema's records of the probe migration (when it was applied)."""
    found = {}
    with psycopg.connect(url) as conn:
        for schema in _instance_schemas(url):
            rows = conn.execute(
                f'SELECT applied FROM "{schema}".django_migrations WHERE app = %s',
                ["migrate_probe"],
            ).fetchall()
            found[schema] = [row[0] for row in rows]
    return found


def _unmigrate_probe(url: str) -> None:
    """Back to "the probe migration is new": no table, no record, template to rebuild."""
    with psycopg.connect(url, autocommit=True) as conn:
        schemas = ["public", "_template", *_instance_schemas(url)]
        for schema in schemas:
            conn.execute(f'DROP TABLE IF EXISTS "{schema}".{PROBE_TABLE}')
            conn.execute(f"DELETE FROM \"{schema}\".django_migrations WHERE app = 'migrate_probe'")
        conn.execute("DELETE FROM public.provisioning_templatesnapshot")


def test_a_killed_run_resumes_and_migrates_only_the_instances_it_had_not_reached(playground):
    _unmigrate_probe(playground)
    total = len(_instance_schemas(playground))
    # The session's instances are there too when the test database could be cloned.
    assert total >= len(EXTRA_INSTANCES)

    run = _migrate(playground, "--workers", "1", pause=0.4, start_new_session=True)
    deadline = time.monotonic() + 240
    done: dict[str, list] = {}
    while time.monotonic() < deadline and run.poll() is None:
        done = {s: t for s, t in _probe_applied(playground).items() if t}
        if len(done) >= 3:
            break
        time.sleep(0.05)
    assert run.poll() is None, "the run finished before it could be killed"
    os.killpg(run.pid, signal.SIGKILL)  # the whole run, workers included, without warning
    run.wait(timeout=30)
    before_rerun = {s: t for s, t in _probe_applied(playground).items() if t}
    assert 3 <= len(before_rerun) < total

    rerun = _migrate(playground, "--workers", "2")
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    remaining = total - len(before_rerun)
    assert f"{remaining} of {total} instance schema(s) to migrate" in out
    assert "All instances migrated" in out
    after = _probe_applied(playground)
    # Every instance has the migration exactly once; those migrated before the kill kept
    # their original record (nothing was applied twice).
    assert all(len(times) == 1 for times in after.values()), after
    for schema, times in before_rerun.items():
        assert after[schema] == times


def test_a_failing_instance_is_reported_and_does_not_stop_the_others(playground):
    _unmigrate_probe(playground)
    schemas = _instance_schemas(playground)
    broken = "r_mig2"
    with psycopg.connect(playground, autocommit=True) as conn:
        # Something already sits where the migration creates its table.
        conn.execute(f'CREATE TABLE "{broken}".{PROBE_TABLE} (leftover integer)')

    run = _migrate(playground, "--workers", "2")
    out, err = run.communicate(timeout=300)

    assert run.returncode != 0
    assert f"1 of {len(schemas)} instance schema(s) failed to migrate: {broken}." in err
    assert f"{broken}: " in err and "already exists" in err
    applied = _probe_applied(playground)
    assert applied.pop(broken) == []
    assert all(len(times) == 1 for times in applied.values()), applied

    with psycopg.connect(playground, autocommit=True) as conn:
        conn.execute(f'DROP TABLE "{broken}".{PROBE_TABLE}')
    rerun = _migrate(playground, "--workers", "2")
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert f"1 of {len(schemas)} instance schema(s) to migrate" in out
    assert all(len(times) == 1 for times in _probe_applied(playground).values())


def test_a_second_run_at_the_same_time_is_refused(playground):
    with psycopg.connect(playground, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", [RUN_LOCK_KEY])
        run = _migrate(playground, "--workers", "1")
        out, err = run.communicate(timeout=120)
    assert run.returncode != 0
    assert "Another upline_migrate is running on this database" in err
