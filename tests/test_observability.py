"""Health endpoints, Prometheus metrics, request ids and JSON log lines.

Probes and scrapers reach the app by a pod IP, the base domain or any instance's domain;
what an anonymous caller learns is the status alone, and nothing any of them reads names
an instance.
"""

from __future__ import annotations

import datetime
import io
import json
import logging
import os
import re
import subprocess
import sys
import uuid

import pytest
from django.conf import settings
from django.db import OperationalError, connections
from django.test import Client, override_settings
from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.observability import health, metrics
from shared_apps.observability.logs import ContextFilter, JsonLinesFormatter
from shared_apps.stripe_webhooks.models import StripeEvent
from tenant_apps.helpdesk.models import Outbox

TOKEN = "ops-token-for-tests-0123456789"
PUBLIC_ADDRESS = "203.0.113.9"  # a caller on the internet, as the app sees it
UNROUTED_HOST = "10.1.2.3:8000"  # what a kubelet probe sends as Host: a pod IP


@pytest.fixture(autouse=True)
def _ops_settings(settings):
    settings.UPLINE_OPS_TOKEN = TOKEN
    settings.UPLINE_HEALTH_TIMEOUT_SECONDS = 0.5
    settings.UPLINE_METRICS_SCAN_SECONDS = 0
    # Shared Redis on this machine: the test's own keys, removed afterwards.
    settings.UPLINE_METRICS_PREFIX = f"test-metrics-{uuid.uuid4().hex}:"
    metrics.platform_collector.forget()
    redis_url, prefix = settings.REDIS_URL, settings.UPLINE_METRICS_PREFIX
    yield
    if redis_url:
        client = health.redis_client(redis_url)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)


def _anonymous(host: str = UNROUTED_HOST) -> Client:
    return Client(HTTP_HOST=host, REMOTE_ADDR=PUBLIC_ADDRESS)


