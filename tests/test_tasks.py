"""Tenant-aware Celery tasks: each runs in the schema it was given, then returns to public."""

from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from config.tenant_tasks import active_schema_names
from shared_apps.tenancy.tasks import sessions_clear_all_instances, sessions_clear_expired


def _expired_session(key):
    Session.objects.create(
        session_key=key, session_data="x", expire_date=timezone.now() - timezone.timedelta(days=1)
    )


def test_instance_task_runs_in_its_schema_and_resets(instance_a, instance_b):
    with schema_context(instance_a.schema_name):
        _expired_session("a" * 32)
    with schema_context(instance_b.schema_name):
        _expired_session("b" * 32)

    assert sessions_clear_expired.apply(kwargs={"schema_name": instance_a.schema_name}).get() == 1
    assert connection.schema_name == "public"
    with schema_context(instance_b.schema_name):
        assert Session.objects.filter(session_key="b" * 32).exists()


def test_fan_out_runs_once_per_active_instance(instance_a, instance_b, operator):
    for schema in ("public", instance_a.schema_name, instance_b.schema_name):
        with schema_context(schema):
            _expired_session(schema.ljust(32, "x"))
    assert active_schema_names() == ["public", "r_acme", "r_bluebird"]
    assert sessions_clear_all_instances.apply().get() == 3
    for schema in ("public", instance_a.schema_name, instance_b.schema_name):
        with schema_context(schema):
            assert (
                not Session.objects.exists()
                or not Session.objects.filter(expire_date__lt=timezone.now()).exists()
            )


def test_instance_task_without_schema_is_refused(db):
    import pytest

    with pytest.raises(TypeError):
        sessions_clear_expired.apply(kwargs={}).get()
