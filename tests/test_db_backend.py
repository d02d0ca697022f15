"""The backend folds `SET search_path` into the next query: it must never run a query in
the wrong instance, whatever happens between a switch and the next query."""

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django_tenants.utils import schema_context

from tests.conftest import client_for


def _server_search_path() -> str:
    return connection.connection.execute("SHOW search_path").fetchone()[0]


def _emails() -> set[str]:
    return set(get_user_model().objects.values_list("email", flat=True))


def test_switch_is_sent_with_the_next_query(instance_a):
    with schema_context(instance_a.schema_name):
        assert instance_a.owner in _emails()
        assert _server_search_path().startswith("r_acme")


def test_cursor_opened_and_unused_does_not_mark_the_switch_done(instance_a, instance_b):
    assert instance_a.owner not in _emails()  # the server is in the public schema now
    connection.set_schema(instance_a.schema_name)
    connection.cursor().close()  # the switch is pending; nothing was sent
    assert instance_a.owner in _emails()
    connection.set_schema(instance_b.schema_name)
    connection.cursor().close()
    assert instance_b.owner in _emails() and instance_a.owner not in _emails()


def test_failed_query_then_rollback_still_switches(instance_a, instance_b):
    connection.set_schema(instance_a.schema_name)
    with pytest.raises(DatabaseError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")
    assert instance_a.owner in _emails()
    connection.set_schema(instance_b.schema_name)
    assert instance_b.owner in _emails()


def test_a_failed_query_that_carried_the_switch_rolls_back_to_its_savepoint(instance_a):
    # The switch travels with the failing query, inside a savepoint: rolling back to the
    # savepoint must not send the SET first (PostgreSQL refuses it in a failed transaction),
    # or the whole transaction is lost (a 500 the API fuzz tests found).
    with pytest.raises(DatabaseError), transaction.atomic():
        connection.set_schema(instance_a.schema_name)
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")
    assert instance_a.owner in _emails()
    connection.set_schema_to_public()
    assert instance_a.owner not in _emails()


def test_server_side_cursor_after_a_switch_reads_the_right_instance(instance_a, instance_b):
    with transaction.atomic():
        connection.set_schema(instance_b.schema_name)
        emails = {u.email for u in get_user_model().objects.iterator(chunk_size=2)}
    assert instance_b.owner in emails and instance_a.owner not in emails


def test_bulk_writes_after_a_switch_land_in_the_right_instance(instance_a, instance_b):
    User = get_user_model()
    connection.set_schema(instance_a.schema_name)
    User.objects.bulk_create([User(email=f"bulk{i}@a.test") for i in range(3)])
    connection.set_schema(instance_b.schema_name)
    assert not User.objects.filter(email__startswith="bulk").exists()
    connection.set_schema(instance_a.schema_name)
    assert User.objects.filter(email__startswith="bulk").count() == 3


def test_alternating_requests_always_see_their_own_instance(instance_a, instance_b):
    clients = [(info, client_for(info, info.owner)) for info in (instance_a, instance_b)]
    for _ in range(5):
        for info, client in clients:
            assert client.get("/api/me/").json()["email"] == info.owner
