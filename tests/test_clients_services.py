"""Customer services: validation, tax ids and VIES outcomes, updates, closing, invitations.

Also contacts, selectors and the periodic VAT re-check; all inside a real instance schema.
"""

from __future__ import annotations

import io
import urllib.error
import urllib.request
from decimal import Decimal

import factory
import pytest
from django.core.exceptions import ValidationError
from django_tenants.utils import schema_context

from tenant_apps.accounts.models import Role, User
from tenant_apps.billing.models import Invoice
from tenant_apps.catalog.models import Product, TaxClass
from tenant_apps.clients import services
from tenant_apps.clients.models import Contact, Customer
from tenant_apps.clients.selectors import customer_for_user, customer_list, get_customer_for
from tenant_apps.clients.tasks import tax_ids_recheck
from tenant_apps.clients.tax_ids import normalise_tax_id
from tenant_apps.instance.selectors import audit_event_list
from tenant_apps.orders.models import Service
from tests.test_clients_vies import (
    INVALID,
    UNREACHABLE,
    VALID,
    ValidChecker,
    fault,
    use_vat_checker,
)


class CustomerFactory(factory.django.DjangoModelFactory):
    """A plain customer row (no services involved); call inside an instance's schema."""

    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"Customer {n}")
    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    country = "FR"
    currency = "EUR"


@pytest.fixture(autouse=True)
def vies_confirms(settings):
    """Every test talks to a fake registry unless it picks another one."""
    use_vat_checker(VALID)
    ValidChecker.calls = []


@pytest.fixture
def in_a(instance_a):
    with schema_context(instance_a.schema_name):
        yield instance_a


def company(**overrides):
    fields = {
        "kind": "company",
        "name": "Jeanne Martin",
        "company_name": "Odigo SA",
        "email": "billing@odigo.example",
        "country": "FR",
        "currency": "EUR",
        "tax_id": "FR 40 303 265 045",
    }
    fields.update(overrides)
    return services.customer_create(**fields)


# --------------------------------------------------------------------------------------
# Tax id normalisation (no database)


@pytest.mark.parametrize(
    "raw, country, stored",
    [
        ("FR 40 303 265 045", "FR", "FR40303265045"),
        ("fr40303265045", "FR", "FR40303265045"),
        ("40303265045", "FR", "FR40303265045"),
        ("U57194903", "AT", "ATU57194903"),
        ("GR 094259216", "GR", "EL094259216"),
        ("094259216", "GR", "EL094259216"),
        ("XI 980 7806 84", "GB", "XI980780684"),
        ("12-3456789", "US", "123456789"),
    ],
)
def test_tax_ids_are_stored_in_their_compact_form(raw, country, stored):
    assert normalise_tax_id(raw, country).value == stored


@pytest.mark.parametrize(
    "raw, country, message",
    [
        ("FR123", "FR", "not a valid VAT id for France"),
        ("DE136695976", "FR", "starts with DE"),
        ("CHE-123.456.789", "CH", "not a valid tax id for Switzerland"),
    ],
)
def test_malformed_tax_ids_are_refused_with_a_sentence(raw, country, message):
    with pytest.raises(ValidationError, match=message):
        normalise_tax_id(raw, country)


# --------------------------------------------------------------------------------------
# Create


def test_person_without_tax_id_has_tax_status_none(in_a):
    customer = services.customer_create(name="Ann Lee", email="ann@example.com", country="BE")

    assert customer.tax_id == ""
    assert customer.tax_id_status == Customer.TaxIdStatus.NONE
    assert ValidChecker.calls == []


def test_currency_defaults_to_the_instances_own(in_a):
    customer = services.customer_create(name="Ann Lee", email="ann@example.com", country="BE")
    assert customer.currency == "EUR"


def test_eu_vat_id_is_stored_compact_and_confirmed_by_vies(in_a):
    customer = company()

    customer.refresh_from_db()
    assert customer.tax_id == "FR40303265045"
    assert ValidChecker.calls == [("FR", "40303265045")]
    assert customer.tax_id_status == Customer.TaxIdStatus.VALID
    assert customer.tax_id_checked_at is not None
    assert "ODIGO SA" in customer.tax_id_check_detail
    assert "3 RUE DU COLONEL MOLL, 75017 PARIS" in customer.tax_id_check_detail
    assert "WAPIAAAAZ1234" in customer.tax_id_check_detail
    assert customer.is_business


