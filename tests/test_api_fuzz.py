"""Fuzzing the API: schemathesis sends generated requests, valid and invalid, to every
operation of the OpenAPI schema an instance serves, and each answer must be one the schema
documents, with the body and content type it documents, and never a server error.

Two targets, both in-process through Django's WSGI application and the schema exactly as
served (fetched from /api/schema/ with a staff member's credentials):

- a reseller instance (acme), with a DRF token of its owner;
- the operator's domain (public schema): its own instance's routes and the console API
  with the operator owner's token, the inbox API with a reseller's inbox key.

Ids in paths and references in bodies point at seeded objects most of the time (a random id
only ever finds a 404), so writes reach the services. Each example runs in a savepoint that
is rolled back, inside the test's transaction; the connection is put back on the public
schema before each call, so the routing middleware must choose the instance's schema itself.

CI runs a fixed number of examples per operation, derandomized, so a run is reproducible.
To look for more, run with a seed and more examples, e.g.
`FUZZ_SEED=7 FUZZ_EXAMPLES=100 pytest tests/test_api_fuzz.py` (FUZZ_COVERAGE=1 adds
schemathesis' coverage phase: boundary values and every kind of invalid input per field).
"""

from __future__ import annotations

import json
import os
import random
import re
from dataclasses import dataclass, field

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection, transaction
from django_tenants.utils import schema_context
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config.wsgi import application
from shared_apps.bridge import inbox
from shared_apps.tenancy.models import Reseller
from tenant_apps.billing import services as billing
from tenant_apps.billing.models import Invoice, TaxRate
from tenant_apps.catalog.models import TaxClass
from tenant_apps.clients.models import Customer
from tenant_apps.helpdesk import services as helpdesk
from tenant_apps.recurring import services as recurring
from tests.test_orders_screens import build_shop, place_order

SEED = os.environ.get("FUZZ_SEED")
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))

CONFIG = schemathesis.Config.from_dict(
    {
        "phases": {
            # Examples: the schema has none. Stateful: links are not declared.
            "examples": {"enabled": False},
            "coverage": {"enabled": os.environ.get("FUZZ_COVERAGE") == "1"},
            "stateful": {"enabled": False},
        },
        # Valid and invalid input alike, NUL characters included; no example database.
        "generation": {"mode": "all", "allow-x00": True, "database": "none"},
        **({"seed": int(SEED)} if SEED else {}),
    }
)
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=SEED is None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass
class Target:
    """Where to send the calls, with which credentials, and which objects exist there."""

    host: str
    token: str
    # Path segment before an id (customers, lines, resellers …) → ids of seeded objects.
    ids: dict[str, list] = field(default_factory=dict)
    # Body field (at any depth) → values that name seeded objects.
    references: dict[str, list] = field(default_factory=dict)
    inbox_key: str = ""

    def headers(self, path: str) -> dict[str, str]:
        if path.startswith("/api/bridge/"):
            return {"Authorization": f"Bearer {self.inbox_key}"}
        return {"Authorization": f"Token {self.token}"}


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Django closes the connection when a request finishes (close_old_connections), which
    would end the test's transaction; Django's own test client disconnects it the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _token(schema_name: str, email: str) -> str:
    with schema_context(schema_name):
        user = get_user_model().objects.get(email=email)
        return Token.objects.get_or_create(user=user)[0].key


def _seed_instance(info) -> Target:
    """A catalog, a customer with an active service and its issued invoice, a paid invoice,
    a draft with a line, a ticket, a department, a canned reply and a billing run."""
    shop = build_shop(info)
    order = place_order(info, shop)
    with schema_context(info.schema_name):
        customer = Customer.objects.get(pk=shop.customer)
        issued = Invoice.objects.filter(customer=customer).latest("pk")
        line = {"description": "Set-up", "unit_price": "30.00", "tax_class_code": "standard"}
        draft = billing.invoice_create_draft(customer=customer, lines=[line])
        paid = billing.invoice_issue(
            invoice=billing.invoice_create_draft(customer=customer, lines=[line])
        )
        payment = billing.payment_record(
            customer=customer, amount=paid.total, method="bank_transfer", invoice=paid
        )
        department = helpdesk.department_create(name="Support")
        canned = helpdesk.canned_reply_create(title="Thanks", body="Thank you for writing.")
        ticket = helpdesk.ticket_open(
            subject="Mail bounces",
            body="Since this morning.",
            department=department,
            customer=customer,
            requester=customer.user,
        )
        run = recurring.renewals_run(triggered_by="fuzz")
        support = get_user_model().objects.get(email=info.support)
        standard = TaxClass.objects.get(code="standard")
        tax_rate = TaxRate.objects.get(country="FR", tax_class=standard)
        ids = {
            "customers": [customer.pk],
            "statements": [customer.pk],
            "products": [shop.basic, shop.backups],
            "tax-classes": [standard.pk],
            "tax-rates": [tax_rate.pk],
            "referers": [shop.referer],
            "orders": [order],
            "services": list(customer.services.values_list("pk", flat=True)),
            "invoices": [issued.pk, draft.pk, paid.pk],
            "lines": list(draft.lines.values_list("pk", flat=True)),
            "payments": [payment.pk],
            "tickets": [ticket.pk],
            "departments": [department.pk],
            "canned-replies": [canned.pk],
            "staff": [support.pk],
            "billing-runs": [run.pk],
        }
        references = {
            "customer": [customer.pk],
            "product": [shop.basic, shop.pro],
            "addon": [shop.backups],
            "addons": [[shop.backups]],
            "invoice": [issued.pk, paid.pk],
            "line_id": list(issued.lines.values_list("pk", flat=True)),
            "tax_class": ["standard"],
            "tax_class_code": ["standard"],
            "department": [department.pk],
            "assignee": [support.pk],
            "referer_code": ["partner1"],
            "country": ["FR"],
            "currency": ["EUR"],
        }
    return Target(info.host, _token(info.schema_name, info.owner), ids=ids, references=references)


