"""Work that staff text or a task can ask for is bounded: number formats are parsed, never
executed; e-mail wording renders in a sandbox; every Celery task has time limits and cannot
crash-loop a worker."""

from __future__ import annotations

import json
import logging

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django_tenants.utils import schema_context

from config.celery import app
from tenant_apps.billing import services
from tenant_apps.instance import email_sandbox
from tenant_apps.instance import services as instance_services
from tenant_apps.instance.emails import email_render
from tenant_apps.instance.models import EmailTemplate
from tests.conftest import client_for

STAFF = "/staff/billing/"

# --------------------------------------------------------------------------------------
# Number formats


@pytest.mark.parametrize(
    "number_format, expected",
    [
        ("{year}-{number:06d}", "2026-000042"),
        ("CN{year}-{number:06d}", "CN2026-000042"),
        ("INV/{number}", "INV/42"),
        ("F {year}.{number:012d} #", "F 2026.000000000042 #"),
        ("{number:01d}", "42"),
    ],
)
def test_a_number_format_renders_its_placeholders(number_format, expected):
    assert services.format_number(number_format, year=2026, number=42) == expected


@pytest.mark.parametrize(
    "number_format, message",
    [
        ("{number:0100000000d}", "is not a placeholder you can use"),
        ("{number:013d}", "1 to 12 digits"),
        ("{number:00d}", "1 to 12 digits"),
        ("{number.__class__}", "is not a placeholder you can use"),
        ("{number!r}", "is not a placeholder you can use"),
        ("{0}{number}", "“{0}” is not a placeholder"),
        ("{number:>50}", "is not a placeholder"),
        ("INV-{year}", "must contain {number}"),
        ("{number}-{number}", "only once"),
        ("INV%{number}", "“%” cannot be used"),
        ("INV{{number}}", "not a placeholder"),
    ],
)
def test_a_number_format_outside_the_grammar_is_refused_with_a_sentence(number_format, message):
    with pytest.raises(ValidationError, match=message):
        services.format_number(number_format, year=2026, number=1)


def test_billing_settings_refuse_a_huge_padding_on_the_field(instance_a):
    with schema_context(instance_a.schema_name):
        with pytest.raises(ValidationError) as exc:
            services.billing_settings_update(invoice_number_format="{number:0999999999d}")
        assert list(exc.value.message_dict) == ["invoice_number_format"]
        assert services.billing_settings_get().invoice_number_format == "{year}-{number:06d}"


