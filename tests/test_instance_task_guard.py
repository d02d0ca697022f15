"""A task queued for an instance that was deleted since fails loudly and never falls through
to the operator's (public) tables of the same name."""

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from config.tenant_tasks import InstanceGone
from shared_apps.tenancy.models import Reseller
from shared_apps.tenancy.tasks import sessions_clear_expired


@pytest.fixture
def operator_expired_session(db):
    """An expired session in the public schema: what a fall-through would delete."""
    with schema_context("public"):
        Session.objects.create(
            session_key="p" * 32,
            session_data="x",
            expire_date=timezone.now() - timezone.timedelta(days=1),
        )
    return "p" * 32


def test_a_task_for_a_deleted_instance_fails_loudly_and_touches_nothing_in_public(
    operator_expired_session,
):
    # The instance's row is still there (the task was queued before the deletion finished)
    # but its schema is gone: PostgreSQL would resolve "django_session" to public's table.
    Reseller.objects.create(
        schema_name="r_gone",
        slug="gone",
        name="Gone",
        legal_name="Gone Ltd",
        contact_email="gone@example.com",
    )
    with pytest.raises(InstanceGone, match="r_gone.*does not exist"):
        sessions_clear_expired.apply(kwargs={"schema_name": "r_gone"}).get()

    assert Session.objects.filter(session_key=operator_expired_session).exists()
    assert connection.schema_name == "public"


def test_a_task_for_a_schema_no_instance_uses_is_refused(operator_expired_session):
    with pytest.raises(InstanceGone, match="r_never_was"):
        sessions_clear_expired.apply(kwargs={"schema_name": "r_never_was"}).get()
    assert Session.objects.filter(session_key=operator_expired_session).exists()


def test_a_task_for_a_live_instance_still_runs_in_its_schema(instance_a, operator_expired_session):
    with schema_context(instance_a.schema_name):
        Session.objects.create(
            session_key="a" * 32,
            session_data="x",
            expire_date=timezone.now() - timezone.timedelta(days=1),
        )
    assert sessions_clear_expired.apply(kwargs={"schema_name": instance_a.schema_name}).get() == 1
    assert Session.objects.filter(session_key=operator_expired_session).exists()
