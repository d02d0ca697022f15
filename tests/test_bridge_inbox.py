"""The inbox for resellers on other software: key authentication, escalations opened, read
and answered through /api/bridge/, isolation between resellers, and signed callbacks queued
in the transaction of the operator's answer and delivered once."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from shared_apps.bridge import callbacks, inbox
from shared_apps.bridge.models import (
    CallbackDelivery,
    CallbackEndpoint,
    ExternalEscalation,
    InboxToken,
)
from shared_apps.tenancy.models import Reseller
from tenant_apps.helpdesk import services as helpdesk
from tenant_apps.helpdesk.models import Message, Ticket
from tests.conftest import OPERATOR_HOST, client_for


def _reseller(info) -> Reseller:
    return Reseller.objects.get(slug=info.slug)


def _staff(email):
    return get_user_model().objects.get(email=email)  # public schema: the operator's staff


def _api(key: str | None = None) -> Client:
    extra = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    return Client(HTTP_HOST=OPERATOR_HOST, **extra)


@pytest.fixture
def acme_key(instance_a) -> str:
    return inbox.inbox_token_create(reseller=_reseller(instance_a))[1]


@pytest.fixture
def bluebird_key(instance_b) -> str:
    return inbox.inbox_token_create(reseller=_reseller(instance_b))[1]


def _open(key: str, ref: str = "WHMCS-1042", **fields):
    data = {
        "external_ref": ref,
        "subject": "Mail bouncing",
        "body": "Customer's mail to gmail.com bounces since 8:00.",
        "customer_label": "client #77",
        **fields,
    }
    return _api(key).post("/api/bridge/escalations/", data, content_type="application/json")


class Receiver:
    """A local HTTP endpoint that records each POST and answers with the next status."""

    def __init__(self, statuses=(200,)):
        self.requests: list[tuple] = []
        self.statuses = list(statuses)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((self.headers, body))
                code = (
                    receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                )
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # keep the test output quiet
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/upline-hook"


@pytest.fixture
def receiver(settings):
    # A receiver on this machine is reachable only with the development-only setting.
    settings.UPLINE_CALLBACKS_ALLOW_LOCAL = True
    stub = Receiver()
    stub.thread.start()
    yield stub
    stub.server.shutdown()
    stub.server.server_close()


@pytest.fixture
def escalation(instance_a, acme_key) -> ExternalEscalation:
    assert _open(acme_key).status_code == 201
    return ExternalEscalation.objects.get()


# --------------------------------------------------------------------------------------
# Authentication


def test_an_unknown_key_is_refused_with_401_and_a_sentence(instance_a):
    response = _api("not-a-real-key-at-all").get("/api/bridge/escalations/")
    assert response.status_code == 401
    assert response.json()["detail"] == "This inbox key is unknown or was revoked."


def test_a_revoked_key_is_refused(instance_a, acme_key):
    assert _api(acme_key).get("/api/bridge/escalations/").status_code == 200
    inbox.inbox_token_revoke(reseller=_reseller(instance_a), key_prefix=acme_key[:8])
    assert _api(acme_key).get("/api/bridge/escalations/").status_code == 401


def test_a_suspended_resellers_key_is_refused_with_403_saying_why(instance_a, acme_key):
    Reseller.objects.filter(slug="acme").update(status="suspended")
    response = _open(acme_key)
    assert response.status_code == 403
    assert "Acme is suspended" in response.json()["detail"]
    assert not ExternalEscalation.objects.exists() and not Ticket.objects.exists()


def test_only_the_key_hash_is_stored(instance_a, acme_key):
    token = InboxToken.objects.get()
    assert token.key_prefix == acme_key[:8]
    assert token.key_hash == hashlib.sha256(acme_key.encode()).hexdigest()
    assert acme_key not in token.key_hash


def test_sessions_and_instance_tokens_are_not_accepted(operator):
    staff_session = client_for(operator, operator.owner)
    assert staff_session.get("/api/bridge/escalations/").status_code == 401
    instance_token = Token.objects.create(user=_staff(operator.owner)).key
    response = Client(HTTP_HOST=OPERATOR_HOST, HTTP_AUTHORIZATION=f"Token {instance_token}").get(
        "/api/bridge/escalations/"
    )
    assert response.status_code == 401


def test_an_instance_domain_does_not_serve_the_inbox_api(instance_a, acme_key):
    client = Client(HTTP_HOST=instance_a.host, HTTP_AUTHORIZATION=f"Bearer {acme_key}")
    assert client.get("/api/bridge/escalations/").status_code == 404


# --------------------------------------------------------------------------------------
# Escalations


def test_opening_files_a_ticket_in_the_operators_escalation_inbox(instance_a, acme_key):
    response = _open(acme_key)
    assert response.status_code == 201
    data = response.json()
    assert data["status"] == "open" and data["external_ref"] == "WHMCS-1042"
    ticket = Ticket.objects.get(pk=data["operator_ticket"])
    assert ticket.subject == "[Acme] Mail bouncing"
    assert ticket.department.is_escalation_inbox and ticket.source == "upstream"
    assert ticket.customer.reseller_id == _reseller(instance_a).pk
    first = ticket.messages.get()
    assert "gmail.com bounces" in first.body and "client #77" in first.body


def test_the_same_reference_cannot_be_escalated_twice(instance_a, acme_key):
    assert _open(acme_key).status_code == 201
    tickets = Ticket.objects.count()
    again = _open(acme_key)
    assert again.status_code == 409
    assert "already escalated" in again.json()["detail"]
    assert ExternalEscalation.objects.count() == 1 and Ticket.objects.count() == tickets


def test_bad_input_is_a_400_with_field_errors(instance_a, acme_key):
    response = _open(acme_key, ref="", subject="", body="")
    assert response.status_code == 400
    assert {"external_ref", "subject", "body"} <= set(response.json())
    assert not Ticket.objects.exists()


def test_the_list_shows_only_the_callers_escalations(instance_a, acme_key, bluebird_key):
    _open(acme_key, ref="A-1")
    _open(bluebird_key, ref="B-1")
    listed = _api(acme_key).get("/api/bridge/escalations/").json()["results"]
    assert [row["external_ref"] for row in listed] == ["A-1"]


def test_another_resellers_escalation_is_a_404(instance_a, escalation, bluebird_key):
    url = f"/api/bridge/escalations/{escalation.pk}/"
    assert _api(bluebird_key).get(url).status_code == 404
    reply = _api(bluebird_key).post(
        f"{url}replies/", {"body": "Not mine"}, content_type="application/json"
    )
    assert reply.status_code == 404
    assert Ticket.objects.get(pk=escalation.operator_ticket_id).messages.count() == 1


def test_a_reply_reaches_the_operator_as_the_customer_side(instance_a, escalation, acme_key):
    response = _api(acme_key).post(
        f"/api/bridge/escalations/{escalation.pk}/replies/",
        {"body": "Still bouncing."},
        content_type="application/json",
    )
    assert response.status_code == 201
    ticket = Ticket.objects.get(pk=escalation.operator_ticket_id)
    last = ticket.messages.order_by("-id").first()
    assert "Still bouncing." in last.body and last.author is None and last.kind == "reply"
    assert ticket.status == "awaiting_staff"


def test_reading_shows_staff_replies_and_never_internal_notes(
    instance_a, operator, escalation, acme_key
):
    ticket = Ticket.objects.get(pk=escalation.operator_ticket_id)
    support = _staff(operator.support)
    helpdesk.ticket_reply(
        ticket=ticket, author=support, body="Check node 4 for spam", internal=True
    )
    helpdesk.ticket_reply(ticket=ticket, author=support, body="Your IP was delisted.")
    data = _api(acme_key).get(f"/api/bridge/escalations/{escalation.pk}/").json()
    bodies = " ".join(update["body"] for update in data["updates"])
    assert "delisted" in bodies and "node 4" not in bodies and "gmail.com" not in bodies
    assert data["ticket_status"] == "awaiting_customer"
    later = (timezone.now() + datetime.timedelta(seconds=1)).isoformat()
    after = _api(acme_key).get(f"/api/bridge/escalations/{escalation.pk}/", {"since": later})
    assert after.json()["updates"] == []
    bad = _api(acme_key).get(f"/api/bridge/escalations/{escalation.pk}/", {"since": "yesterday"})
    assert bad.status_code == 400 and "since" in bad.json()
    impossible = {"since": "2026-13-45T00:00:00Z"}
    assert (
        _api(acme_key).get(f"/api/bridge/escalations/{escalation.pk}/", impossible).status_code
        == 400
    )


def test_a_closed_escalation_refuses_replies(instance_a, operator, escalation, acme_key):
    ticket = Ticket.objects.get(pk=escalation.operator_ticket_id)
    helpdesk.ticket_close(ticket=ticket, actor=_staff(operator.support))
    escalation.refresh_from_db()
    assert escalation.status == "closed"
    response = _api(acme_key).post(
        f"/api/bridge/escalations/{escalation.pk}/replies/",
        {"body": "Hello?"},
        content_type="application/json",
    )
    assert response.status_code == 409 and "closed" in response.json()["detail"]


def test_the_base_domain_schema_documents_the_inbox_api(operator):
    response = client_for(operator, operator.owner).get("/api/schema/")
    assert response.status_code == 200
    schema = response.content.decode()
    assert "/api/bridge/escalations/" in schema and "inboxKey" in schema


# --------------------------------------------------------------------------------------
# Callbacks


def _endpoint(instance, url: str) -> CallbackEndpoint:
    return inbox.callback_endpoint_set(reseller=_reseller(instance), url=url)


def test_a_staff_reply_sends_exactly_one_signed_callback(
    instance_a, operator, escalation, receiver, django_capture_on_commit_callbacks
):
    endpoint = _endpoint(instance_a, receiver.url)
    ticket = Ticket.objects.get(pk=escalation.operator_ticket_id)
    with django_capture_on_commit_callbacks(execute=True):  # the on-commit run posts it
        helpdesk.ticket_reply(ticket=ticket, author=_staff(operator.support), body="Delisted.")
    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    timestamp = headers["X-Upline-Timestamp"]
    assert abs(int(timestamp) - timezone.now().timestamp()) < 60
    signed = f"{timestamp}.".encode() + body
    expected = hmac.new(endpoint.secret.encode(), signed, hashlib.sha256).hexdigest()
    assert headers["X-Upline-Signature"] == f"sha256={expected}"
    assert headers["X-Upline-Event"] == "escalation.replied"
    document = json.loads(body)
    assert document["escalation"]["external_ref"] == "WHMCS-1042"
    assert document["reply"]["body_text"] == "Delisted."
    delivery = CallbackDelivery.objects.get()
    assert headers["X-Upline-Delivery"] == str(delivery.pk) == str(document["delivery"])
    assert delivery.delivered_at is not None and delivery.attempts == 1
    assert callbacks.callback_deliveries_send() == 0 and len(receiver.requests) == 1


def test_internal_notes_and_the_resellers_own_replies_send_no_callback(
    instance_a, operator, escalation, acme_key
):
    _endpoint(instance_a, "https://billing.acme.example/upline")
    ticket = Ticket.objects.get(pk=escalation.operator_ticket_id)
    helpdesk.ticket_reply(
        ticket=ticket, author=_staff(operator.support), body="Looks like spam", internal=True
    )
    _api(acme_key).post(
        f"/api/bridge/escalations/{escalation.pk}/replies/",
        {"body": "Any news?"},
        content_type="application/json",
    )
    assert not CallbackDelivery.objects.exists()


def test_closing_and_putting_on_hold_send_status_callbacks(instance_a, operator, escalation):
    _endpoint(instance_a, "https://billing.acme.example/upline")
    ticket = Ticket.objects.get(pk=escalation.operator_ticket_id)
    support = _staff(operator.support)
    helpdesk.ticket_transition(ticket=ticket, to="on_hold", actor=support)
    helpdesk.ticket_close(ticket=ticket, actor=support)
    events = list(CallbackDelivery.objects.values_list("event", flat=True))
    assert events == ["escalation.status_changed", "escalation.closed"]


def test_a_reply_that_rolls_back_leaves_no_callback(instance_a, operator, escalation):
    _endpoint(instance_a, "https://billing.acme.example/upline")
    ticket = Ticket.objects.get(pk=escalation.operator_ticket_id)

    class Abandon(Exception):
        pass

    with pytest.raises(Abandon), transaction.atomic():
        helpdesk.ticket_reply(ticket=ticket, author=_staff(operator.support), body="Delisted.")
        assert CallbackDelivery.objects.count() == 1  # written inside the reply's transaction
        raise Abandon
    assert not CallbackDelivery.objects.exists()
    assert not Message.objects.filter(body__contains="Delisted").exists()


def test_a_failing_endpoint_is_retried_with_backoff_then_given_up(
    instance_a, operator, escalation, receiver
):
    receiver.statuses = [500]
    _endpoint(instance_a, receiver.url)
    ticket = Ticket.objects.get(pk=escalation.operator_ticket_id)
    helpdesk.ticket_reply(ticket=ticket, author=_staff(operator.support), body="Delisted.")
    delivery = CallbackDelivery.objects.get()
    waits = []
    for attempt in range(1, callbacks.MAX_ATTEMPTS + 1):
        before = timezone.now()
        assert callbacks.callback_deliveries_send() == 0
        assert callbacks.callback_deliveries_send() == 0  # not due yet: no second POST
        delivery.refresh_from_db()
        assert delivery.attempts == attempt and delivery.delivered_at is None
        assert "HTTP 500" in delivery.last_error
        if delivery.next_attempt_at is not None:
            waits.append(delivery.next_attempt_at - before)
            CallbackDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert len(receiver.requests) == callbacks.MAX_ATTEMPTS
    assert delivery.next_attempt_at is None and "Gave up after 10 attempts" in delivery.last_error
    assert waits[0] >= datetime.timedelta(seconds=30) and waits[1] >= 2 * waits[0] * 0.99
    assert waits == sorted(waits)


def test_two_drains_at_once_send_a_delivery_only_once(django_db_blocker, monkeypatch):
    """Worker 1 holds the row while it POSTs; worker 2 skips it instead of sending it too."""
    posted, entered, release = [], threading.Event(), threading.Event()

    def slow_post(url, body, headers):
        posted.append(headers["X-Upline-Delivery"])
        entered.set()
        release.wait(10)
        return 204

    monkeypatch.setattr(callbacks, "_post", slow_post)
    results = {}

    def worker():
        try:
            results["first"] = callbacks.callback_deliveries_send()
        finally:
            connection.close()

    with django_db_blocker.unblock():
        endpoint = CallbackEndpoint.objects.create(
            reseller=Reseller.objects.get(slug="bluebird"),
            url="https://billing.bluebird.example/upline",
            secret="s3cret",
        )
        delivery = CallbackDelivery.objects.create(
            endpoint=endpoint, event="escalation.replied", payload={"event": "x"}
        )
        try:
            thread = threading.Thread(target=worker)
            thread.start()
            assert entered.wait(10), "the first drain never reached the endpoint"
            started = timezone.now()
            results["second"] = callbacks.callback_deliveries_send()
            # It skipped the locked row rather than waiting for worker 1 to finish with it.
            assert timezone.now() - started < datetime.timedelta(seconds=5)
            release.set()
            thread.join(10)
            delivery.refresh_from_db()
            assert results == {"first": 1, "second": 0}
            assert posted == [str(delivery.pk)] and delivery.attempts == 1
            assert delivery.delivered_at is not None
        finally:
            release.set()
            endpoint.delete()


def test_callback_urls_must_be_https_and_local_ones_only_in_development(instance_a, settings):
    reseller = _reseller(instance_a)
    with pytest.raises(Exception, match="https://"):
        inbox.callback_endpoint_set(reseller=reseller, url="http://billing.acme.example/hook")
    with pytest.raises(Exception, match="must not be this machine"):
        inbox.callback_endpoint_set(reseller=reseller, url="https://localhost/hook")
    with pytest.raises(Exception, match="Use an https://"):
        inbox.callback_endpoint_set(reseller=reseller, url="http://localhost:8080/hook")
    settings.UPLINE_CALLBACKS_ALLOW_LOCAL = True  # development only
    local = inbox.callback_endpoint_set(reseller=reseller, url="http://localhost:8080/hook")
    changed = inbox.callback_endpoint_set(reseller=reseller, url="https://acme.example/hook")
    assert changed.pk == local.pk and changed.secret == local.secret


# --------------------------------------------------------------------------------------
# Management commands


def test_bridge_token_prints_a_working_key_once_and_revokes_it(instance_a):
    out = io.StringIO()
    call_command("bridge_token", "acme", stdout=out, stderr=io.StringIO())
    key = out.getvalue().strip()
    assert _api(key).get("/api/bridge/escalations/").status_code == 200
    call_command("bridge_token", "acme", "--revoke", key[:8], stdout=io.StringIO())
    assert _api(key).get("/api/bridge/escalations/").status_code == 401
    with pytest.raises(CommandError, match="no live key"):
        call_command("bridge_token", "acme", "--revoke", key[:8], stdout=io.StringIO())
    with pytest.raises(CommandError, match="No reseller with the slug"):
        call_command("bridge_token", "nobody", stdout=io.StringIO())


def test_bridge_callback_sets_the_endpoint_and_prints_its_secret(instance_a):
    out = io.StringIO()
    call_command(
        "bridge_callback", "acme", "https://acme.example/upline", stdout=out, stderr=io.StringIO()
    )
    assert out.getvalue().strip() == CallbackEndpoint.objects.get().secret
    with pytest.raises(CommandError, match="Use an https:// address"):
        call_command("bridge_callback", "acme", "ftp://acme.example", stdout=io.StringIO())
