"""Renewals and dunning running at the same time in one instance: no deadlock, no double
document, numbers still gap-free (the lock order of `tenant_apps.instance.locking`).

Runs on committed rows in a throw-away instance, which is dropped at the end: every step
runs in a thread of its own (its own connection, autocommit), outside the test's
rolled-back transaction, so the racing threads see what the set-up wrote.
"""

from __future__ import annotations

import datetime
import threading
import time
from decimal import Decimal

import pytest
from django.db import close_old_connections, connection
from django.db.models import Count
from django_tenants.utils import schema_context

from provisioning import schemas
from shared_apps.tenancy.models import Reseller
from shared_apps.tenancy.services import reseller_create
from tenant_apps.billing import services as billing
from tenant_apps.billing.models import Invoice, InvoiceLine
from tenant_apps.catalog.models import BillingCycle
from tenant_apps.orders.models import Service
from tenant_apps.recurring import services as runs
from tenant_apps.recurring.models import BillingRun
from tests.billing_fixtures import make_customer, make_product, setup_issuer

SCHEMA = "r_run_race"
TODAY = datetime.date(2026, 11, 30)
CUSTOMERS = 30


def _arrange() -> list[int]:
    """Per customer: an active service due within the renewal lead time AND an invoice for
    that service 16 days overdue — so both runs want the same services and numbers."""
    setup_issuer("FR")
    billing.billing_settings_update(
        reminder_days=[1],
        late_fee_amount=Decimal("5.00"),
        late_fee_after_days=1,
        suspend_after_days=2,
        terminate_after_days=None,
    )
    product = make_product("race-vps", amount="10.00")
    service_ids = []
    for n in range(CUSTOMERS):
        customer = make_customer(f"Racer{n} Test")
        service = Service.objects.create(
            customer=customer,
            product=product,
            status=Service.Status.ACTIVE,
            cycle=BillingCycle.MONTHLY,
            currency="EUR",
            recurring_amount=Decimal("10.00"),
            next_due_date=TODAY + datetime.timedelta(days=3),
            invoiced_period_start=TODAY - datetime.timedelta(days=28),
        )
        draft = billing.invoice_create_draft(
            customer=customer,
            lines=[
                billing.LineSpec(
                    description="VPS, last month",
                    unit_price=Decimal("10.00"),
                    kind=InvoiceLine.Kind.SERVICE,
                    service_id=service.pk,
                    period_start=TODAY - datetime.timedelta(days=28),
                    period_end=TODAY + datetime.timedelta(days=2),
                )
            ],
        )
        billing.invoice_issue(invoice=draft, issue_date=TODAY - datetime.timedelta(days=30))
        service_ids.append(service.pk)
    return service_ids


def in_thread(function, *args):
    """Run `function` on a connection of its own and return its result (or raise)."""
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = function(*args)
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc
        finally:
            close_old_connections()
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=300)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def _in_race_schema(function):
    def run():
        with schema_context(SCHEMA):
            return function()

    return run


DUNNING_HOLDS_A_NUMBER = threading.Event()


def _run_together() -> list[BaseException]:
    errors: list[BaseException] = []
    DUNNING_HOLDS_A_NUMBER.clear()

    def run(function):
        try:
            with schema_context(SCHEMA):
                if function is runs.renewals_run:
                    DUNNING_HOLDS_A_NUMBER.wait(timeout=30)
                function(today=TODAY, triggered_by="race")
        except BaseException as exc:  # collected and asserted by the test
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [
        threading.Thread(target=run, args=(runs.renewals_run,)),
        threading.Thread(target=run, args=(runs.dunning_run,)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def _create_instance() -> None:
    reseller_create(
        slug="run-race",
        name="Run Race",
        legal_name="Run Race Ltd",
        owner_email="boss@run-race.test",
        method="template",
    )


def _drop_instance() -> None:
    Reseller.objects.filter(slug="run-race").delete()
    schemas.schema_drop(SCHEMA)


@pytest.fixture
def race_instance(db, monkeypatch):
    # PDFs and mail are not what this test is about (and would take seconds).
    monkeypatch.setattr("tenant_apps.billing.tasks.documents_finalise_later", lambda *a: None)
    # The race, made to happen every time: renewals start while dunning, in the middle of
    # its first overdue invoice, holds the late fee's number and is about to suspend the
    # service. Taken in the wrong order (number, then service), renewals would lock that
    # service and wait for the number while dunning waits for the service: a deadlock.
    from tenant_apps.orders import services as order_services

    suspend = order_services.service_suspend

    def slow_suspend(**kwargs):
        if not DUNNING_HOLDS_A_NUMBER.is_set():
            DUNNING_HOLDS_A_NUMBER.set()
            time.sleep(0.3)
        return suspend(**kwargs)

    monkeypatch.setattr(order_services, "service_suspend", slow_suspend)
    in_thread(_create_instance)
    try:
        yield
    finally:
        in_thread(_drop_instance)


def test_renewals_and_dunning_together_finish_without_deadlock_or_double_documents(
    race_instance,
):
    service_ids = in_thread(_in_race_schema(_arrange))
    errors = _run_together()
    assert not errors, errors
    in_thread(_in_race_schema(lambda: _check(service_ids)))


def _check(service_ids: list[int]) -> None:
    assert set(BillingRun.objects.values_list("status", flat=True)) == {"done"}
    # Whatever renewals skipped while dunning held a service, the next pass takes.
    runs.renewals_run(today=TODAY, triggered_by="race")
    renewal_lines = (
        InvoiceLine.objects.filter(
            service_id__in=service_ids,
            kind=InvoiceLine.Kind.SERVICE,
            period_start=TODAY + datetime.timedelta(days=3),
        )
        .values("service_id")
        .annotate(n=Count("id"))
    )
    assert sorted(row["n"] for row in renewal_lines) == [1] * CUSTOMERS
    overdue = Invoice.objects.filter(issue_date=TODAY - datetime.timedelta(days=30))
    assert overdue.count() == CUSTOMERS
    assert all(invoice.late_fee_invoice_id for invoice in overdue)
    assert InvoiceLine.objects.filter(kind=InvoiceLine.Kind.LATE_FEE).count() == CUSTOMERS
    assert Service.objects.filter(status=Service.Status.SUSPENDED).count() == CUSTOMERS
    numbers = sorted(Invoice.objects.exclude(number="").values_list("number", flat=True))
    # 30 overdue invoices + 30 renewals + 30 late fees, gap-free and never twice.
    assert len(numbers) == len(set(numbers)) == 3 * CUSTOMERS
    sequence = sorted(int(number.rsplit("-", 1)[1]) for number in numbers)
    assert sequence == list(range(1, 3 * CUSTOMERS + 1))

    documents = Invoice.objects.count()
    runs.renewals_run(today=TODAY, triggered_by="race")
    runs.dunning_run(today=TODAY, triggered_by="race")
    assert Invoice.objects.count() == documents