def test_vat_id_vies_rejects_is_stored_invalid(in_a, settings):
    use_vat_checker(INVALID)
    customer = company()

    assert customer.tax_id_status == Customer.TaxIdStatus.INVALID
    assert customer.tax_id_checked_at is not None
    assert "not valid" in customer.tax_id_check_detail
    assert not customer.is_business


def test_vat_id_stays_unverified_with_a_retry_note_when_vies_is_unreachable(in_a, settings):
    use_vat_checker(UNREACHABLE)
    customer = company()

    assert Customer.objects.filter(pk=customer.pk).exists()
    assert customer.tax_id_status == Customer.TaxIdStatus.UNVERIFIED
    assert customer.tax_id_checked_at is not None
    assert customer.tax_id_check_detail.startswith("VIES unreachable at ")
    assert "will retry" in customer.tax_id_check_detail


def test_real_client_fault_from_vies_leaves_the_vat_id_unverified(in_a, settings, monkeypatch):
    use_vat_checker("tenant_apps.clients.vies.ViesClient")

    def registry_down(request, timeout=None):
        raise urllib.error.HTTPError(request.full_url, 500, "", {}, io.BytesIO(fault("TIMEOUT")))

    monkeypatch.setattr(urllib.request, "urlopen", registry_down)
    customer = company()

    assert customer.tax_id_status == Customer.TaxIdStatus.UNVERIFIED
    assert "TIMEOUT" in customer.tax_id_check_detail


def test_non_eu_tax_id_is_format_checked_but_never_sent_to_vies(in_a):
    customer = company(country="US", tax_id="12-3456789")

    assert customer.tax_id == "123456789"
    assert customer.tax_id_status == Customer.TaxIdStatus.UNVERIFIED
    assert "not checked against a registry" in customer.tax_id_check_detail
    assert ValidChecker.calls == []


@pytest.mark.parametrize(
    "change, field",
    [
        ({"currency": "XYZ"}, "currency"),
        ({"tax_id": "FR123"}, "tax_id"),
        ({"company_name": ""}, "company_name"),
        ({"country": ""}, "country"),
        ({"email": "not-an-address"}, "email"),
        ({"name": "  "}, "name"),
    ],
)
def test_bad_input_is_a_field_error_and_writes_nothing(in_a, change, field):
    before = Customer.objects.count()
    with pytest.raises(ValidationError) as error:
        company(**change)

    assert field in error.value.message_dict
    assert Customer.objects.count() == before
    assert ValidChecker.calls == []


def test_every_problem_is_reported_at_once(in_a):
    with pytest.raises(ValidationError) as error:
        company(currency="XYZ", company_name="", country="")
    assert {"currency", "company_name", "country"} <= set(error.value.message_dict)


def test_customer_and_contacts_are_created_together(in_a):
    customer = company(
        contacts=[
            {"name": "Paul Accounts", "email": "paul@odigo.example", "receives_invoices": True},
            {"name": "Tina Tech", "email": "tina@odigo.example", "role": "Technical"},
        ]
    )
    assert [c.name for c in customer.contacts.all()] == ["Paul Accounts", "Tina Tech"]
    assert audit_event_list(customer_id=customer.pk).get().action == "customer.created"


def test_a_bad_contact_refuses_the_whole_customer(in_a):
    before = Customer.objects.count()
    with pytest.raises(ValidationError) as error:
        company(contacts=[{"name": "Paul", "email": "nope"}])

    assert "Contact 1" in error.value.message_dict["contacts"][0]
    assert Customer.objects.count() == before


# --------------------------------------------------------------------------------------
# Update


def test_changing_the_vat_id_asks_vies_again(in_a, settings):
    customer = company()
    use_vat_checker(INVALID)

    updated = services.customer_update(customer=customer, tax_id="FR 61 954 506 077")

    assert updated.tax_id == "FR61954506077"
    assert updated.tax_id_status == Customer.TaxIdStatus.INVALID


def test_saving_the_same_vat_id_retyped_does_not_ask_vies(in_a):
    customer = company()
    ValidChecker.calls = []

    updated = services.customer_update(customer=customer, tax_id="fr40-303-265-045", city="Lyon")

    assert ValidChecker.calls == []
    assert updated.city == "Lyon"
    assert updated.tax_id_status == Customer.TaxIdStatus.VALID


def test_removing_the_tax_id_sets_status_none(in_a):
    customer = company(kind="person", company_name="")
    updated = services.customer_update(customer=customer, tax_id="")

    assert updated.tax_id_status == Customer.TaxIdStatus.NONE
    assert updated.tax_id_check_detail == ""


