"""The operator bills resellers with the same engine: a reseller plan provisions, suspends
and resumes a reseller instance, and the reseller sees the operator's invoices read-only."""

import datetime

import pytest
from django_tenants.utils import schema_exists

from shared_apps.tenancy.models import Allocation, Reseller
from tenant_apps.billing import services as billing
from tenant_apps.orders import services
from tenant_apps.orders.models import Service
from tenant_apps.recurring import services as runs
from tests.billing_fixtures import dunning_settings, make_customer, make_product, setup_issuer
from tests.conftest import client_for

DAY0 = datetime.date(2026, 1, 10)


@pytest.fixture
def plan_sold(operator, django_capture_on_commit_callbacks):
    setup_issuer("FR")
    dunning_settings()
    plan = make_product(
        "reseller-pro",
        amount="200.00",
        is_reseller_plan=True,
        resources={"disk_gb": 500, "hosting_accounts": 50},
    )
    customer = make_customer(
        "Newco Hosting", kind="company", company_name="Newco Hosting SAS", email="boss@newco.test"
    )
    order = services.order_place(
        customer=customer, items=[{"product": plan, "cycle": "monthly", "label": "newco"}]
    )
    with django_capture_on_commit_callbacks(execute=True):
        invoice = services.order_accept(order=order, today=DAY0)
    customer.refresh_from_db()
    return customer, invoice


def test_ordering_a_reseller_plan_provisions_the_instance_with_its_allocations(plan_sold):
    customer, invoice = plan_sold
    reseller = Reseller.objects.get(slug="newco")
    assert customer.reseller_id == reseller.pk and schema_exists("r_newco")
    assert Allocation.objects.get(reseller=reseller, resource_id="disk_gb").quantity == 500
    assert invoice.number and invoice.customer == customer  # the operator's own invoice


def test_the_reseller_sees_the_operators_invoice_read_only(plan_sold, instance_a):
    _, invoice = plan_sold
    from tests.conftest import InstanceInfo

    owner = "boss@newco.test"  # the customer's e-mail became the new instance's owner
    newco = InstanceInfo("r_newco", "newco.upline.localhost", owner, owner, owner, slug="newco")
    page = client_for(newco, owner).get("/staff/supplier-bills/")
    assert invoice.number.encode() in page.content
    detail = client_for(newco, owner).get(f"/staff/supplier-bills/{invoice.pk}/")
    assert detail.status_code == 200 and b"RESELLER-PRO" in detail.content
    # Another reseller cannot read it, even by id.
    assert (
        client_for(instance_a, instance_a.owner)
        .get(f"/staff/supplier-bills/{invoice.pk}/")
        .status_code
        == 404
    )
    assert (
        invoice.number.encode()
        not in client_for(instance_a, instance_a.owner).get("/staff/supplier-bills/").content
    )


def test_nonpayment_suspends_the_reseller_and_payment_resumes_it(
    plan_sold, django_capture_on_commit_callbacks
):
    customer, invoice = plan_sold
    with django_capture_on_commit_callbacks(execute=True):
        runs.dunning_run(today=invoice.due_date + datetime.timedelta(days=21))
    assert Reseller.objects.get(slug="newco").status == "suspended"
    assert Service.objects.get(customer=customer).status == "suspended"
    with django_capture_on_commit_callbacks(execute=True):
        billing.payment_record(
            customer=customer, invoice=invoice, amount=invoice.total, method="bank_transfer"
        )
    assert Reseller.objects.get(slug="newco").status == "active"


def test_billing_is_the_actor_in_the_operators_trail_when_nonpayment_suspends_a_reseller(
    plan_sold, django_capture_on_commit_callbacks
):
    from tenant_apps.instance.selectors import audit_event_list

    _, invoice = plan_sold
    reseller = Reseller.objects.get(slug="newco")
    created = audit_event_list(
        object_type="reseller", object_id=str(reseller.pk), action="reseller.created"
    ).get()
    assert created.actor_label == "billing" and created.actor is None
    with django_capture_on_commit_callbacks(execute=True):
        runs.dunning_run(today=invoice.due_date + datetime.timedelta(days=21))
    suspended = audit_event_list(
        object_type="reseller", object_id=str(reseller.pk), action="reseller.suspended"
    ).get()
    assert suspended.actor_label == "billing"
    assert suspended.changes == {"status": ["active", "suspended"]}


