"""The one door to Stripe: the only module that imports `stripe`.

A `Gateway` speaks for one instance: the platform's secret key, and the instance's
connected account as `stripe_account` on every call (None on the operator's instance, which
charges on the platform account itself) — direct charges, so the instance is the merchant
of record and nobody collects on anybody's behalf. `UPLINE_STRIPE_API_BASE` points it at
localstripe in tests and the demo.

Every call that moves money carries an idempotency key named after our own row
(`"r_acme:cardpayment:42:create"`), so a retried request or task gets Stripe's first answer
back instead of charging twice. Amounts cross as integers in the currency's minor unit,
converted from Decimal by the currency's exponent — never through float. On a connected
account an intent carries the platform's fee (`application_fee_amount`) its card payment
row fixed (platform_fee.py); on the platform's own account it never does.

What Stripe answers comes back as plain dicts (the same shape a webhook event carries), so
the services handle one shape whichever way the news arrived. Connect's account calls go
through the `connect_accounts` port: tests plug a fake there (localstripe has no Connect),
so no test ever calls the real Stripe.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import stripe
from django.conf import settings
from django.db import connection
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_tenants.utils import get_public_schema_name

from tenant_apps.instance.money import currency_exponent
from tenant_apps.instance.ports import Port

from .models import CardError, CardsNotSetUp

logger = logging.getLogger(__name__)

# Stripe counts these in whole units (its list; babel agrees on most, not all, of them).
ZERO_DECIMAL_CURRENCIES = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split()
)

NOT_SET_UP = gettext_lazy("Card payments are not set up.")


class CardDeclined(CardError):
    """The card network or the bank said no (the customer may try another card)."""

    status_code = 402
    code = "card_declined"


class GatewayUnavailable(CardError):
    """Stripe could not be reached or refused the call; nothing was charged twice."""

    status_code = 502
    code = "card_gateway"


def minor_exponent(currency: str) -> int:
    code = currency.upper()
    return 0 if code in ZERO_DECIMAL_CURRENCIES else currency_exponent(code)


def to_minor_units(amount: Decimal, currency: str) -> int:
    """12.34 EUR → 1234, 500 JPY → 500; an amount finer than the unit is refused."""
    scaled = Decimal(amount).scaleb(minor_exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} {currency} is finer than the currency's smallest unit.")
    return int(scaled)


def from_minor_units(value: int, currency: str) -> Decimal:
    return Decimal(int(value)).scaleb(-minor_exponent(currency))


def keys_configured() -> bool:
    return bool(settings.UPLINE_STRIPE_SECRET_KEY and settings.UPLINE_STRIPE_PUBLISHABLE_KEY)


def live_mode() -> bool:
    """Live keys take real money; events must say the same (`livemode`)."""
    return "_live_" in settings.UPLINE_STRIPE_SECRET_KEY


def is_platform_instance() -> bool:
    """The operator's own instance (public schema) charges on the platform account."""
    return connection.schema_name == get_public_schema_name()


def _plain(obj: Any) -> dict:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _client(account_id: str | None) -> stripe.StripeClient:
    if not settings.UPLINE_STRIPE_SECRET_KEY:
        raise CardsNotSetUp(NOT_SET_UP)
    base = settings.UPLINE_STRIPE_API_BASE
    return stripe.StripeClient(
        settings.UPLINE_STRIPE_SECRET_KEY,
        stripe_account=account_id or None,
        base_addresses={"api": base} if base else None,
        max_network_retries=2,
    )


def _call(action: str, func, *args, **kwargs) -> dict:
    try:
        return _plain(func(*args, **kwargs))
    except stripe.CardError as exc:
        raise CardDeclined(exc.user_message or _("Your card was declined.")) from exc
    except stripe.StripeError as exc:
        logger.warning("Stripe refused %s: %s", action, exc)
        message = getattr(exc, "user_message", None) or _("Stripe did not accept the request.")
        raise GatewayUnavailable(
            _("%(message)s Nothing was charged; try again.") % {"message": message}
        ) from exc