def test_update_never_writes_back_a_stale_credit_balance(in_a):
    customer = CustomerFactory()
    # Billing credits the customer after this screen loaded it.
    Customer.objects.filter(pk=customer.pk).update(credit_balance=Decimal("42.50"))

    services.customer_update(customer=customer, city="Nantes")

    assert Customer.objects.get(pk=customer.pk).credit_balance == Decimal("42.50")


def test_update_with_bad_input_changes_nothing(in_a):
    customer = CustomerFactory(city="Paris")
    with pytest.raises(ValidationError) as error:
        services.customer_update(customer=customer, city="Lille", currency="XYZ")

    assert "currency" in error.value.message_dict
    assert Customer.objects.get(pk=customer.pk).city == "Paris"


def test_switching_to_company_requires_a_company_name(in_a):
    customer = CustomerFactory()
    with pytest.raises(ValidationError) as error:
        services.customer_update(customer=customer, kind="company")
    assert "company_name" in error.value.message_dict


def test_update_records_which_fields_changed(in_a):
    customer = CustomerFactory()
    services.customer_update(customer=customer, city="Nantes", phone="+33 1 23", actor="me@a")

    event = audit_event_list(customer_id=customer.pk).get(action="customer.updated")
    assert event.detail["fields"] == ["phone", "city"]
    assert event.actor_label == "me@a"


# --------------------------------------------------------------------------------------
# Verify again


def test_verify_confirms_an_unverified_id_once_vies_answers(in_a, settings):
    use_vat_checker(UNREACHABLE)
    customer = company()
    use_vat_checker(VALID)

    checked = services.customer_tax_id_verify(customer=customer)

    assert checked.tax_id_status == Customer.TaxIdStatus.VALID
    assert "ODIGO SA" in checked.tax_id_check_detail


def test_verify_keeps_the_last_answer_when_vies_is_down(in_a, settings):
    customer = company()
    use_vat_checker(UNREACHABLE)

    checked = services.customer_tax_id_verify(customer=customer)

    assert checked.tax_id_status == Customer.TaxIdStatus.VALID
    assert checked.tax_id_check_detail.startswith("VIES unreachable at ")
    assert "ODIGO SA" in checked.tax_id_check_detail


def test_verify_refuses_ids_vies_does_not_know(in_a):
    customer = company(country="US", tax_id="12-3456789")
    with pytest.raises(ValidationError) as error:
        services.customer_tax_id_verify(customer=customer)
    assert "tax_id" in error.value.message_dict


def test_periodic_recheck_settles_unverified_vat_ids(instance_a, settings):
    use_vat_checker(UNREACHABLE)
    with schema_context(instance_a.schema_name):
        pk = company().pk
    use_vat_checker(VALID)

    assert tax_ids_recheck(schema_name=instance_a.schema_name) == 1
    with schema_context(instance_a.schema_name):
        assert Customer.objects.get(pk=pk).tax_id_status == Customer.TaxIdStatus.VALID


# --------------------------------------------------------------------------------------
# Close


def test_closing_keeps_the_customer_and_marks_it_closed(in_a):
    customer = CustomerFactory()
    services.customer_close(customer=customer)

    assert Customer.objects.get(pk=customer.pk).status == Customer.Status.CLOSED
    with pytest.raises(ValidationError, match="already closed"):
        services.customer_close(customer=customer)


def test_closing_is_refused_while_a_service_is_running(in_a):
    customer = CustomerFactory()
    product = Product.objects.create(
        code="web-basic", name="Web basic", tax_class=TaxClass.objects.first()
    )
    Service.objects.create(
        customer=customer,
        product=product,
        status="active",
        cycle="monthly",
        currency="EUR",
        recurring_amount=Decimal("5.00"),
    )
    with pytest.raises(ValidationError, match="1 service running"):
        services.customer_close(customer=customer)
    assert Customer.objects.get(pk=customer.pk).status == Customer.Status.ACTIVE


def test_closing_is_refused_while_an_invoice_is_unpaid(in_a):
    customer = CustomerFactory()
    Invoice.objects.create(customer=customer, currency="EUR", status="issued", number="T-1")
    with pytest.raises(ValidationError, match="1 unpaid invoice"):
        services.customer_close(customer=customer)


