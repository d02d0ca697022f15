"""The demo's Connect stand-in is installed only where a fake Stripe API is configured
(localstripe has no account API): real Stripe settings keep Stripe's own Connect calls."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import django; django.setup();"
    "from tenant_apps.cards import gateway;"
    "print(type(gateway.connect_accounts.implementation).__name__)"
)


def _connect_class(**extra: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "UPLINE_STRIPE_API_BASE"}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.dev", **extra)
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_the_demo_answers_connect_itself_when_its_stripe_is_a_local_fake():
    assert _connect_class(UPLINE_STRIPE_API_BASE="http://127.0.0.1:9") == "DemoConnectAccounts"


def test_without_a_fake_stripe_connect_calls_go_to_stripe():
    assert _connect_class() == "StripeConnectAccounts"


def test_the_stand_in_makes_an_onboarded_account_and_links_straight_back():
    from devtools.demo_connect import DemoConnectAccounts

    fake = DemoConnectAccounts()
    account = fake.create(key="k", country="FR", email="a@b.c", metadata={"upline_schema": "r_x"})
    assert account["id"] == "acct_demo_r_x" and account["charges_enabled"]
    assert fake.link(account_id="acct_demo_r_x", refresh_url="/r", return_url="/back") == {
        "url": "/back"
    }