class Gateway:
    """Stripe calls for one instance (its connected account, or the platform's own)."""

    def __init__(self, *, account_id: str | None, schema_name: str) -> None:
        self.account_id = account_id or None
        self.schema_name = schema_name
        self._stripe = _client(self.account_id)

    def key(self, kind: str, pk: int, action: str) -> str:
        """The idempotency key of the call that `action` on our row `kind` #`pk` makes."""
        return f"{self.schema_name}:{kind}:{pk}:{action}"

    def _options(self, key: str | None = None) -> dict:
        return {"idempotency_key": key} if key else {}

    def _fee(self, application_fee: Decimal, amount: Decimal, currency: str) -> dict:
        """The platform's fee as Stripe takes it on a direct charge (`application_fee_amount`,
        minor units): only on a connected account — the platform charging its own account
        has nobody to take a fee from, and a fee above the amount is a bug, not a charge."""
        if not application_fee:
            return {}
        if self.account_id is None:
            raise ValueError("No platform fee is taken on the platform's own account.")
        fee = to_minor_units(application_fee, currency)
        if fee < 0 or fee > to_minor_units(amount, currency):
            raise ValueError(f"A fee of {application_fee} {currency} does not fit {amount}.")
        return {"application_fee_amount": fee}

    # Customers and cards --------------------------------------------------------------
    def customer_create(self, *, customer_pk: int, name: str, email: str) -> dict:
        params = {"name": name, "metadata": {"upline_customer": str(customer_pk)}}
        if email:
            params["email"] = email
        return _call(
            "customer create",
            self._stripe.v1.customers.create,
            params=params,
            options=self._options(self.key("customer", customer_pk, "create")),
        )

    def setup_intent_create(self, *, stripe_customer: str) -> dict:
        # Collects a card in the browser (Stripe.js confirms it); it moves no money, so a
        # repeated call costs nothing and carries no key.
        return _call(
            "setup intent create",
            self._stripe.v1.setup_intents.create,
            params={"customer": stripe_customer, "payment_method_types": ["card"]},
        )

    def payment_method_retrieve(self, payment_method_id: str) -> dict:
        return _call(
            "payment method retrieve", self._stripe.v1.payment_methods.retrieve, payment_method_id
        )

    def payment_method_detach(self, *, saved_card_pk: int, payment_method_id: str) -> dict:
        """Take a saved card off its Stripe customer (it can never be charged again). A card
        Stripe no longer knows, or that is already detached, counts as done: the customer
        asked for it to be gone, and it is."""
        try:
            return _plain(
                self._stripe.v1.payment_methods.detach(
                    payment_method_id,
                    options=self._options(self.key("savedcard", saved_card_pk, "detach")),
                )
            )
        except stripe.InvalidRequestError as exc:
            if (
                exc.http_status == 404
                or exc.code == "resource_missing"
                or ("not attached" in str(exc.user_message or exc))
            ):
                logger.info("Payment method %s was already detached: %s", payment_method_id, exc)
                return {"id": payment_method_id, "customer": None}
            logger.warning("Stripe refused payment method detach: %s", exc)
            raise GatewayUnavailable(
                _("%(value)s The card was kept; try again.")
                % {"value": exc.user_message or _("Stripe did not accept the request.")}
            ) from exc
        except stripe.StripeError as exc:
            logger.warning("Stripe refused payment method detach: %s", exc)
            raise GatewayUnavailable(
                _("%(value)s The card was kept; try again.")
                % {"value": getattr(exc, "user_message", None) or _("Stripe could not be reached.")}
            ) from exc

    # Payments -------------------------------------------------------------------------
    def payment_intent_create(
        self,
        *,
        card_payment_pk: int,
        amount: Decimal,
        currency: str,
        stripe_customer: str,
        metadata: Mapping[str, str],
        application_fee: Decimal = Decimal("0"),
    ) -> dict:
        return _call(
            "payment intent create",
            self._stripe.v1.payment_intents.create,
            params={
                "amount": to_minor_units(amount, currency),
                "currency": currency.lower(),
                "customer": stripe_customer,
                "payment_method_types": ["card"],
                "metadata": dict(metadata),
                **self._fee(application_fee, amount, currency),
            },
            options=self._options(self.key("cardpayment", card_payment_pk, "create")),
        )

    def payment_intent_retrieve(self, intent_id: str) -> dict:
        return _call("payment intent retrieve", self._stripe.v1.payment_intents.retrieve, intent_id)

    def payment_intent_confirm(
        self, *, card_payment_pk: int, attempt: int, intent_id: str, payment_method: str
    ) -> dict:
        """Put the card on the intent and confirm it (two calls: the second carries no
        card, which both Stripe and localstripe accept). Raises CardDeclined."""
        _call(
            "payment intent update",
            self._stripe.v1.payment_intents.update,
            intent_id,
            params={"payment_method": payment_method},
            options=self._options(self.key("cardpayment", card_payment_pk, f"card-{attempt}")),
        )
        return _call(
            "payment intent confirm",
            self._stripe.v1.payment_intents.confirm,
            intent_id,
            options=self._options(self.key("cardpayment", card_payment_pk, f"confirm-{attempt}")),
        )

    def payment_intent_charge_saved_card(
        self,
        *,
        card_payment_pk: int,
        attempt: int,
        amount: Decimal,
        currency: str,
        stripe_customer: str,
        payment_method: str,
        metadata: Mapping[str, str],
        application_fee: Decimal = Decimal("0"),
    ) -> dict:
        """Charge a saved card with nobody at the keyboard (off-session): one call creates
        and confirms the intent, keyed by our row and the attempt number.

        A decline or Stripe's "authentication required" comes back as the intent Stripe
        made (status requires_payment_method with its last_payment_error), like a webhook
        would carry it; an intent asking for 3-D Secure comes back as requires_action.
        CardDeclined when Stripe refused the card without making an intent (detached, no
        such card); GatewayUnavailable when Stripe could not be reached — the outcome is
        then unknown, and only a call with the same key may ask again."""
        key = self.key("cardpayment", card_payment_pk, f"offsession-{attempt}")
        try:
            return _plain(
                self._stripe.v1.payment_intents.create(
                    params={
                        "amount": to_minor_units(amount, currency),
                        "currency": currency.lower(),
                        "customer": stripe_customer,
                        "payment_method": payment_method,
                        "payment_method_types": ["card"],
                        "confirm": True,
                        "off_session": True,
                        "metadata": dict(metadata),
                        **self._fee(application_fee, amount, currency),
                    },
                    options=self._options(key),
                )
            )
        except stripe.CardError as exc:
            intent = self._intent_of_card_error(exc)
            if intent is None:
                raise CardDeclined(exc.user_message or _("The card was declined.")) from exc
            if not intent.get("last_payment_error"):
                intent["last_payment_error"] = {
                    "code": exc.code or "",
                    "message": exc.user_message or _("The card was declined."),
                }
            return intent
        except stripe.InvalidRequestError as exc:
            # Refused before any money moved (the card was detached, the customer is gone).
            logger.warning("Stripe refused an off-session charge: %s", exc)
            raise CardDeclined(exc.user_message or _("The saved card cannot be charged.")) from exc
        except stripe.StripeError as exc:
            logger.warning("Stripe did not answer an off-session charge: %s", exc)
            raise GatewayUnavailable(
                _(
                    "Stripe could not be reached; the charge will be asked again with the same "
                    "key, so it is never made twice."
                )
            ) from exc

    def _intent_of_card_error(self, exc: stripe.CardError) -> dict | None:
        """The intent a declined off-session charge made: Stripe puts it in the error; a
        fake that names only the failed charge is asked for the charge's intent."""
        error = (exc.json_body or {}).get("error") or {}
        intent = error.get("payment_intent")
        if isinstance(intent, Mapping) and intent.get("id"):
            return dict(intent)
        charge_id = error.get("charge")
        if not charge_id:
            return None
        charge = _call("charge retrieve", self._stripe.v1.charges.retrieve, charge_id)
        intent_id = charge.get("payment_intent")
        return self.payment_intent_retrieve(str(intent_id)) if intent_id else None

    def payment_intent_cancel(self, *, card_payment_pk: int, intent_id: str) -> dict:
        return _call(
            "payment intent cancel",
            self._stripe.v1.payment_intents.cancel,
            intent_id,
            options=self._options(self.key("cardpayment", card_payment_pk, "cancel")),
        )

    def refund_create(
        self, *, card_refund_pk: int, intent_id: str, amount: Decimal, currency: str
    ) -> dict:
        return _call(
            "refund create",
            self._stripe.v1.refunds.create,
            params={
                "payment_intent": intent_id,
                "amount": to_minor_units(amount, currency),
                "metadata": {"upline_refund": str(card_refund_pk)},
            },
            options=self._options(self.key("cardrefund", card_refund_pk, "create")),
        )


