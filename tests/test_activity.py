"""The Activity screens: an instance's audit trail in its staff area, the operator's in the
console — filtered, exported as CSV, and never another instance's or a customer's to read."""

from __future__ import annotations

import csv
import io

from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from tenant_apps.instance import audit, deferred
from tenant_apps.instance.models import AuditEvent
from tests.conftest import client_for

ACTIVITY = "/staff/activity/"
CONSOLE_ACTIVITY = "/console/activity/"
NOTE_WRITTEN = audit.event_type("note.written", "Note written")


def _record(info, *, actor_email=None, label="Note A", **kwargs) -> AuditEvent:
    with schema_context(info.schema_name):
        actor = get_user_model().objects.get(email=actor_email) if actor_email else None
        return audit.audit_record(NOTE_WRITTEN, actor=actor, object_label=label, **kwargs)


def _csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_the_owner_sees_who_changed_the_issuer_identity_from_the_screen(instance_a):
    owner = client_for(instance_a, instance_a.owner)
    # The form as the browser sends it: every field the screen shows, one of them changed.
    owner.post(
        "/staff/identity/",
        {
            "legal_name": "Acme Hosting SARL",
            "trading_name": "Acme",
            "email": "boss@acme.test",
            "address_line1": "1 rue de la Paix",
            "postal_code": "75001",
            "city": "Paris",
            "country": "FR",
            "tax_id": "FR64443061841",
            "currency": "EUR",
            "brand_color": "#0f766e",
        },
    )
    page = owner.get(ACTIVITY).content.decode()
    assert "Issuer identity changed" in page
    assert instance_a.owner in page
    assert "Legal name: Acme Ltd → Acme Hosting SARL" in page


def test_activity_of_another_instance_is_never_listed(instance_a, instance_b):
    _record(instance_a, label="Only in Acme")
    _record(instance_b, label="Only in Bluebird")
    page = client_for(instance_a, instance_a.owner).get(ACTIVITY).content.decode()
    assert "Only in Acme" in page
    assert "Only in Bluebird" not in page
    rows = _csv(client_for(instance_a, instance_a.owner).get(ACTIVITY, {"format": "csv"}))
    assert not any("Only in Bluebird" in cell for row in rows for cell in row)


def test_support_staff_and_customers_cannot_read_the_activity(instance_a):
    _record(instance_a, label="Secret")
    assert client_for(instance_a, instance_a.support).get(ACTIVITY).status_code == 403
    assert client_for(instance_a, instance_a.customer).get(ACTIVITY).status_code == 403
    anonymous = client_for(instance_a).get(ACTIVITY)
    assert anonymous.status_code == 302 and "/login" in anonymous["Location"]
    csv_try = client_for(instance_a, instance_a.support).get(ACTIVITY, {"format": "csv"})
    assert csv_try.status_code == 403


def test_filters_narrow_the_list_by_actor_event_and_object(instance_a):
    _record(instance_a, actor_email=instance_a.owner, label="By the owner")
    _record(instance_a, actor_email=instance_a.support, label="By support")
    owner = client_for(instance_a, instance_a.owner)

    page = owner.get(ACTIVITY, {"actor": "support@"}).content.decode()
    assert "By support" in page and "By the owner" not in page

    page = owner.get(ACTIVITY, {"object": "owner"}).content.decode()
    assert "By the owner" in page and "By support" not in page

    page = owner.get(ACTIVITY, {"action": "note.written"}).content.decode()
    assert "By the owner" in page and "By support" in page
    assert "Note written" in page


def test_an_empty_filter_result_says_so(instance_a):
    _record(instance_a, label="Something")
    page = client_for(instance_a, instance_a.owner).get(ACTIVITY, {"actor": "nobody-here"})
    assert "No activity matches these filters." in page.content.decode()


