"""Card payments in the demo: which Stripe `make demo` gives the web server and the worker
(devtools/demo_stripe.py), the localstripe it starts, and the Stripe accounts `upline_demo`
records for the resellers."""

from __future__ import annotations

import http.server
import json
import os
import shlex
import signal
import socket
import threading
import time
import urllib.parse
import urllib.request

import pytest
from django.core.management import call_command
from django_tenants.utils import schema_context

from devtools import demo_stripe
from shared_apps.stripe_webhooks.models import StripeAccountRoute
from shared_apps.tenancy.models import Reseller
from tenant_apps.cards import gateway
from tenant_apps.cards.models import CardConnection
from tenant_apps.cards.selectors import card_setup
from tenant_apps.instance.models import AuditEvent

LOCAL = "http://127.0.0.1:12345"
SECRET_KEY = demo_stripe.LOCALSTRIPE_SETTINGS["UPLINE_STRIPE_SECRET_KEY"]


# --------------------------------------------------------------------------------------
# Which Stripe the demo uses


def test_demo_uses_localstripe_when_no_keys_are_in_the_environment():
    choice = demo_stripe.stripe_choice({"UPLINE_STRIPE_SECRET_KEY": "sk_test_only"}, "auto")
    settings = demo_stripe.stripe_environment(choice, localstripe_url=LOCAL)

    assert choice == "localstripe"
    assert settings["UPLINE_STRIPE_API_BASE"] == LOCAL
    assert settings["UPLINE_STRIPE_JS_URL"] == f"{LOCAL}/js.stripe.com/v3/"
    assert settings["UPLINE_STRIPE_SECRET_KEY"].startswith("sk_test_")
    assert settings["UPLINE_STRIPE_PUBLISHABLE_KEY"].startswith("pk_test_")
    assert settings["UPLINE_STRIPE_WEBHOOK_SECRET"].startswith("whsec_")
    assert settings["UPLINE_STRIPE_CONNECT_WEBHOOK_SECRET"].startswith("whsec_")


def test_demo_keeps_the_environments_stripe_test_keys_when_both_are_given():
    environ = {
        "UPLINE_STRIPE_SECRET_KEY": "sk_test_x",
        "UPLINE_STRIPE_PUBLISHABLE_KEY": "pk_test_x",
    }

    choice = demo_stripe.stripe_choice(environ, "auto")

    assert choice == "keys"
    assert demo_stripe.stripe_environment(choice, localstripe_url=LOCAL) == {}
    # Asked for explicitly, localstripe replaces them.
    assert demo_stripe.stripe_choice(environ, "localstripe") == "localstripe"


def test_demo_refuses_a_live_secret_key():
    environ = {
        "UPLINE_STRIPE_SECRET_KEY": "sk_live_x",
        "UPLINE_STRIPE_PUBLISHABLE_KEY": "pk_live_x",
    }

    with pytest.raises(demo_stripe.DemoStripeError, match="live key"):
        demo_stripe.stripe_choice(environ, "auto")


@pytest.mark.parametrize(
    ("choice", "url"), [("off", LOCAL), ("localstripe", None)], ids=["off", "did-not-start"]
)
def test_demo_without_a_stripe_blanks_the_keys_so_card_payments_say_not_set_up(choice, url):
    settings = demo_stripe.stripe_environment(choice, localstripe_url=url)

    assert settings["UPLINE_STRIPE_SECRET_KEY"] == ""
    assert settings["UPLINE_STRIPE_PUBLISHABLE_KEY"] == ""
    assert settings["UPLINE_STRIPE_API_BASE"] == ""


def test_demo_refuses_an_unknown_stripe_mode():
    with pytest.raises(demo_stripe.DemoStripeError, match="auto, localstripe, off"):
        demo_stripe.stripe_choice({}, "sometimes")


def test_localstripe_state_is_kept_per_demo_database():
    path = demo_stripe.store_path_for("postgres://postgres@127.0.0.1:5432/upline_demo2")
    odd = demo_stripe.store_path_for("postgres://h/../../etc?x=1")

    assert path == demo_stripe.VAR / "localstripe" / "upline_demo2.pickle"
    assert odd.parent == demo_stripe.VAR / "localstripe"


# --------------------------------------------------------------------------------------
# The localstripe `start` runs