def test_a_closed_customer_can_be_reopened(in_a):
    customer = services.customer_close(customer=CustomerFactory())
    assert services.customer_reopen(customer=customer).status == Customer.Status.ACTIVE


# --------------------------------------------------------------------------------------
# Portal invitation


def test_invite_creates_a_customer_login_and_mails_a_link_on_commit(
    in_a, mailoutbox, django_capture_on_commit_callbacks
):
    customer = CustomerFactory(email="Zoe@Example.com", name="Zoe")
    with django_capture_on_commit_callbacks(execute=True):
        user = services.customer_portal_invite(customer=customer, domain=in_a.host, use_https=True)

    assert user.role == Role.CUSTOMER and user.email == "zoe@example.com"
    assert not user.has_usable_password()
    assert Customer.objects.get(pk=customer.pk).user == user
    assert customer_for_user(user).pk == customer.pk
    assert mailoutbox[0].to == ["zoe@example.com"]
    # Changed: the link is on the instance's configured public address (http in tests,
    # UPLINE_HTTPS off), like every other e-mail's links, not the inviting request's scheme.
    assert f"http://{in_a.host}/accounts/reset/" in mailoutbox[0].body
    # An invitation, not a password reset nobody asked for.
    assert mailoutbox[0].subject.startswith("You are invited to")
    assert "An account was opened for you" in mailoutbox[0].body
    assert "reset" not in mailoutbox[0].subject.lower()


def test_invite_is_refused_when_the_email_already_has_a_login(in_a, mailoutbox):
    customer = CustomerFactory(email=in_a.support)
    with pytest.raises(ValidationError) as error:
        services.customer_portal_invite(customer=customer, domain=in_a.host, use_https=False)

    assert "already has a login" in error.value.message_dict["email"][0]
    assert Customer.objects.get(pk=customer.pk).user is None
    assert mailoutbox == []


def test_invite_is_refused_twice(in_a):
    customer = CustomerFactory()
    services.customer_portal_invite(customer=customer, domain=in_a.host, use_https=False)
    with pytest.raises(ValidationError, match="already sign in"):
        services.customer_portal_invite(customer=customer, domain=in_a.host, use_https=False)


# --------------------------------------------------------------------------------------
# Contacts


def test_contacts_are_added_changed_and_removed(in_a):
    customer = CustomerFactory()
    contact = services.contact_add(customer=customer, name="Paul", email="paul@example.com")
    services.contact_update(contact=contact, role="Accounts", receives_invoices=True)

    assert Contact.objects.get(pk=contact.pk).receives_invoices is True
    services.contact_remove(contact=contact)
    assert not customer.contacts.exists()
    assert list(audit_event_list(customer_id=customer.pk).values_list("action", flat=True)) == [
        "contact.removed",
        "contact.updated",
        "contact.added",
    ]


def test_contact_needs_a_valid_email(in_a):
    customer = CustomerFactory()
    with pytest.raises(ValidationError) as error:
        services.contact_add(customer=customer, name="Paul", email="paul-at-example")
    assert "email" in error.value.message_dict
    assert not Contact.objects.filter(customer=customer).exists()


# --------------------------------------------------------------------------------------
# Selectors


def test_search_matches_company_email_tax_id_and_contacts(in_a):
    odigo = company()
    services.contact_add(customer=odigo, name="Paul", email="paul@accounts.example")
    CustomerFactory(name="Someone Else")

    for text in ("odigo", "billing@odigo", "FR4030", "accounts.example"):
        assert list(customer_list(search=text)) == [odigo], text


def test_filters_by_status_kind_and_country(in_a):
    odigo = company()
    CustomerFactory(country="BE", status="closed")

    assert list(customer_list(kind="company")) == [odigo]
    assert [c.country.code for c in customer_list(status="closed")] == ["BE"]
    assert list(customer_list(country="fr", status="active")) == [odigo]


def test_customer_user_fetches_only_their_own_record(in_a):
    own = CustomerFactory(user=User.objects.get(email=in_a.customer))
    other = CustomerFactory()
    user = User.objects.get(email=in_a.customer)

    assert get_customer_for(user, own.pk) == own
    with pytest.raises(Customer.DoesNotExist):
        get_customer_for(user, other.pk)
    staff = User.objects.get(email=in_a.support)
    assert get_customer_for(staff, other.pk) == other


def test_every_write_leaves_an_audit_event(in_a):
    customer = company(actor="owner@acme.test")
    assert audit_event_list(customer_id=customer.pk).filter(actor_label="owner@acme.test").exists()
