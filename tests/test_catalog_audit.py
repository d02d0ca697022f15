"""Catalog and referer writes in the instance's audit trail: one event each, with the old
and new values (prices and add-ons included) and who made the change."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django_tenants.utils import schema_context

from tenant_apps.catalog import services as catalog
from tenant_apps.catalog.models import TaxClass
from tenant_apps.instance.models import AuditEvent
from tenant_apps.instance.selectors import audit_event_list, audit_events_for
from tenant_apps.referrals import services as referrals
from tenant_apps.referrals.models import Referer
from tests.conftest import client_for
from tests.test_catalog_services import EUR_ANNUAL, EUR_MONTHLY, AddonFactory


@pytest.fixture
def in_a(instance_a):
    with schema_context(instance_a.schema_name):
        yield


def test_product_writes_record_prices_addons_and_status_with_the_actor(instance_a, in_a):
    owner = get_user_model().objects.get(email=instance_a.owner)
    standard = TaxClass.objects.get(code="standard")
    backup = AddonFactory(code="backup")
    product = catalog.product_create(
        code="web-s",
        name="Web S",
        kind="plan",
        tax_class=standard,
        prices=[EUR_MONTHLY],
        actor=owner,
    )
    catalog.product_update(product=product, name="Web Small", addons=[backup], actor=owner)
    catalog.product_set_prices(product=product, prices=[EUR_MONTHLY, EUR_ANNUAL], actor=owner)
    catalog.product_archive(product=product, actor=owner)
    catalog.product_archive(product=product, actor=owner)  # already archived: nothing to record

    created, updated, prices, archived = reversed(audit_events_for(product))
    assert created.action == "product.created" and created.actor == owner
    assert created.changes["code"] == [None, "web-s"]
    assert created.changes["prices"] == [None, ["EUR monthly 9.90 (setup 0.00)"]]
    assert updated.changes == {"name": ["Web S", "Web Small"], "addons": [[], ["backup"]]}
    assert prices.action == "product.prices_changed"
    assert prices.changes["prices"][1] == [
        "EUR annual 99.00 (setup 5.00)",
        "EUR monthly 9.90 (setup 0.00)",
    ]
    assert archived.action == "product.archived"
    assert archived.changes == {"is_active": [True, False]}


def test_a_refused_product_write_records_nothing(in_a):
    events = AuditEvent.objects.count()
    with pytest.raises(ValidationError):
        catalog.product_create(code="", name="", kind="plan", tax_class=None)
    assert AuditEvent.objects.count() == events


def test_tax_class_changes_are_recorded_with_old_and_new_values(in_a):
    reduced = catalog.tax_class_create(code="reduced", name="Reduced", actor="import")
    catalog.tax_class_update(tax_class=reduced, name="Reduced rate", actor="import")

    assert [(e.action, e.changes) for e in reversed(audit_events_for(reduced))] == [
        ("taxclass.created", {"code": [None, "reduced"], "name": [None, "Reduced"]}),
        ("taxclass.updated", {"name": ["Reduced", "Reduced rate"]}),
    ]


def test_referer_writes_through_the_screens_record_the_staff_member(instance_a):
    owner = client_for(instance_a, instance_a.owner)
    owner.post("/staff/referrals/new/", {"code": "partner9", "name": "Partner Nine"})
    with schema_context(instance_a.schema_name):
        referer = Referer.objects.get(code="partner9")
        referrals.referer_deactivate(referer=referer, actor="cleanup")

        trail = [(e.action, e.actor_label) for e in reversed(audit_events_for(referer))]
    assert trail == [("referer.created", instance_a.owner), ("referer.deactivated", "cleanup")]


def test_the_audit_trail_of_one_instance_is_not_written_by_another(instance_a, instance_b):
    with schema_context(instance_b.schema_name):
        catalog.tax_class_create(code="b-only", name="B only")
    with schema_context(instance_a.schema_name):
        assert not audit_event_list(action="taxclass.created").filter(object_label="B only")
