"""In a real browser, under the Content-Security-Policy: a new member of the operator's
staff signs in, is sent to set up two-factor sign-in, scans nothing (reads the key shown as
text), confirms with the app's code, saves the recovery codes and reaches the console; the
QR code is inline SVG and the page runs no script of its own."""

from __future__ import annotations

import base64
import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from django_otp.oath import totp
from django_tenants.utils import schema_context

from tenant_apps.accounts.models import Role

pytestmark = pytest.mark.browser
EMAIL = "newcomer@operator.test"
PASSWORD = "browser-newcomer-pass-1"


def _in_thread(function):
    def target():
        try:
            function()
        finally:
            connections.close_all()

    thread = threading.Thread(target=target)  # outside this test's rolled-back transaction
    thread.start()
    thread.join()


def _create():
    with schema_context("public"):
        get_user_model().objects.create_user(email=EMAIL, password=PASSWORD, role=Role.SUPPORT)


def _delete():
    with schema_context("public"):
        get_user_model().objects.filter(email=EMAIL).delete()  # its devices go with it


@pytest.fixture
def newcomer(db):
    _in_thread(_create)
    yield EMAIL
    _in_thread(_delete)


def test_new_operator_staff_set_up_two_factor_before_reaching_the_console(page, live_url, newcomer):
    operator = live_url.format(host="upline.localhost")
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )

    page.goto(operator + "/accounts/login/")
    page.fill("input[name=username]", newcomer)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    page.goto(operator + "/console/")
    assert "/accounts/two-factor/set-up/" in page.url  # nothing else until it is done

    assert page.locator("figure svg").count() == 1
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    page.fill("input[name=code]", f"{totp(key):06d}")
    with page.expect_navigation():
        page.get_by_role("button", name="Turn on two-factor sign-in").click()

    assert page.locator("#recovery-codes li").count() == 10
    with page.expect_navigation():
        page.get_by_role("link", name="I have saved them").click()
    assert page.url.endswith("/console/")
    assert refused == []
