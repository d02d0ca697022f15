"""Real-browser fixtures: a threaded WSGI server over the committed test instances, and
Debian's chromium driven by Playwright.

pytest-django's live_server forces a flushing transactional database, which would wipe the
instances built once per session, so the server here is a plain threaded WSGI server and
browser tests clean up what they create themselves.
"""

from __future__ import annotations

import os
import shutil
import socketserver
import threading
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import connections

from tests.browser.committed import in_own_connection
from tests.conftest import PASSWORD


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):  # keep test output readable
        pass


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


def _app(environ, start_response):
    try:
        return WSGIHandler()(environ, start_response)
    finally:
        connections.close_all()  # each request thread has its own connection


@pytest.fixture(scope="session")
def live_url(django_db_setup):
    server = make_server(
        "127.0.0.1", 0, _app, server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{{host}}:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session", autouse=True)
def _close_server_connections(django_db_setup, django_db_blocker):
    """Request threads may leave connections open; end them so the test DB can be dropped."""
    yield
    connections.close_all()  # a fresh connection below, whatever state the last one is in
    with django_db_blocker.unblock(), connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    connections.close_all()


@pytest.fixture(scope="session")
def browser():
    executable = shutil.which("chromium")
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (make system-deps installs it)")
        pytest.skip("chromium is not installed; run `make system-deps`")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread, which makes
    # Django refuse ORM calls from the test itself; the ORM is not used concurrently here.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def shots(request, tmp_path_factory) -> Path:
    """Where screenshots go: $UPLINE_SCREENSHOT_DIR when set (to look at them), else a
    temporary folder named after the test module."""
    folder = os.environ.get("UPLINE_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return Path(folder)
    return tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])


def sign_in(page, base: str, email: str, password: str = PASSWORD) -> None:
    """The sign-in form filled and sent in English; fails if it comes back to the form."""
    page.goto(base + "/accounts/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert "/accounts/login/" not in page.url, "sign-in failed"


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def _trail_marks() -> dict[tuple[str, str], int]:
    from django.db.models import Max
    from django_tenants.utils import schema_context

    from tenant_apps.instance.models import AuditEvent
    from tenant_apps.mail.models import OutgoingEmail

    marks = {}
    for schema in ("public", "r_acme", "r_bluebird"):
        with schema_context(schema):
            for model in (AuditEvent, OutgoingEmail):
                top = model.objects.aggregate(top=Max("id"))["top"] or 0
                marks[(schema, model._meta.label)] = top
    return marks


def _trail_trim(marks: dict[tuple[str, str], int]) -> None:
    from django.apps import apps
    from django_tenants.utils import schema_context

    for (schema, label), top in marks.items():
        with schema_context(schema):
            apps.get_model(label).objects.filter(id__gt=top).delete()


@pytest.fixture(autouse=True)
def _audit_trail_left_as_found(db):
    """The server commits what the browser does (sign-ins, escalations…) to the audit trail
    and the mail outbox; later tests count both, so each browser test removes the rows it
    added."""
    marks = in_own_connection(_trail_marks)
    yield
    in_own_connection(_trail_trim, marks)


# --------------------------------------------------------------------------------------
# Two-factor sign-in: the operator's staff give a code after their password


OPERATOR_STAFF = ("owner@operator.test", "support@operator.test")


def _apps_create() -> dict:
    from django.contrib.auth import get_user_model
    from django_otp.plugins.otp_totp.models import TOTPDevice
    from django_tenants.utils import schema_context

    with schema_context("public"):
        users = get_user_model().objects.filter(email__in=OPERATOR_STAFF)
        return {
            user.email: TOTPDevice.objects.create(user=user, name="browser test", confirmed=True)
            for user in users
        }


def _apps_delete(devices: dict) -> None:
    from django_otp.plugins.otp_totp.models import TOTPDevice
    from django_tenants.utils import schema_context

    with schema_context("public"):
        TOTPDevice.objects.filter(pk__in=[device.pk for device in devices.values()]).delete()


@pytest.fixture
def operator_apps(db):
    """An authenticator app for each of the operator's staff, committed (the server reads
    it from its own connections) and removed afterwards: {e-mail: device}."""
    devices = in_own_connection(_apps_create)
    yield devices
    in_own_connection(_apps_delete, devices)


def pass_second_step(page, device) -> None:
    """On the code page after the password, type the code the app shows now."""
    from tests.two_factor import app_code

    assert "/accounts/two-factor/" in page.url, f"no code asked at {page.url}"
    page.fill("input[name=code]", app_code(device))
    with page.expect_navigation():
        page.get_by_role("button", name="Verify").click()
    assert "/accounts/two-factor/" not in page.url, "the code was refused"
