"""Stripe webhooks on their fast path (issue 11, throughput): a delivery is verified with
Stripe's own signature check and stored by one statement, and the worker applying it keeps
every guarantee of the slower path — the audit rows, each instance's own time zone, one
payment per intent."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from unittest import mock

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from shared_apps.stripe_webhooks.models import StripeEvent
from tenant_apps.billing.models import Payment
from tenant_apps.instance import clock
from tenant_apps.instance.models import AuditEvent, IssuerIdentity
from tenant_apps.instance.services import issuer_identity_set
from tests import stripe_fixtures
from tests import test_stripe_webhooks as webhooks
from tests.stripe_fixtures import CONNECT_SECRET, signed_event
from tests.test_stripe_webhooks import CONNECT, INTENT, _intent, _post

stripe_keys = stripe_fixtures.stripe_keys  # the fixtures, found by name
routed = webhooks.routed


def _signed_at(body: bytes, stamp: int, secret: str = CONNECT_SECRET) -> str:
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def test_a_delivery_signed_longer_ago_than_stripes_tolerance_is_refused(routed):
    body, _ = signed_event(
        "payment_intent.succeeded", _intent(), secret=CONNECT_SECRET, account="acct_acme"
    )
    # A genuine signature of ten minutes ago: a recorded delivery played back.
    response = _post(CONNECT, body, _signed_at(body, int(time.time()) - 600))
    assert response.status_code == 400
    assert "signature" in response.json()["detail"]
    assert not StripeEvent.objects.exists()
    # The same body signed now goes through.
    assert _post(CONNECT, body, _signed_at(body, int(time.time()))).status_code == 200


def test_a_signed_body_that_is_not_an_event_is_refused_with_a_clear_answer(routed):
    for body in (b"[1, 2]", b'"evt"', b"{not json", json.dumps({"object": "v2.core.event"})):
        body = body if isinstance(body, bytes) else body.encode()
        response = _post(CONNECT, body, _signed_at(body, int(time.time())))
        assert response.status_code == 400
        assert response.json()["detail"] == "The body is not a Stripe event."
    assert not StripeEvent.objects.exists()


def test_a_delivery_is_stored_by_one_statement_and_queued_once(
    routed, django_capture_on_commit_callbacks
):
    body, signature = signed_event(
        "payment_intent.succeeded", _intent(), secret=CONNECT_SECRET, account="acct_acme"
    )
    _post(CONNECT, body, signature)  # the first request of the test warms the routing
    StripeEvent.objects.all().delete()
    with (
        mock.patch("shared_apps.stripe_webhooks.tasks.stripe_event_process.delay") as queued,
        django_capture_on_commit_callbacks(execute=True),
        CaptureQueriesContext(connection) as queries,
    ):
        assert _post(CONNECT, body, signature).status_code == 200
        assert _post(CONNECT, body, signature).json()["detail"] == "Already received."
    stored = StripeEvent.objects.get()
    assert stored.schema_name == "r_acme"
    queued.assert_called_once_with(stored.pk)  # the replay queued nothing
    assert len(queries) == 2, [q["sql"][:80] for q in queries]  # one per delivery
    assert all("INSERT INTO" in q["sql"] for q in queries)


def test_an_unknown_account_is_answered_by_the_same_single_statement(routed):
    body, signature = signed_event(
        "payment_intent.succeeded", _intent(), secret=CONNECT_SECRET, account="acct_nobody"
    )
    _post(CONNECT, body, signature)
    with CaptureQueriesContext(connection) as queries:
        response = _post(CONNECT, body, signature)
    assert response.json()["detail"].startswith("Unknown account")
    assert len(queries) == 1 and not StripeEvent.objects.exists()


def test_a_paid_event_leaves_its_audit_rows_in_its_own_instance(routed):
    deliver, _ = routed
    deliver(CONNECT, "payment_intent.succeeded", _intent(), account="acct_acme")
    deliver(CONNECT, "payment_intent.succeeded", _intent(), account="acct_acme", event_id="e2")
    with schema_context("r_acme"):
        [payment] = Payment.objects.all()
        assert payment.reference == INTENT
        actions = list(AuditEvent.objects.values_list("action", flat=True))
        assert actions.count("cardpayment.succeeded") == 1
        assert actions.count("invoice.payment_recorded") == 1
    for schema in ("r_bluebird", "public"):
        with schema_context(schema):
            assert not AuditEvent.objects.filter(action="cardpayment.succeeded").exists()


def test_each_instance_keeps_its_own_time_zone_while_zones_are_held(instance_a, instance_b):
    for info, zone in ((instance_a, "Europe/Paris"), (instance_b, "Asia/Tokyo")):
        with schema_context(info.schema_name):
            issuer_identity_set(legal_name="Hosting Ltd", country="FR", time_zone=zone)
    with clock.time_zones_held():
        with schema_context("r_acme"):
            assert str(clock.instance_time_zone()) == "Europe/Paris"
            IssuerIdentity.objects.update(time_zone="America/Lima")
            assert str(clock.instance_time_zone()) == "Europe/Paris"  # read once per task
        with schema_context("r_bluebird"):
            assert str(clock.instance_time_zone()) == "Asia/Tokyo"  # never another's
    with schema_context("r_acme"):
        assert str(clock.instance_time_zone()) == "America/Lima"  # outside: read each time
