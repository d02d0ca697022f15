"""Readiness checks: PostgreSQL, Redis, media storage and (optionally) a Celery worker.

Each check is a small function that returns quietly or raises; `readiness()` runs them
with short timeouts and reports, per check, whether it passed, how long it took and why it
failed. Liveness checks nothing: a process that can answer is alive, and restarting web
pods because PostgreSQL is down would only add a restart storm to the outage.

A missing Celery worker does not make the web tier unready by default (pages still work
and tasks wait in the queue); UPLINE_HEALTH_REQUIRE_WORKER=on makes it count. The worker
ping costs up to the timeout when no worker answers, so it runs only when it counts or
when someone allowed to read the details asks for it (/health/ready?workers=1).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connections

_redis_clients: dict[str, object] = {}


class CheckFailed(Exception):
    """A dependency is not usable; the message says why (shown to authorised callers)."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    required: bool
    milliseconds: float
    problem: str = ""

    def as_json(self) -> dict:
        result = {"ok": self.ok, "required": self.required, "ms": round(self.milliseconds, 1)}
        if self.problem:
            result["problem"] = self.problem
        return result


def _timeout() -> float:
    return float(settings.UPLINE_HEALTH_TIMEOUT_SECONDS)


def check_database() -> None:
    """One round trip on this thread's connection (opened if needed)."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        if cursor.fetchone() != (1,):
            raise CheckFailed("SELECT 1 did not answer 1")


def redis_client(url: str):
    """A client for `url` with short timeouts, kept per process (it holds a small pool)."""
    import redis

    client = _redis_clients.get(url)
    if client is None:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=_timeout(), socket_timeout=_timeout()
        )
        _redis_clients[url] = client
    return client


def check_redis() -> None:
    url = settings.REDIS_URL
    if not url:
        return  # development without Redis: cache and broker live in the process
    if not redis_client(url).ping():
        raise CheckFailed("PING was not answered")


def check_storage() -> None:
    """Write, read back and delete a small file where uploads and PDFs are stored."""
    payload = uuid.uuid4().hex.encode()
    name = default_storage.save(f"_health/{payload.decode()}.txt", ContentFile(payload))
    try:
        with default_storage.open(name, "rb") as stored:
            if stored.read() != payload:
                raise CheckFailed("the file read back differs from the file written")
    finally:
        default_storage.delete(name)


def check_workers() -> None:
    from config.celery import app

    replies = app.control.ping(timeout=_timeout(), limit=1)
    if not replies:
        raise CheckFailed(f"no Celery worker answered a ping within {_timeout():g} s")


def _run(name: str, check: Callable[[], None], *, required: bool) -> CheckResult:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:  # any failure of a dependency means "not ready", never a 500
        problem = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return CheckResult(
            name,
            ok=False,
            required=required,
            milliseconds=(time.perf_counter() - started) * 1000,
            problem=f"{type(exc).__name__}: {problem}"[:300],
        )
    return CheckResult(
        name, ok=True, required=required, milliseconds=(time.perf_counter() - started) * 1000
    )


def readiness(*, with_workers: bool = False) -> list[CheckResult]:
    """Every check's result; the app is ready when every required one passed."""
    require_worker = settings.UPLINE_HEALTH_REQUIRE_WORKER
    results = [
        _run("database", check_database, required=True),
        _run("redis", check_redis, required=True),
        _run("storage", check_storage, required=True),
    ]
    if require_worker or with_workers:
        results.append(_run("workers", check_workers, required=require_worker))
    return results


def is_ready(results: list[CheckResult]) -> bool:
    return all(result.ok for result in results if result.required)
