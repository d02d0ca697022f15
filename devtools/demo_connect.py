"""Connect for the demo's fake Stripe: localstripe has no account API, so the demo answers
Connect's account calls itself — a reseller's account exists at once, fully onboarded.

`upline_demo` plugs `DemoConnectAccounts` while it connects the demo resellers; the web
server and the worker of `make demo` plug it for good through `DemoConnectConfig`, which
the development settings install only when a fake Stripe API is configured
(`UPLINE_STRIPE_API_BASE`), so "Update details on Stripe" works in the demo too.
"""

from __future__ import annotations

from django.apps import AppConfig


class DemoConnectAccounts:
    """Connect's account calls as the demo's fake Stripe would answer them if it had
    Connect: a reseller's account exists at once, fully onboarded, taking charges."""

    def _account(self, account_id: str) -> dict:
        return {
            "id": account_id,
            "object": "account",
            "charges_enabled": True,
            "payouts_enabled": True,
            "details_submitted": True,
            "requirements": {"currently_due": [], "past_due": []},
        }

    def create(self, *, key: str, country: str, email: str, metadata) -> dict:
        return self._account(f"acct_demo_{metadata['upline_schema']}")

    def link(self, *, account_id: str, refresh_url: str, return_url: str) -> dict:
        return {"url": return_url}

    def retrieve(self, *, account_id: str) -> dict:
        return self._account(account_id)


class DemoConnectConfig(AppConfig):
    name = "devtools"
    label = "devtools_demo_connect"
    verbose_name = "Demo: Connect for a fake Stripe"

    def ready(self) -> None:
        from tenant_apps.cards import gateway

        gateway.connect_accounts.plug(DemoConnectAccounts())