class StripeConnectAccounts:
    """Connect's account calls, made by the platform (no `stripe_account`)."""

    def create(self, *, key: str, country: str, email: str, metadata: Mapping[str, str]) -> dict:
        params: dict[str, Any] = {"type": "standard", "metadata": dict(metadata)}
        if country:
            params["country"] = country
        if email:
            params["email"] = email
        return _call(
            "account create",
            _client(None).v1.accounts.create,
            params=params,
            options={"idempotency_key": key},
        )

    def link(self, *, account_id: str, refresh_url: str, return_url: str) -> dict:
        return _call(
            "account link create",
            _client(None).v1.account_links.create,
            params={
                "account": account_id,
                "refresh_url": refresh_url,
                "return_url": return_url,
                "type": "account_onboarding",
            },
        )

    def retrieve(self, *, account_id: str) -> dict:
        return _call("account retrieve", _client(None).v1.accounts.retrieve, account_id)


#: Connect's account calls (create, onboarding link, retrieve); tests plug a fake.
connect_accounts: Port = Port("connect_accounts", StripeConnectAccounts())


def instance_gateway(account_id: str | None) -> Gateway:
    """The gateway of the current instance, given its connected account (None: platform)."""
    return Gateway(account_id=account_id, schema_name=connection.schema_name)


def verify_webhook(payload: bytes, signature: str, secret: str) -> dict:
    """The event in a webhook body whose signature `secret` made, or ValueError.

    Stripe's own check of the header (HMAC of the raw body, timestamp within its
    tolerance), then one plain `json.loads`: building the library's StripeObject tree
    only to turn it back into dicts cost more than the whole check."""
    if not secret:
        raise ValueError("No webhook secret is configured for this endpoint.")
    try:
        stripe.WebhookSignature.verify_header(
            payload, signature, secret, stripe.Webhook.DEFAULT_TOLERANCE
        )
    except stripe.SignatureVerificationError as exc:
        raise ValueError("The signature does not match the body.") from exc
    except ValueError as exc:  # a body that is not UTF-8
        raise ValueError("The body is not a Stripe event.") from exc
    try:
        event = json.loads(payload)
    except ValueError as exc:
        raise ValueError("The body is not a Stripe event.") from exc
    if not isinstance(event, dict) or event.get("object") == "v2.core.event":
        raise ValueError("The body is not a Stripe event.")
    return event