class _Endpoint(http.server.BaseHTTPRequestHandler):
    """Stands for the demo's web server: keeps what arrives at the platform webhook."""

    received: list[tuple[str, bytes, str]] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body, self.headers.get("Stripe-Signature", "")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def _stripe(url: str, path: str, params: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{url}{path}",
        data=urllib.parse.urlencode(params).encode() if params is not None else None,
        headers={"Authorization": f"Bearer {SECRET_KEY}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
        return json.loads(response.read())


def _exports(lines: list[str]) -> dict[str, str]:
    """What the demo's shell has after `eval`-ing the lines."""
    values = {}
    for line in lines:
        name, _, value = line.removeprefix("export ").partition("=")
        values[name] = "".join(shlex.split(value))
    return values


def _stop(pid: str) -> None:
    os.kill(int(pid), signal.SIGTERM)


def test_started_localstripe_takes_a_payment_signs_its_webhook_and_remembers_it(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Endpoint.received = []
    store, log = tmp_path / "store.pickle", tmp_path / "localstripe.log"
    try:
        first = _exports(
            demo_stripe.start(
                mode="auto", web_port=server.server_port, port=0, store=store, log=log, environ={}
            )
        )
        url = first["UPLINE_STRIPE_API_BASE"]
        try:
            with urllib.request.urlopen(first["UPLINE_STRIPE_JS_URL"], timeout=5) as js:  # noqa: S310
                assert b"localstripe" in js.read()
            intent = _stripe(
                url,
                "/v1/payment_intents",
                {"amount": "1234", "currency": "eur", "payment_method_types[]": "card"},
            )
            method = _stripe(
                url,
                "/v1/payment_methods",
                {
                    "type": "card",
                    "card[number]": "4242424242424242",
                    "card[exp_month]": "12",
                    "card[exp_year]": "2030",
                    "card[cvc]": "123",
                },
            )
            # As the gateway does it: the card on the intent, then confirm.
            _stripe(url, f"/v1/payment_intents/{intent['id']}", {"payment_method": method["id"]})
            _stripe(url, f"/v1/payment_intents/{intent['id']}/confirm", {})
            deadline = time.monotonic() + 10  # localstripe waits a second before it delivers
            while not _Endpoint.received and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            _stop(first["localstripe_pid"])

        path, body, signature = _Endpoint.received[0]
        event = gateway.verify_webhook(
            body, signature, first["UPLINE_STRIPE_WEBHOOK_SECRET"]
        )  # signed with the secret the web server is given
        assert path == "/stripe/webhooks/platform/"
        assert event["type"] == "payment_intent.succeeded"
        assert event["data"]["object"]["id"] == intent["id"]

        # The next demo session's localstripe still knows the payment the database records.
        second = _exports(
            demo_stripe.start(mode="auto", web_port=1, port=0, store=store, log=log, environ={})
        )
        try:
            again = _stripe(second["UPLINE_STRIPE_API_BASE"], f"/v1/payment_intents/{intent['id']}")
        finally:
            _stop(second["localstripe_pid"])
        assert again["status"] == "succeeded"
    finally:
        server.shutdown()
        server.server_close()


def test_demo_goes_on_without_cards_when_localstripe_cannot_start(tmp_path):
    with socket.socket() as taken:  # another server holds the port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        lines = demo_stripe.start(
            mode="auto",
            web_port=1,
            port=taken.getsockname()[1],
            store=tmp_path / "store.pickle",
            log=tmp_path / "localstripe.log",
            environ={},
        )

    assert _exports(lines)["localstripe_pid"] == ""
    assert _exports(lines)["UPLINE_STRIPE_SECRET_KEY"] == ""


def test_start_with_stripe_off_starts_nothing():
    lines = demo_stripe.start(
        mode="off", web_port=1, port=0, store=None, log=demo_stripe.VAR / "unused.log", environ={}
    )

    assert _exports(lines)["localstripe_pid"] == ""
    assert _exports(lines)["UPLINE_STRIPE_SECRET_KEY"] == ""


# --------------------------------------------------------------------------------------
# What upline_demo records and prints


@pytest.fixture
def demo_room(db):
    """The session's instances exist already (the demo then only fills them): give them room."""
    from shared_apps.tenancy.services import allocation_set

    for reseller in Reseller.objects.all():
        for code in ("disk_gb", "hosting_accounts", "domains", "email_accounts"):
            allocation_set(reseller=reseller, resource_code=code, quantity=10_000)


def _demo_stripe_settings(settings, *, api_base: str) -> None:
    for name, value in demo_stripe.LOCALSTRIPE_SETTINGS.items():
        setattr(settings, name, value)
    settings.UPLINE_STRIPE_API_BASE = api_base


def test_demo_connects_each_resellers_stripe_account_when_stripe_is_local(
    demo_room, settings, capsys
):
    # Nothing listens there: recording the accounts calls no Stripe.
    _demo_stripe_settings(settings, api_base="http://127.0.0.1:9")

    call_command("upline_demo", "--port", "8010")
    call_command("upline_demo", "--port", "8010")

    out = capsys.readouterr().out
    for slug in ("acme", "bluebird"):
        schema = Reseller.objects.get(slug=slug).schema_name
        with schema_context(schema):
            setup = card_setup()
            assert setup.ready, setup.reason
            assert setup.account_id == f"acct_demo_{schema}"
            assert CardConnection.objects.count() == 1
            assert AuditEvent.objects.filter(action="cardconnection.connected").count() == 1
        route = StripeAccountRoute.objects.get(account_id=f"acct_demo_{schema}")
        assert route.reseller.slug == slug
    with schema_context("public"):
        assert card_setup().ready  # the operator's instance: the platform account
    assert "local fake Stripe (localstripe at http://127.0.0.1:9)" in out
    assert "4242 4242 4242 4242  succeeds" in out
    assert "4000 0000 0000 0002  is declined" in out
    assert "4000 0025 0000 3155  asks for 3-D Secure" in out


def test_demo_without_stripe_keys_connects_nothing_and_says_cards_are_not_set_up(
    demo_room, settings, capsys
):
    settings.UPLINE_STRIPE_SECRET_KEY = ""
    settings.UPLINE_STRIPE_PUBLISHABLE_KEY = ""

    call_command("upline_demo")

    with schema_context(Reseller.objects.get(slug="acme").schema_name):
        assert not CardConnection.objects.exists()
        assert card_setup().reason == "The platform has no Stripe keys configured."
    assert "Card payments      not set up (no Stripe keys)" in capsys.readouterr().out


def test_demo_with_real_test_keys_leaves_connecting_to_the_resellers(demo_room, settings, capsys):
    _demo_stripe_settings(settings, api_base="")  # Stripe's own API

    call_command("upline_demo")

    with schema_context(Reseller.objects.get(slug="acme").schema_name):
        assert not CardConnection.objects.exists()
    out = capsys.readouterr().out
    assert "Stripe test keys from the environment" in out
    assert "4242 4242 4242 4242" in out
