"""Stripe for the tests: localstripe (a stateful fake Stripe server) started once per
session on a free 127.0.0.1 port, settings pointing the gateway at it, a fake of Connect's
account calls (localstripe has none), and events built and signed like Stripe's.

No test ever reaches the real Stripe: the API base is localstripe's, and Connect's account
calls go through the `connect_accounts` port, plugged here with `FakeConnect`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from contextlib import closing
from pathlib import Path

import pytest

SECRET_KEY = "sk_test_upline_suite"
PUBLISHABLE_KEY = "pk_test_upline_suite"
PLATFORM_SECRET = "whsec_upline_platform_suite"
CONNECT_SECRET = "whsec_upline_connect_suite"

# localstripe binds only the loopback address and keeps its state in memory (it would
# otherwise pickle its whole store to /tmp/localstripe.pickle after every write), and takes
# the platform fee Upline sends on a connected account's intent (devtools/localstripe_connect).
_LAUNCH = """
import sys
sys.path.insert(0, sys.argv[2])
from aiohttp import web
from localstripe import resources, server
from devtools.localstripe_connect import teach_application_fees
resources.Store.dump_to_disk = lambda self: None
teach_application_fees(resources)
web.run_app(server.app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


REPOSITORY = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def localstripe_url():
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", _LAUNCH, str(port), str(REPOSITORY)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            with closing(socket.create_connection(("127.0.0.1", port), timeout=0.2)):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(
                    "localstripe did not start: " + process.stderr.read().decode()[-2000:]
                ) from None
            time.sleep(0.05)
    yield url
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def stripe_keys(settings):
    """Keys and webhook secrets configured, but no Stripe server (webhook tests)."""
    settings.UPLINE_STRIPE_SECRET_KEY = SECRET_KEY
    settings.UPLINE_STRIPE_PUBLISHABLE_KEY = PUBLISHABLE_KEY
    settings.UPLINE_STRIPE_WEBHOOK_SECRET = PLATFORM_SECRET
    settings.UPLINE_STRIPE_CONNECT_WEBHOOK_SECRET = CONNECT_SECRET
    settings.UPLINE_STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens: no call leaves
    return settings


@pytest.fixture
def localstripe(stripe_keys, localstripe_url):
    """The gateway talks to the session's localstripe."""
    stripe_keys.UPLINE_STRIPE_API_BASE = localstripe_url
    stripe_keys.UPLINE_STRIPE_JS_URL = f"{localstripe_url}/js.stripe.com/v3/"
    return localstripe_url


class FakeConnect:
    """Connect's account calls as Stripe answers them (one account per idempotency key)."""

    def __init__(self, *, charges_enabled: bool = True) -> None:
        self.charges_enabled = charges_enabled
        self.accounts: dict[str, dict] = {}
        self.by_key: dict[str, str] = {}
        self.links: list[dict] = []

    def create(self, *, key: str, country: str, email: str, metadata) -> dict:
        if key not in self.by_key:
            account_id = f"acct_fake{len(self.accounts) + 1:04d}{metadata['upline_schema']}"
            self.by_key[key] = account_id
            self.accounts[account_id] = {
                "id": account_id,
                "object": "account",
                "charges_enabled": self.charges_enabled,
                "payouts_enabled": False,
                "details_submitted": False,
                "requirements": {"currently_due": ["external_account"], "past_due": []},
            }
        return dict(self.accounts[self.by_key[key]])

    def link(self, *, account_id: str, refresh_url: str, return_url: str) -> dict:
        self.links.append(
            {"account": account_id, "refresh_url": refresh_url, "return_url": return_url}
        )
        return {"url": f"https://connect.stripe.test/setup/{account_id}"}

    def retrieve(self, *, account_id: str) -> dict:
        return dict(self.accounts[account_id])


@pytest.fixture
def fake_connect():
    from tenant_apps.cards.gateway import connect_accounts

    fake = FakeConnect()
    with connect_accounts.plugged(fake):
        yield fake


def signed_event(
    event_type: str, obj: dict, *, secret: str, account: str | None = None, **extra
) -> tuple[bytes, str]:
    """A Stripe event body and its Stripe-Signature header (v1 = HMAC-SHA256 of
    "<timestamp>.<body>" under the endpoint's secret)."""
    event = {
        "id": extra.pop("event_id", None) or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": event_type,
        "livemode": extra.pop("livemode", False),
        "created": int(time.time()),
        "data": {"object": obj},
        **extra,
    }
    if account:
        event["account"] = account
    body = json.dumps(event).encode()
    timestamp = int(time.time())
    signature = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return body, f"t={timestamp},v1={signature}"


def browser_confirm_setup(base_url: str, setup_secret: str, number: str, *, authenticate=True):
    """What localstripe's Stripe.js does for confirmCardSetup: the card goes to the fake
    Stripe with the publishable key; returns the PaymentMethod id (or the error dict)."""
    setup_id = setup_secret.split("_secret_")[0]
    payload = {
        "key": PUBLISHABLE_KEY,
        "use_stripe_sdk": True,
        "client_secret": setup_secret,
        "payment_method_data": {
            "type": "card",
            "card": {"number": number, "exp_month": "12", "exp_year": "2030", "cvc": "123"},
        },
    }
    answer = _post_json(f"{base_url}/v1/setup_intents/{setup_id}/confirm", payload)
    if answer.get("status") == "requires_action" and authenticate:
        answer = _post_json(
            f"{base_url}/v1/setup_intents/{setup_id}/confirm",
            {"key": PUBLISHABLE_KEY, "use_stripe_sdk": True, "client_secret": setup_secret},
        )
    if "error" in answer:
        return answer
    return answer["payment_method"]


def browser_authenticate(base_url: str, client_secret: str, *, success: bool = True) -> dict:
    """The 3-D Secure step localstripe's Stripe.js shows (confirmCardPayment)."""
    intent_id = client_secret.split("_secret_")[0]
    return _post_json(
        f"{base_url}/v1/payment_intents/{intent_id}/_authenticate?success={str(success).lower()}",
        {"key": PUBLISHABLE_KEY, "client_secret": client_secret},
    )


def _post_json(url: str, payload: dict) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())