def test_the_api_answers_400_for_a_number_format_that_asks_for_attributes(instance_a):
    client = client_for(instance_a, instance_a.owner)
    response = client.patch(
        "/api/billing-settings/",
        json.dumps({"credit_note_number_format": "{number.real}"}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "is not a placeholder you can use" in str(response.json()["credit_note_number_format"])


# --------------------------------------------------------------------------------------
# E-mail sandbox


CONTEXT = {
    "invoice": {"number": "2026-000001", "total": "€10.00"},
    "customer": {"name": "Jeanne"},
    "invoices": [{"number": "A"}, {"number": "B"}],
}


def test_allowed_tags_and_filters_render_the_context():
    text = email_sandbox.render_template(
        "{{ customer.name|upper }} {% for i in invoices %}{{ i.number }}{% endfor %}"
        "{% if invoice.total %} {{ invoice.total }}{% endif %}",
        CONTEXT,
    )
    assert text == "JEANNE AB €10.00"


@pytest.mark.parametrize(
    "source",
    [
        '{% include "emails/invoice_issued.txt" %}',
        '{% extends "base.html" %}',
        "{% load static %}",
        "{% debug %}",
        "{% lorem 100000 w %}",
        '{% url "portal:home" %}',
        "{{ customer.name|ljust:100000000 }}",
        '{{ customer.name|stringformat:"0100000000d" }}',
        "{{ customer|pprint }}",
        '{{ invoices|dictsort:"number.__class__" }}',
    ],
)
def test_tags_and_filters_that_load_dump_or_inflate_are_refused(source):
    assert email_sandbox.template_problem(source) is not None
    with pytest.raises(email_sandbox.TemplateSyntaxError):
        email_sandbox.render_template(source, CONTEXT)


@pytest.mark.parametrize(
    "source",
    [
        "{{ customer.name.upper }}",  # a method of a value
        "{{ invoice.number.zfill }}",
        "{{ invoices.count }}",
        "{{ customer.items }}",  # a dict's own methods
        "{{ invoice.total.__class__ }}",
    ],
)
def test_attributes_of_values_are_not_reachable(source):
    try:
        assert email_sandbox.render_template(source, CONTEXT) == ""
    except email_sandbox.TemplateSyntaxError:
        pass  # Django refuses names starting with "_" when compiling: as good


def test_nested_loops_over_the_budget_stop_instead_of_running_for_hours():
    items = list(range(100))
    loop = "{% for a in items %}{% for b in items %}{% for c in items %}.{% endfor %}"
    source = loop + "{% endfor %}{% endfor %}"
    with pytest.raises(email_sandbox.TemplateTooLarge):
        email_sandbox.render_template(source, {"items": items})


def test_output_over_the_cap_is_refused():
    many = ["x" * 1000] * 100
    with pytest.raises(email_sandbox.TemplateTooLarge, match="longer than"):
        email_sandbox.render_template("{% for m in many %}{{ m }}{% endfor %}", {"many": many})


def test_saving_wording_with_a_forbidden_tag_shows_a_form_error_and_saves_nothing(instance_a):
    response = client_for(instance_a, instance_a.owner).post(
        f"{STAFF}settings/emails/invoice_issued/",
        {"subject": "Invoice {{ invoice.number }}", "body": "{% debug %}"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Invalid block tag" in page and "debug" in page and "Allowed tags" in page
    with schema_context(instance_a.schema_name):
        assert not EmailTemplate.objects.exists()


def test_the_wording_service_refuses_a_forbidden_filter_on_its_field(instance_a):
    with schema_context(instance_a.schema_name):
        with pytest.raises(ValidationError) as exc:
            instance_services.email_template_set(
                key="invoice_issued", subject="{{ customer|pprint }}", body="Hello"
            )
        errors = exc.value.message_dict
        assert list(errors) == ["subject"] and "pprint" in errors["subject"][0]
        assert not EmailTemplate.objects.exists()


def test_wording_that_explodes_when_sent_falls_back_to_the_default(instance_a, caplog):
    with schema_context(instance_a.schema_name):
        # Saved before the sandbox existed (or by hand): it renders past the output cap.
        EmailTemplate.objects.create(
            key="invoice_issued",
            subject="Invoice",
            body="{% for m in many %}{{ m }}{% endfor %}",
        )
        with caplog.at_level(logging.WARNING):
            rendered = email_render(
                key="invoice_issued",
                context={
                    **CONTEXT,
                    "issuer": {"name": "Acme"},
                    "many": ["x" * 1000] * 100,
                },
            )
    assert rendered.subject == "Invoice 2026-000001 from Acme"
    assert "E-mail template invoice_issued is broken" in caplog.text


# --------------------------------------------------------------------------------------
# Celery


def _our_tasks():
    app.loader.import_default_modules()  # every app's tasks module, as a worker loads them
    return {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}


def test_every_task_has_a_soft_and_a_hard_time_limit():
    assert settings.CELERY_TASK_SOFT_TIME_LIMIT < settings.CELERY_TASK_TIME_LIMIT
    tasks = _our_tasks()
    assert "recurring.billing_run_instance" in tasks and "bridge.callbacks_deliver" in tasks
    for name, task in tasks.items():
        soft = task.soft_time_limit or app.conf.task_soft_time_limit
        hard = task.time_limit or app.conf.task_time_limit
        assert soft and hard and soft < hard, name
        # Redis redelivers an unacknowledged task after the visibility timeout: a task
        # still inside its hard limit must never be started a second time.
        assert hard < app.conf.broker_transport_options["visibility_timeout"], name


def test_long_tasks_have_their_own_longer_limits():
    run = app.tasks["recurring.billing_run_instance"]
    assert run.time_limit > app.conf.task_time_limit
    assert run.soft_time_limit < run.time_limit


def test_a_task_that_kills_its_worker_is_not_redelivered_to_kill_the_next():
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is False
    assert app.conf.task_acks_on_failure_or_timeout is True
    assert app.conf.worker_max_tasks_per_child and app.conf.worker_max_memory_per_child


def test_retries_are_bounded_for_every_task():
    for name, task in _our_tasks().items():
        assert task.max_retries is not None and task.max_retries <= 5, name