def _load(target: Target):
    """The schema as the instance serves it to its staff."""
    connection.set_schema_to_public()
    return schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json",
        application,
        config=CONFIG,
        base_url=f"http://{target.host}",
        headers=target.headers("/api/schema/"),
    )


@pytest.fixture
def acme_target(instance_a) -> Target:
    return _seed_instance(instance_a)


@pytest.fixture
def acme_api_schema(acme_target):
    return _load(acme_target)


@pytest.fixture
def operator_target(operator, instance_a) -> Target:
    """The operator's own instance seeded like acme, plus resellers and an escalation of
    acme's through the inbox API."""
    target = _seed_instance(operator)
    reseller = Reseller.objects.get(slug=instance_a.slug)
    target.inbox_key = inbox.inbox_token_create(reseller=reseller)[1]
    escalation = inbox.external_escalation_open(
        reseller=reseller, external_ref="T-1", subject="Mail bounces", body="Since 8:00."
    )
    target.ids |= {"resellers": ["acme", "bluebird"], "escalations": [escalation.pk]}
    return target


@pytest.fixture
def operator_api_schema(operator_target):
    return _load(operator_target)


PATH_PARAMETER = re.compile(r"([^/{}]+)/\{([^}]+)\}")


def _aim(case, target: Target) -> None:
    """Point ids and references at seeded objects, three times in four.

    The choices follow from what was generated (no Hypothesis draw: schemathesis runs its
    coverage phase only for tests without extra strategies), so a run stays reproducible.
    """
    generated = json.dumps(
        [case.operation.label, case.path_parameters, case.query, _plain(case.body)],
        sort_keys=True,
        default=repr,
    )
    rng = random.Random(generated)

    def pick(seeded: list):
        return rng.choice(seeded) if seeded and rng.random() < 0.75 else None

    for resource, name in PATH_PARAMETER.findall(case.operation.path):
        chosen = pick(target.ids.get(resource, []))
        if chosen is not None and name in (case.path_parameters or {}):
            case.path_parameters[name] = chosen

    def walk(value):
        if isinstance(value, dict):
            for key in list(value):
                chosen = pick(target.references.get(key, []))
                if chosen is not None:
                    value[key] = chosen
                else:
                    walk(value[key])
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(case.body)


def _plain(body):
    """The generated body as data (a missing body has no stable repr)."""
    return None if isinstance(body, NotSet) else body


def _exercise(case, target: Target) -> None:
    """One example: aimed, sent through the WSGI application, rolled back, checked."""
    _aim(case, target)
    cache.clear()  # API throttles count in the cache: every example starts with a whole allowance
    # Whatever the last example left, the routing middleware must set the schema itself.
    connection.set_schema_to_public()
    with transaction.atomic():
        try:
            response = case.call(
                base_url=f"http://{target.host}", headers=target.headers(case.operation.path)
            )
        finally:
            transaction.set_rollback(True)  # nothing an example writes outlives it
    connection.set_schema_to_public()
    case.validate_response(response, checks=CHECKS)


acme_schema = schemathesis.pytest.from_fixture("acme_api_schema")
operator_schema = schemathesis.pytest.from_fixture("operator_api_schema")


@acme_schema.parametrize()
@FUZZ_SETTINGS
def test_every_operation_of_an_instance_answers_as_its_schema_says(case, acme_target):
    _exercise(case, acme_target)


@operator_schema.parametrize()
@FUZZ_SETTINGS
def test_every_operation_of_the_operators_domain_answers_as_its_schema_says(case, operator_target):
    _exercise(case, operator_target)
