"""Prometheus metrics of the whole platform, never of one instance.

Two kinds:
- Counted where they happen, per process: requests and their latency by instance group
  (`operator`, `reseller`, `none` for hosts that route nowhere) and view name. Labels never
  carry a schema, host or user, so a thousand instances make no more series than one.
  Under gunicorn with PROMETHEUS_MULTIPROC_DIR set, prometheus_client's multiprocess mode
  sums every worker's numbers (deploy/gunicorn.conf.py sets the folder up).
- Read at scrape time from the shared services, cached for UPLINE_METRICS_SCAN_SECONDS:
  Celery queue lengths (Redis LLEN), the helpdesk outboxes of all instances and the
  bridge's callback outbox, unprocessed Stripe events, PostgreSQL connections, instances
  by status, and billing runs (durations are written to Redis by whichever worker ran
  them, see `billing_run_record`, so any web process can report them).

django-prometheus does not fit here: its per-database metrics need its own database
backend in ENGINE, which would replace django-tenants' (and ours, config.db_backend).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.db import connection, transaction
from django_tenants.utils import get_public_schema_name, schema_context
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from . import health

log = logging.getLogger(__name__)

REQUESTS = Counter(
    "upline_http_requests_total",
    "HTTP requests answered, by instance group, view, method and status class.",
    ["group", "view", "method", "status"],
)
LATENCY = Histogram(
    "upline_http_request_duration_seconds",
    "Time from the first middleware to the response, by instance group and view.",
    ["group", "view"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Billing runs last seconds to half an hour (the task's hard limit).
RUN_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0)
RUN_KINDS = ("renewals", "dunning")


def request_observe(*, group: str, view: str, method: str, status: int, seconds: float) -> None:
    method = method if method in _METHODS else "other"
    REQUESTS.labels(group, view, method, f"{status // 100}xx").inc()
    LATENCY.labels(group, view).observe(seconds)


# ---------------------------------------------------------------------------------------
# Billing runs: recorded by the worker that ran them, in Redis, read by any web process.

_local_runs: dict[str, dict[str, float]] = {}  # no Redis (development): this process only
_local_lock = threading.Lock()


def _runs_key(kind: str) -> str:
    return f"{settings.UPLINE_METRICS_PREFIX}billing_run:{kind}"


def billing_run_record(*, kind: str, status: str, seconds: float) -> None:
    """Add one finished run to the shared histogram; never raises (a metric must not cost
    the run that feeds it)."""
    fields = {f"le:{bucket:g}": 1 for bucket in RUN_BUCKETS if seconds <= bucket}
    fields.update({"le:+Inf": 1, "count": 1, f"status:{status}": 1})
    try:
        if settings.REDIS_URL:
            key = _runs_key(kind)
            pipe = health.redis_client(settings.REDIS_URL).pipeline()
            for field, step in fields.items():
                pipe.hincrby(key, field, step)
            pipe.hincrbyfloat(key, "sum", seconds)
            pipe.hset(key, "last_finished", time.time())
            pipe.execute()
            return
        with _local_lock:
            row = _local_runs.setdefault(kind, {})
            for field, step in fields.items():
                row[field] = row.get(field, 0) + step
            row["sum"] = row.get("sum", 0.0) + seconds
            row["last_finished"] = time.time()
    except Exception:
        log.warning("Could not record a billing run's duration.", exc_info=True)


def _run_rows() -> dict[str, dict[str, float]]:
    if not settings.REDIS_URL:
        with _local_lock:
            return {kind: dict(row) for kind, row in _local_runs.items()}
    client = health.redis_client(settings.REDIS_URL)
    pipe = client.pipeline()
    for kind in RUN_KINDS:
        pipe.hgetall(_runs_key(kind))
    rows = {}
    for kind, raw in zip(RUN_KINDS, pipe.execute(), strict=True):
        rows[kind] = {key.decode(): float(value) for key, value in raw.items()}
    return rows


def _billing_run_families() -> Iterator[Metric]:
    rows = _run_rows()
    durations = HistogramMetricFamily(
        "upline_billing_run_duration_seconds",
        "Duration of finished renewal and dunning runs, over every instance.",
        labels=["kind"],
    )
    runs = CounterMetricFamily(
        "upline_billing_runs",
        "Finished billing runs by kind and outcome.",
        labels=["kind", "status"],
    )
    last = GaugeMetricFamily(
        "upline_billing_run_last_finished_timestamp_seconds",
        "When a run of this kind last finished in any instance (Unix time).",
        labels=["kind"],
    )
    for kind in RUN_KINDS:
        row = rows.get(kind, {})
        buckets = [(f"{bucket:g}", row.get(f"le:{bucket:g}", 0.0)) for bucket in RUN_BUCKETS]
        buckets.append(("+Inf", row.get("le:+Inf", 0.0)))
        durations.add_metric([kind], buckets, sum_value=row.get("sum", 0.0))
        for status in ("done", "failed"):
            runs.add_metric([kind, status], row.get(f"status:{status}", 0.0))
        if "last_finished" in row:
            last.add_metric([kind], row["last_finished"])
    yield from (durations, runs, last)


# ---------------------------------------------------------------------------------------
# Read at scrape time.


def _celery_queue_families() -> Iterator[Metric]:
    broker = settings.CELERY_BROKER_URL or ""
    if not broker.startswith(("redis://", "rediss://", "unix://")):
        return
    client = health.redis_client(broker)
    queues = list(settings.UPLINE_METRICS_QUEUES)
    pipe = client.pipeline()
    for queue in queues:
        pipe.llen(queue)
    depth = GaugeMetricFamily(
        "upline_celery_queue_length", "Tasks waiting in each Celery queue.", labels=["queue"]
    )
    for queue, length in zip(queues, pipe.execute(), strict=True):
        depth.add_metric([queue], length)
    yield depth


def _schemas_with_table(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = %s AND c.relkind IN ('r', 'p') ORDER BY n.nspname",
            [table],
        )
        return [row[0] for row in cursor.fetchall()]


def _pending_over_schemas(table: str, schemas: list[str], chunk: int = 250) -> tuple[int, float]:
    """(rows not delivered, age in seconds of the oldest) of `table` over `schemas`, in a
    few UNION ALL queries rather than one query per instance."""
    quote = connection.ops.quote_name
    total, oldest = 0, None
    for start in range(0, len(schemas), chunk):
        parts = " UNION ALL ".join(
            f"SELECT created_at FROM {quote(schema)}.{quote(table)} WHERE delivered_at IS NULL"
            for schema in schemas[start : start + chunk]
        )
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*), min(created_at) FROM ({parts}) AS pending")
            count, first = cursor.fetchone()
        total += count
        if first is not None and (oldest is None or first < oldest):
            oldest = first
    age = (time.time() - oldest.timestamp()) if oldest is not None else 0.0
    return total, max(age, 0.0)


def _outbox_families() -> Iterator[Metric]:
    from shared_apps.bridge.models import CallbackDelivery
    from tenant_apps.helpdesk.models import Outbox

    pending = GaugeMetricFamily(
        "upline_outbox_pending",
        "Notifications written but not delivered yet, over every instance.",
        labels=["outbox"],
    )
    age = GaugeMetricFamily(
        "upline_outbox_oldest_pending_age_seconds",
        "Age of the oldest undelivered notification (0 when none waits).",
        labels=["outbox"],
    )
    table = Outbox._meta.db_table
    count, oldest = _pending_over_schemas(table, _schemas_with_table(table))
    pending.add_metric(["helpdesk"], count)
    age.add_metric(["helpdesk"], oldest)
    count, oldest = _pending_over_schemas(
        CallbackDelivery._meta.db_table, [get_public_schema_name()]
    )
    pending.add_metric(["bridge_callbacks"], count)
    age.add_metric(["bridge_callbacks"], oldest)
    yield from (pending, age)


def _webhook_families() -> Iterator[Metric]:
    from django.db.models import Count, Min

    from shared_apps.stripe_webhooks.models import StripeEvent

    waiting = StripeEvent.objects.filter(processed_at__isnull=True).aggregate(
        count=Count("pk"), oldest=Min("received_at")
    )
    yield GaugeMetricFamily(
        "upline_stripe_events_unprocessed",
        "Stripe events received and stored but not applied yet.",
        value=waiting["count"],
    )
    lag = time.time() - waiting["oldest"].timestamp() if waiting["oldest"] else 0.0
    yield GaugeMetricFamily(
        "upline_stripe_webhook_lag_seconds",
        "Age of the oldest unprocessed Stripe event (0 when all are applied).",
        value=max(lag, 0.0),
    )


def _database_families() -> Iterator[Metric]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() GROUP BY 1"
        )
        states = cursor.fetchall()
        cursor.execute("SELECT current_setting('max_connections')::int")
        (maximum,) = cursor.fetchone()
    connections = GaugeMetricFamily(
        "upline_db_connections",
        "Server connections to Upline's database by state (pg_stat_activity).",
        labels=["state"],
    )
    for state, count in states:
        connections.add_metric([state], count)
    yield connections
    yield GaugeMetricFamily(
        "upline_db_max_connections", "PostgreSQL's max_connections.", value=maximum
    )
    pool = getattr(connection, "pool", None)  # Django's psycopg pool, when OPTIONS has one
    if pool is not None:
        stats = pool.get_stats()
        size = GaugeMetricFamily(
            "upline_db_pool_connections",
            "Connections of this process's psycopg pool.",
            labels=["kind"],
        )
        size.add_metric(["size"], stats.get("pool_size", 0))
        size.add_metric(["available"], stats.get("pool_available", 0))
        size.add_metric(["waiting"], stats.get("requests_waiting", 0))
        yield size


def _instance_families() -> Iterator[Metric]:
    from django.db.models import Count

    from shared_apps.tenancy.models import Reseller

    instances = GaugeMetricFamily(
        "upline_instances", "Reseller instances by status.", labels=["status"]
    )
    counted = dict(Reseller.objects.values_list("status").annotate(n=Count("pk")))
    for status in Reseller.Status.values:
        instances.add_metric([status], counted.get(status, 0))
    yield instances


SOURCES = (
    ("billing_runs", _billing_run_families),
    ("celery_queues", _celery_queue_families),
    ("outboxes", _outbox_families),
    ("stripe_webhooks", _webhook_families),
    ("database", _database_families),
    ("instances", _instance_families),
)


class PlatformCollector:
    """The scrape-time metrics, each source on its own: one that fails reports
    `upline_metrics_source_up{source=…} 0` and the others still answer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def collect(self) -> Iterable[Metric]:
        ttl = float(settings.UPLINE_METRICS_SCAN_SECONDS)
        with self._lock:
            now = time.monotonic()
            if self._cached is not None and now < self._cached[0]:
                return list(self._cached[1])
            families = self._scan()
            self._cached = (now + ttl, families)
            return list(families)

    def _scan(self) -> list[Metric]:
        families: list[Metric] = []
        up = GaugeMetricFamily(
            "upline_metrics_source_up",
            "Whether the last scrape could read this source (1) or not (0).",
            labels=["source"],
        )
        with schema_context(get_public_schema_name()):
            for name, source in SOURCES:
                try:
                    # A savepoint each: a failed query must not spoil the next source's.
                    with transaction.atomic():
                        families.extend(source())
                except Exception as exc:
                    log.warning("Metrics source %s could not be read: %r", name, exc)
                    up.add_metric([name], 0)
                else:
                    up.add_metric([name], 1)
        families.append(up)
        return families

    def forget(self) -> None:
        with self._lock:
            self._cached = None


platform_collector = PlatformCollector()
_platform_registry = CollectorRegistry(auto_describe=False)
_platform_registry.register(platform_collector)


def render() -> tuple[bytes, str]:
    """The exposition text: this process's (or all gunicorn workers') counters, then the
    platform's scrape-time readings."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        counted = generate_latest(registry)
    else:
        counted = generate_latest(REGISTRY)
    return counted + generate_latest(_platform_registry), CONTENT_TYPE_LATEST