def test_the_csv_export_follows_the_filters_and_defuses_formulas(instance_a):
    _record(instance_a, actor_email=instance_a.owner, label="=HYPERLINK(evil)")
    _record(instance_a, actor_email=instance_a.support, label="Plain")
    response = client_for(instance_a, instance_a.owner).get(
        ACTIVITY, {"format": "csv", "actor": "owner@", "action": "note.written"}
    )
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = _csv(response)
    assert rows[0][:4] == ["time", "event", "event_code", "actor"]
    objects = [row[6] for row in rows[1:]]
    assert objects == ["'=HYPERLINK(evil)"]
    assert rows[1][1] == "Note written" and rows[1][3] == instance_a.owner


def test_changes_show_old_and_new_values_by_their_labels_not_their_codes(instance_a):
    from tenant_apps.clients.models import Customer

    with schema_context(instance_a.schema_name):
        customer = Customer.objects.create(
            kind="person", name="Label Test", email="l@x.test", country="FR", currency="EUR"
        )
        audit.audit_record(
            NOTE_WRITTEN,
            obj=customer,
            changes={"status": ["active", "closed"], "kind": [None, "person"]},
        )
    page = client_for(instance_a, instance_a.owner).get(ACTIVITY).content.decode()
    assert "Status: Active → Closed" in page
    assert "Kind: — → Person" in page
    assert "active → closed" not in page


def test_the_console_lists_the_operators_trail_only(operator, instance_a):
    _record(operator, label="Operator did this")
    _record(instance_a, label="Reseller did that")
    page = client_for(operator, operator.owner).get(CONSOLE_ACTIVITY)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Operator did this" in text and "Reseller did that" not in text
    # The console lives on the operator's domain only, and is for its managers.
    assert client_for(instance_a, instance_a.owner).get(CONSOLE_ACTIVITY).status_code == 404
    assert client_for(operator, operator.support).get(CONSOLE_ACTIVITY).status_code == 403


def test_the_console_csv_export(operator):
    _record(operator, actor_email=operator.owner, label="Exported row")
    rows = _csv(client_for(operator, operator.owner).get(CONSOLE_ACTIVITY, {"format": "csv"}))
    assert any(row[6] == "Exported row" and row[3] == operator.owner for row in rows[1:])


BATCH_EVENT = audit.event_type("ticket.batch_probe", "Batch probe")


def test_batched_events_land_in_their_own_schema_when_the_block_ends(instance_a, instance_b):
    with schema_context(instance_a.schema_name):
        with CaptureQueriesContext(connection) as written:
            with deferred.batched():
                audit.audit_record(BATCH_EVENT, object_label="in acme")
                with schema_context(instance_b.schema_name):
                    audit.audit_record(BATCH_EVENT, object_label="in bluebird")
                # Nothing written yet: the block writes on its way out.
                assert not AuditEvent.objects.filter(action=BATCH_EVENT.code).exists()
                before = len(written)
        # Both schemas' rows in one round trip.
        assert len(written) - before == 1
        assert list(
            AuditEvent.objects.filter(action=BATCH_EVENT.code).values_list(
                "object_label", flat=True
            )
        ) == ["in acme"]
    with schema_context(instance_b.schema_name):
        assert list(
            AuditEvent.objects.filter(action=BATCH_EVENT.code).values_list(
                "object_label", flat=True
            )
        ) == ["in bluebird"]


def test_a_batch_that_fails_writes_no_event(instance_a):
    with schema_context(instance_a.schema_name):
        try:
            with deferred.batched():
                audit.audit_record(BATCH_EVENT, object_label="lost")
                raise RuntimeError("the write failed")
        except RuntimeError:
            pass
        assert not AuditEvent.objects.filter(action=BATCH_EVENT.code).exists()


def test_outside_a_transaction_a_batch_holds_nothing(instance_a):
    # On-commit hooks run at once in autocommit: a held outbox row would reach its drain late.
    from unittest import mock

    with schema_context(instance_a.schema_name):
        with mock.patch.object(connection, "in_atomic_block", False), deferred.batched():
            held = deferred.insert_later(AuditEvent(action=BATCH_EVENT.code))
        with deferred.batched():  # inside the test's transaction: held
            held_in_transaction = deferred.insert_later(AuditEvent(action=BATCH_EVENT.code))
    assert (held, held_in_transaction) == (False, True)
