"""Headers and production defaults: a Content-Security-Policy without inline script on
every page, the API docs for staff only, the demo command and Celery refusing to run on
guessed or production settings."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from config.celery import settings_module_for_celery
from tests.conftest import client_for

ROOT = Path(settings.BASE_DIR)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = [part.strip().split() for part in header.split(";") if part.strip()]
    return {words[0]: words[1:] for words in directives}


# --------------------------------------------------------------------------------------
# Content-Security-Policy


@pytest.mark.parametrize(
    "who, path",
    [
        ("anonymous", "/accounts/login/"),
        ("anonymous", "/accounts/password-reset/"),
        ("owner", "/staff/"),
        ("owner", "/staff/helpdesk/"),
        ("customer", "/portal/"),
        ("anonymous", "/no-such-page/"),
    ],
)
def test_every_instance_page_carries_a_policy_that_allows_only_our_own_scripts(
    instance_a, who, path
):
    email = None if who == "anonymous" else getattr(instance_a, who)
    response = client_for(instance_a, email).get(path)

    policy = _policy(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert not INLINE_SCRIPT.search(response.content.decode())


def test_the_console_and_the_api_docs_carry_the_policy_too(operator):
    console = client_for(operator, operator.owner)

    for path in ("/console/", "/console/resellers/", "/api/docs/"):
        response = console.get(path)
        assert response.status_code == 200, path
        assert _policy(response)["script-src"] == ["'self'"], path
        assert not INLINE_SCRIPT.search(response.content.decode()), path


def test_no_template_has_an_inline_script_or_an_event_handler_attribute():
    offenders = []
    for template in sorted((ROOT / "templates").rglob("*.html")):
        text = template.read_text()
        if INLINE_SCRIPT.search(text) or EVENT_HANDLER.search(text):
            offenders.append(str(template.relative_to(ROOT)))

    assert offenders == []


def test_the_enhancements_that_replaced_inline_scripts_are_in_the_static_script():
    script = (ROOT / "static" / "js" / "upline.js").read_text()

    for hook in ("data-confirm", "data-busy", "data-plan-select", "canned-picker", "data-quote"):
        assert hook in script, hook


# --------------------------------------------------------------------------------------
# API docs and schema: staff only


@pytest.mark.parametrize("path", ["/api/docs/", "/api/schema/"])
def test_the_api_docs_and_schema_are_not_shown_to_anonymous_visitors(operator, path):
    response = client_for(operator).get(path)

    assert response.status_code in (302, 401, 403)
    assert b"/api/console/resellers/" not in response.content


def test_the_api_docs_page_sends_anonymous_visitors_to_sign_in(operator):
    response = client_for(operator).get("/api/docs/")

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("path", ["/api/docs/", "/api/schema/"])
def test_customers_are_refused_the_api_docs_and_schema(operator, instance_a, path):
    for info in (operator, instance_a):
        assert client_for(info, info.customer).get(path).status_code == 403


def test_staff_of_an_instance_read_its_schema_and_not_the_consoles(instance_a):
    response = client_for(instance_a, instance_a.support).get("/api/schema/")

    assert response.status_code == 200
    body = response.content.decode()
    assert "/api/customers/" in body and "/api/console/" not in body


# --------------------------------------------------------------------------------------
# Production defaults


def test_the_demo_command_refuses_production_settings(db, settings):
    settings.UPLINE_PRODUCTION = True

    with pytest.raises(CommandError, match="refuses to run with production settings"):
        call_command("upline_demo")


def _production_env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        DJANGO_SECRET_KEY="not-a-dev-key-but-only-for-this-test-0123456789",
        DATABASE_URL="postgres://nobody@127.0.0.1:1/none",
        **extra,
    )
    return env


def test_the_demo_command_exits_1_with_a_sentence_under_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "upline_demo"],
        cwd=ROOT,
        env=_production_env(DJANGO_SETTINGS_MODULE="config.settings.production"),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 1
    assert "refuses to run with production settings" in result.stderr


def test_celery_refuses_to_start_in_production_without_explicit_settings():
    result = subprocess.run(
        [sys.executable, "-c", "import config.celery"],
        cwd=ROOT,
        env=_production_env(UPLINE_ENV="production"),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert "DJANGO_SETTINGS_MODULE is not" in result.stderr


@pytest.mark.parametrize(
    "environ",
    [{"UPLINE_ENV": "production"}, {"DJANGO_SECRET_KEY": "x" * 50}],
)
def test_celery_settings_are_never_guessed_when_production_is_declared(environ):
    with pytest.raises(ImproperlyConfigured, match="set it explicitly"):
        settings_module_for_celery(environ)


def test_celery_uses_explicit_settings_and_falls_back_to_dev_only_without_production_signs():
    explicit = {"DJANGO_SETTINGS_MODULE": "config.settings.production", "UPLINE_ENV": "production"}

    assert settings_module_for_celery(explicit) == "config.settings.production"
    assert settings_module_for_celery({}) == "config.settings.dev"