def _operations(host: str = UNROUTED_HOST) -> Client:
    return Client(HTTP_HOST=host, REMOTE_ADDR=PUBLIC_ADDRESS, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")


@pytest.fixture
def database_down(db):
    """Every new cursor on this thread's connection fails as PostgreSQL being down does
    (put back before the test's transaction is rolled back)."""

    def refused(*args, **kwargs):
        raise OperationalError('connection to server at "db" (10.0.0.5), port 5432 failed')

    wrapper = connections["default"]
    wrapper.cursor = refused
    yield
    del wrapper.cursor


@pytest.fixture
def redis_down(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1


needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="needs the Redis server")


# -- health -----------------------------------------------------------------------------


@needs_redis
@pytest.mark.parametrize("host_of", ["unrouted", "operator", "instance"])
def test_ready_answers_200_with_the_status_alone_on_any_host(instance_a, operator, host_of):
    host = {"unrouted": UNROUTED_HOST, "operator": operator.host, "instance": instance_a.host}
    response = _anonymous(host[host_of]).get("/health/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_live_answers_200_on_a_host_no_instance_uses(db):
    response = _anonymous().get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_is_503_without_details_when_postgresql_is_down(db, database_down):
    response = _anonymous().get("/health/ready")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}  # no host, port or error text


def test_ready_details_name_the_database_when_postgresql_is_down(db, database_down):
    response = _operations().get("/health/ready")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["ok"] is False
    assert checks["database"]["problem"].startswith("OperationalError: connection to server")
    assert checks["storage"]["ok"] is True


def test_ready_is_503_when_redis_is_down(db, redis_down):
    anonymous = _anonymous().get("/health/ready")
    detailed = _operations().get("/health/ready")

    assert anonymous.status_code == 503 and anonymous.json() == {"status": "unavailable"}
    checks = detailed.json()["checks"]
    assert checks["redis"]["ok"] is False and checks["database"]["ok"] is True


def test_live_stays_200_while_postgresql_and_redis_are_down(db, database_down, redis_down):
    response = _anonymous().get("/health/live")

    assert response.status_code == 200


@needs_redis
def test_ready_is_503_when_media_storage_cannot_be_written(db, monkeypatch):
    from django.core.files.storage import default_storage

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(default_storage, "save", full)

    response = _operations().get("/health/ready")

    assert response.status_code == 503
    assert "No space left" in response.json()["checks"]["storage"]["problem"]


@needs_redis
def test_the_storage_check_leaves_no_file_behind(db):
    from django.core.files.storage import default_storage

    assert _operations().get("/health/ready").status_code == 200
    leftovers = default_storage.listdir("_health")[1] if default_storage.exists("_health") else []
    assert leftovers == []


@needs_redis
def test_a_missing_worker_is_reported_but_not_required_by_default(db, monkeypatch):
    from config.celery import app

    monkeypatch.setattr(app.control, "ping", lambda **kwargs: [])

    response = _operations().get("/health/ready?workers=1")

    assert response.status_code == 200
    workers = response.json()["checks"]["workers"]
    assert workers == {
        "ok": False,
        "required": False,
        "ms": workers["ms"],
        "problem": "CheckFailed: no Celery worker answered a ping within 0.5 s",
    }


@needs_redis
def test_a_missing_worker_makes_readiness_fail_when_required(db, monkeypatch, settings):
    from config.celery import app

    settings.UPLINE_HEALTH_REQUIRE_WORKER = True
    answers: list = []
    monkeypatch.setattr(app.control, "ping", lambda **kwargs: answers)

    assert _anonymous().get("/health/ready").status_code == 503
    answers.append({"celery@worker-1": {"ok": "pong"}})
    assert _anonymous().get("/health/ready").status_code == 200


@needs_redis
def test_probes_never_ping_the_workers_unless_they_count_or_are_asked_for(db, monkeypatch):
    from config.celery import app

    def forbidden(**kwargs):
        raise AssertionError("a probe must stay cheap")

    monkeypatch.setattr(app.control, "ping", forbidden)

    assert _anonymous().get("/health/ready?workers=1").status_code == 200
    detailed = _operations().get("/health/ready")
    assert detailed.status_code == 200 and "workers" not in detailed.json()["checks"]


@needs_redis
@pytest.mark.parametrize(
    "client_options, detailed",
    [
        ({"HTTP_AUTHORIZATION": "Bearer wrong-token"}, False),
        ({"HTTP_AUTHORIZATION": f"Token {TOKEN}"}, False),
        ({"REMOTE_ADDR": "127.0.0.1"}, True),  # a process on this machine, not proxied
        ({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": PUBLIC_ADDRESS}, False),
        ({"REMOTE_ADDR": "::1", "HTTP_X_REAL_IP": PUBLIC_ADDRESS}, False),
    ],
)
def test_details_are_for_the_token_or_a_direct_local_caller(db, client_options, detailed):
    options = {"REMOTE_ADDR": PUBLIC_ADDRESS, **client_options}
    response = Client(HTTP_HOST=UNROUTED_HOST, **options).get("/health/ready")

    assert ("checks" in response.json()) is detailed


@needs_redis
def test_no_token_configured_means_no_details_for_remote_callers(db, settings):
    settings.UPLINE_OPS_TOKEN = ""

    response = _operations().get("/health/ready")

    assert response.json() == {"status": "ok"}


def test_health_endpoints_refuse_writes(db):
    assert _anonymous().post("/health/ready").status_code == 405


# -- metrics ----------------------------------------------------------------------------


def _sample(text: str, name: str, **labels) -> float:
    """The value of the sample `name{labels}` in the exposition `text`."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if line.split("{")[0].split(" ")[0] == name and all(
            found.get(k) == v for k, v in labels.items()
        ):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name}{labels} in the metrics")


def test_metrics_are_refused_to_anonymous_callers_on_every_host(instance_a):
    for host in (UNROUTED_HOST, instance_a.host):
        response = _anonymous(host).get("/metrics")
        assert response.status_code == 403
        assert b"upline_" not in response.content


@needs_redis
def test_requests_are_counted_per_instance_group_and_view_never_per_instance(
    instance_a, instance_b, operator
):
    before = _operations().get("/metrics").content.decode()

    for info in (instance_a, instance_b):
        assert Client(HTTP_HOST=info.host).get("/accounts/login/").status_code == 200
    Client(HTTP_HOST=operator.host).get("/accounts/login/")
    Client(HTTP_HOST="nobody.example.net").get("/")
    text = _operations().get("/metrics").content.decode()

    def login_count(body: str, group: str) -> float:
        try:
            return _sample(
                body,
                "upline_http_requests_total",
                group=group,
                view="accounts:login",
                method="GET",
                status="2xx",
            )
        except AssertionError:
            return 0.0

    assert login_count(text, "reseller") - login_count(before, "reseller") == 2
    assert login_count(text, "operator") - login_count(before, "operator") == 1
    assert _sample(text, "upline_http_requests_total", group="none", status="4xx") >= 1
    assert (
        _sample(
            text,
            "upline_http_request_duration_seconds_count",
            group="reseller",
            view="accounts:login",
        )
        >= 2
    )
    # Nothing names an instance, a host or a schema.
    for secret in ("r_acme", "acme", "bluebird", settings.UPLINE_BASE_DOMAIN, "nobody"):
        assert secret not in text


@needs_redis
def test_outbox_backlog_counts_every_instance_and_names_none(instance_a, instance_b):
    with schema_context(instance_a.schema_name):
        Outbox.objects.create(
            event="ticket_opened", created_at=timezone.now() - datetime.timedelta(minutes=5)
        )
        Outbox.objects.create(event="ticket_opened", delivered_at=timezone.now())
    with schema_context(instance_b.schema_name):
        Outbox.objects.create(event="staff_replied")

    text = _operations().get("/metrics").content.decode()

    assert _sample(text, "upline_outbox_pending", outbox="helpdesk") == 2
    assert _sample(text, "upline_outbox_oldest_pending_age_seconds", outbox="helpdesk") >= 299
    assert _sample(text, "upline_outbox_pending", outbox="bridge_callbacks") == 0
    assert "r_acme" not in text and "r_bluebird" not in text


@needs_redis
def test_webhook_lag_is_the_age_of_the_oldest_unprocessed_event(db):
    old = StripeEvent.objects.create(
        event_id="evt_old",
        type="payment_intent.succeeded",
        endpoint="connect",
        schema_name="r_acme",
        payload={},
    )
    StripeEvent.objects.filter(pk=old.pk).update(
        received_at=timezone.now() - datetime.timedelta(minutes=10)
    )
    StripeEvent.objects.create(
        event_id="evt_done",
        type="payment_intent.succeeded",
        endpoint="connect",
        schema_name="r_acme",
        payload={},
        processed_at=timezone.now(),
    )

    text = _operations().get("/metrics").content.decode()

    assert _sample(text, "upline_stripe_events_unprocessed") == 1
    assert 600 <= _sample(text, "upline_stripe_webhook_lag_seconds") < 700


@needs_redis
def test_billing_run_durations_are_reported_after_a_run(
    instance_a, django_capture_on_commit_callbacks
):
    from tenant_apps.recurring import services as recurring

    with django_capture_on_commit_callbacks(execute=True):
        with schema_context(instance_a.schema_name):
            recurring.renewals_run()
            recurring.dunning_run()

    text = _operations().get("/metrics").content.decode()

    for kind in ("renewals", "dunning"):
        assert _sample(text, "upline_billing_run_duration_seconds_count", kind=kind) == 1
        assert (
            _sample(text, "upline_billing_run_duration_seconds_bucket", kind=kind, le="+Inf") == 1
        )
        assert 0 <= _sample(text, "upline_billing_run_duration_seconds_sum", kind=kind) < 60
        assert _sample(text, "upline_billing_runs_total", kind=kind, status="done") == 1
        assert _sample(text, "upline_billing_run_last_finished_timestamp_seconds", kind=kind) > 0


@needs_redis
def test_queue_depth_is_the_length_of_each_celery_queue(db, settings):
    queue = f"test-queue-{uuid.uuid4().hex}"
    settings.CELERY_BROKER_URL = settings.REDIS_URL
    settings.UPLINE_METRICS_QUEUES = [queue]
    client = health.redis_client(settings.REDIS_URL)
    client.rpush(queue, "a", "b", "c")
    try:
        text = _operations().get("/metrics").content.decode()
    finally:
        client.delete(queue)

    assert _sample(text, "upline_celery_queue_length", queue=queue) == 3


@needs_redis
def test_database_connections_and_instances_are_reported(instance_a):
    text = _operations().get("/metrics").content.decode()

    assert _sample(text, "upline_db_connections", state="active") >= 1
    assert _sample(text, "upline_db_max_connections") >= 10
    assert _sample(text, "upline_instances", status="active") >= 2
    assert _sample(text, "upline_metrics_source_up", source="outboxes") == 1


def test_a_source_that_cannot_be_read_says_so_and_the_others_still_answer(db, redis_down):
    text = _operations().get("/metrics").content.decode()

    assert _sample(text, "upline_metrics_source_up", source="billing_runs") == 0
    assert _sample(text, "upline_metrics_source_up", source="stripe_webhooks") == 1
    assert _sample(text, "upline_stripe_events_unprocessed") >= 0


def test_gunicorn_workers_share_their_counts_in_multiprocess_mode(db, tmp_path):
    """Two processes count requests into one folder; a third reads the sum."""
    database = connections["default"].settings_dict
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
        f"{database['NAME']}",
    }
    worker = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "from django.conf import settings\n"
        "for _ in range(3):\n"
        "    Client(HTTP_HOST='acme.' + settings.UPLINE_BASE_DOMAIN).get('/accounts/login/')\n"
    )
    for _ in range(2):
        subprocess.run(
            [sys.executable, "-c", worker],
            env=env,
            check=True,
            cwd=settings.BASE_DIR,
            timeout=120,
        )
    reader = (
        "import django; django.setup()\n"
        "from shared_apps.observability import metrics\n"
        "print(metrics.render()[0].decode())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", reader],
        env=env,
        check=True,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert list(tmp_path.glob("counter_*.db"))
    assert (
        _sample(done.stdout, "upline_http_requests_total", group="reseller", view="accounts:login")
        == 6
    )


# -- request ids and log lines ----------------------------------------------------------


class _Lines:
    """Collects what a logger writes, formatted as production formats it."""

    def __init__(self, logger_name: str) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(JsonLinesFormatter())
        self.handler.addFilter(ContextFilter())
        self.logger = logging.getLogger(logger_name)

    def __enter__(self):
        self.logger.addHandler(self.handler)
        self.level = self.logger.level
        self.logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self.handler)
        self.logger.setLevel(self.level)

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]


def test_the_formatter_writes_one_json_object_per_line_with_extras_and_exceptions():
    record = logging.LogRecord(
        "upline.test", logging.ERROR, __file__, 1, "Run %s failed", ("x",), None
    )
    record.invoice_id = 42
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()
    ContextFilter().filter(record)

    line = JsonLinesFormatter().format(record)

    assert "\n" not in line.split('"exception"')[0]
    parsed = json.loads(line)
    assert parsed["message"] == "Run x failed"
    assert parsed["level"] == "ERROR" and parsed["logger"] == "upline.test"
    assert parsed["invoice_id"] == 42
    assert parsed["request_id"] == "" and parsed["schema"] == ""
    assert "ValueError: boom" in parsed["exception"]
    assert parsed["time"].endswith("+00:00")


@override_settings(UPLINE_ACCESS_LOG=True, UPLINE_TRUST_REQUEST_ID=True)
def test_a_trusted_request_id_is_echoed_and_logged_with_the_instance_schema(instance_a):
    with _Lines("upline.access") as captured:
        response = Client(HTTP_HOST=instance_a.host, HTTP_X_REQUEST_ID="nginx-4f2a9c").get(
            "/accounts/login/"
        )

    assert response["X-Request-ID"] == "nginx-4f2a9c"
    (line,) = captured.lines()
    assert line["request_id"] == "nginx-4f2a9c"
    assert line["schema"] == "r_acme"
    assert line["status"] == 200 and line["view"] == "accounts:login"
    assert line["instance_group"] == "reseller"


@override_settings(UPLINE_ACCESS_LOG=True, UPLINE_TRUST_REQUEST_ID=False)
def test_an_untrusted_request_id_is_replaced_by_a_new_one(instance_a):
    with _Lines("upline.access") as captured:
        response = Client(HTTP_HOST=instance_a.host, HTTP_X_REQUEST_ID="chosen-by-client").get(
            "/accounts/login/"
        )

    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])
    assert captured.lines()[0]["request_id"] == response["X-Request-ID"]


@override_settings(UPLINE_TRUST_REQUEST_ID=True)
def test_a_request_id_that_could_forge_log_lines_is_replaced(instance_a):
    response = Client(HTTP_HOST=instance_a.host, HTTP_X_REQUEST_ID='x" , "level": "CRITICAL').get(
        "/accounts/login/"
    )

    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


@override_settings(UPLINE_ACCESS_LOG=True)
def test_each_instance_logs_its_own_schema_and_an_unknown_host_none(instance_a, instance_b):
    with _Lines("upline.access") as captured:
        Client(HTTP_HOST=instance_a.host).get("/accounts/login/")
        Client(HTTP_HOST=instance_b.host).get("/accounts/login/")
        Client(HTTP_HOST="nobody.example.net").get("/")

    assert [line["schema"] for line in captured.lines()] == ["r_acme", "r_bluebird", ""]


def test_a_celery_task_logs_with_the_schema_it_was_given(instance_b):
    from config.tenant_tasks import instance_task

    @instance_task(name="tests.observability.log_in_instance", ignore_result=True)
    def log_in_instance() -> None:
        logging.getLogger("upline.tasks").info("renewals started")

    with _Lines("upline.tasks") as captured:
        result = log_in_instance.delay(schema_name=instance_b.schema_name)

    (line,) = captured.lines()
    assert line["schema"] == "r_bluebird"
    assert line["request_id"] == result.id
    assert line["message"] == "renewals started"