@pytest.mark.parametrize("label, message", [("", "slug"), ("www", "reserved"), ("acme", "taken")])
def test_a_reseller_plan_needs_a_free_valid_instance_name_when_ordered(
    operator, instance_a, label, message
):
    from django.core.exceptions import ValidationError

    from tenant_apps.orders.models import Order

    setup_issuer("FR")
    plan = make_product(
        "reseller-pro", amount="200.00", is_reseller_plan=True, resources={"disk_gb": 5}
    )
    customer = make_customer("Newco Hosting", kind="company", company_name="Newco SAS")
    with pytest.raises(ValidationError) as exc:
        services.order_place(
            customer=customer, items=[{"product": plan, "cycle": "monthly", "label": label}]
        )
    assert message in " ".join(exc.value.message_dict["label"]).lower()
    assert not Order.objects.exists()


# --------------------------------------------------------------------------------------
# Issue 9, defect 2: a reseller's plans are a set


def _second_plan(customer, capture, *, code="reseller-extra", disk=200):
    extra = make_product(code, amount="50.00", is_reseller_plan=True, resources={"disk_gb": disk})
    order = services.order_place(
        customer=customer, items=[{"product": extra, "cycle": "monthly", "label": "newco"}]
    )
    with capture(execute=True):
        invoice = services.order_accept(order=order, today=DAY0)
    return Service.objects.get(order_item__order=order), invoice


def _disk(slug="newco"):
    return Allocation.objects.get(reseller__slug=slug, resource_id="disk_gb").quantity


def test_the_allocation_is_the_sum_of_the_live_plans(plan_sold, django_capture_on_commit_callbacks):
    customer, _ = plan_sold
    extra, _ = _second_plan(customer, django_capture_on_commit_callbacks)
    assert _disk() == 500 + 200
    # Changing one plan changes its share only, never the whole allocation to its amounts.
    bigger = make_product(
        "reseller-extra-xl", amount="80.00", is_reseller_plan=True, resources={"disk_gb": 300}
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.service_change_plan(
            service=extra, product=bigger, today=DAY0 + datetime.timedelta(days=1)
        )
    assert _disk() == 500 + 300
    # Cancelling one plan removes its share; the instance lives on with the other.
    with django_capture_on_commit_callbacks(execute=True):
        services.service_cancel(service=extra, immediately=True)
    assert _disk() == 500
    assert Reseller.objects.get(slug="newco").status == "active"


def test_paying_one_plan_does_not_resume_an_instance_still_unpaid_on_another(
    plan_sold, django_capture_on_commit_callbacks
):
    customer, first_invoice = plan_sold
    extra, extra_invoice = _second_plan(customer, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        runs.dunning_run(today=extra_invoice.due_date + datetime.timedelta(days=21))
    assert Reseller.objects.get(slug="newco").status == "suspended"

    with django_capture_on_commit_callbacks(execute=True):
        billing.payment_record(
            customer=customer, invoice=first_invoice, amount=first_invoice.total, method="cash"
        )
    assert Reseller.objects.get(slug="newco").status == "suspended"

    with django_capture_on_commit_callbacks(execute=True):
        billing.payment_record(
            customer=customer, invoice=extra_invoice, amount=extra_invoice.total, method="cash"
        )
    assert Reseller.objects.get(slug="newco").status == "active"


def test_a_suspension_made_in_the_console_is_not_lifted_by_a_payment(
    plan_sold, django_capture_on_commit_callbacks
):
    from shared_apps.tenancy.services import reseller_suspend

    customer, invoice = plan_sold
    reseller_suspend(
        reseller=Reseller.objects.get(slug="newco"), reason="Abuse report", actor="console"
    )
    with django_capture_on_commit_callbacks(execute=True):
        billing.payment_record(
            customer=customer, invoice=invoice, amount=invoice.total, method="cash"
        )
    reseller = Reseller.objects.get(slug="newco")
    assert reseller.status == "suspended" and reseller.status_reason == "Abuse report"


def test_cancelling_the_last_plan_suspends_the_instance_and_never_terminates_it(
    plan_sold, django_capture_on_commit_callbacks
):
    customer, _ = plan_sold
    plan = Service.objects.get(customer=customer)
    with django_capture_on_commit_callbacks(execute=True):
        services.service_terminate(service=plan, reason="Contract ended")
    reseller = Reseller.objects.get(slug="newco")
    assert reseller.status == "suspended" and schema_exists("r_newco")
    assert "export the instance" in reseller.status_reason
