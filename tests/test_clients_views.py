"""Customer screens: staff list, create/edit, detail actions and the portal's details page.

Also isolation: between instances (404) and between customers and staff pages (403).
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django_tenants.utils import schema_context

from tenant_apps.clients.models import Contact, Customer
from tests.conftest import client_for
from tests.test_clients_services import CustomerFactory
from tests.test_clients_vies import INVALID, UNREACHABLE, VALID, ValidChecker, use_vat_checker

LIST = "/staff/customers/"
NEW = "/staff/customers/new/"
BILLING_DETAILS = "/portal/account/billing-details/"


@pytest.fixture(autouse=True)
def vies_confirms(settings):
    use_vat_checker(VALID)
    ValidChecker.calls = []


@pytest.fixture
def staff(instance_a):
    return client_for(instance_a, instance_a.owner)


def in_schema(info, make):
    with schema_context(info.schema_name):
        return make()


def management(prefix="contacts", total=1, initial=0) -> dict:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def create_form(**overrides) -> dict:
    data = {
        "kind": "company",
        "name": "Jeanne Martin",
        "company_name": "Odigo SA",
        "email": "billing@odigo.example",
        "phone": "",
        "address_line1": "3 rue du Colonel Moll",
        "address_line2": "",
        "postal_code": "75017",
        "city": "Paris",
        "region": "",
        "country": "FR",
        "language": "en",
        "currency": "EUR",
        "tax_id": "FR 40 303 265 045",
        "tax_exempt_reason": "",
        "notes": "",
        **management(),
        "contacts-0-name": "Paul Accounts",
        "contacts-0-email": "paul@odigo.example",
        "contacts-0-phone": "",
        "contacts-0-role": "Accounts",
        "contacts-0-receives_invoices": "on",
    }
    data.update(overrides)
    return data


def edit_form(customer: Customer, contacts: list[Contact], **overrides) -> dict:
    data = create_form(
        kind=customer.kind,
        name=customer.name,
        company_name=customer.company_name,
        email=customer.email,
        country=customer.country.code,
        currency=customer.currency,
        tax_id=customer.tax_id,
        **management(total=len(contacts) + 1, initial=len(contacts)),
    )
    for key in [k for k in data if k.startswith("contacts-0-")]:
        del data[key]
    for i, contact in enumerate(contacts):
        data.update(
            {
                f"contacts-{i}-id": str(contact.pk),
                f"contacts-{i}-customer": str(customer.pk),
                f"contacts-{i}-name": contact.name,
                f"contacts-{i}-email": contact.email,
                f"contacts-{i}-phone": contact.phone,
                f"contacts-{i}-role": contact.role,
            }
        )
    data.update(overrides)
    return data


# --------------------------------------------------------------------------------------
# List


def test_list_shows_customers_with_credit_tax_status_and_a_link(staff, instance_a):
    customer = in_schema(
        instance_a,
        lambda: CustomerFactory(
            name="Odigo",
            tax_id="FR40303265045",
            tax_id_status="valid",
            credit_balance=Decimal("1234.50"),
        ),
    )
    page = staff.get(LIST).content.decode()

    assert f'href="/staff/customers/{customer.pk}/"' in page
    assert "€1,234.50" in page
    assert "FR40303265045" in page and "badge-success" in page


def test_list_without_customers_shows_the_empty_state(staff):
    page = staff.get(LIST).content.decode()
    assert "No customers yet" in page and 'href="/staff/customers/new/"' in page


def test_list_filters_and_sorts(staff, instance_a):
    def arrange():
        CustomerFactory(name="Alpha", country="BE")
        CustomerFactory(name="Bravo", country="FR", kind="company", company_name="Bravo SARL")

    in_schema(instance_a, arrange)
    assert "Bravo" not in staff.get(LIST, {"q": "alph"}).content.decode()
    only_fr = staff.get(LIST, {"country": "FR"}).content.decode()
    assert "Bravo" in only_fr and "Alpha" not in only_fr
    assert "Alpha" not in staff.get(LIST, {"kind": "company"}).content.decode()
    descending = staff.get(LIST, {"sort": "-name"}).content.decode()
    assert descending.index("Bravo") < descending.index("Alpha")


def test_list_orders_by_the_name_it_shows(staff, instance_a):
    def arrange():
        CustomerFactory(name="Bob Person")
        CustomerFactory(name="Zed Owner", kind="company", company_name="Acme Widgets")

    in_schema(instance_a, arrange)
    page = staff.get(LIST).content.decode()
    assert page.index("Acme Widgets") < page.index("Bob Person")


def test_list_paginates_by_25(staff, instance_a):
    in_schema(
        instance_a,
        lambda: [CustomerFactory(name=f"Page {i:02d}") for i in range(30)],
    )
    first = staff.get(LIST).content.decode()
    second = staff.get(LIST, {"page": 2}).content.decode()
    assert "Page 24" in first and "Page 25" not in first
    assert "Page 29" in second


def test_filter_with_no_match_says_so(staff, instance_a):
    in_schema(instance_a, CustomerFactory)
    assert "No customers match" in staff.get(LIST, {"q": "zzz-none"}).content.decode()


def test_staff_navigation_highlights_customers(staff):
    page = staff.get(LIST).content.decode()
    assert re.search(r'class="nav-item active" aria-current="page" href="/staff/customers/"', page)


# --------------------------------------------------------------------------------------
# Create and edit


def test_create_form_adds_a_customer_with_its_contact_and_checked_vat_id(staff, instance_a):
    response = staff.post(NEW, create_form())

    with schema_context(instance_a.schema_name):
        customer = Customer.objects.get(email="billing@odigo.example")
        assert response.status_code == 302
        assert response["Location"] == f"/staff/customers/{customer.pk}/"
        assert customer.tax_id == "FR40303265045"
        assert customer.tax_id_status == Customer.TaxIdStatus.VALID
        contact = customer.contacts.get()
        assert (contact.name, contact.receives_invoices) == ("Paul Accounts", True)


@pytest.mark.parametrize(
    "change, field",
    [
        ({"currency": "XYZ"}, "currency"),
        ({"tax_id": "FR123"}, "tax_id"),
        ({"company_name": ""}, "company_name"),
        ({"country": ""}, "country"),
    ],
)
def test_create_form_shows_field_errors_and_writes_nothing(staff, instance_a, change, field):
    response = staff.post(NEW, create_form(**change))

    assert response.status_code == 200
    assert field in response.context["form"].errors
    with schema_context(instance_a.schema_name):
        assert not Customer.objects.exists()
        assert not Contact.objects.exists()


def test_create_form_with_unreachable_vies_saves_and_warns(staff, instance_a, settings):
    use_vat_checker(UNREACHABLE)
    response = staff.post(NEW, create_form(), follow=True)

    assert "VIES unreachable at" in response.content.decode()
    with schema_context(instance_a.schema_name):
        customer = Customer.objects.get()
        assert customer.tax_id_status == Customer.TaxIdStatus.UNVERIFIED
        assert customer.tax_id_checked_at is not None


def test_edit_form_changes_details_and_contacts_in_one_save(staff, instance_a, settings):
    def arrange():
        customer = CustomerFactory(kind="company", company_name="Odigo SA", name="Jeanne")
        keep = Contact.objects.create(customer=customer, name="Keep", email="keep@x.example")
        drop = Contact.objects.create(customer=customer, name="Drop", email="drop@x.example")
        return customer, [drop, keep]  # the formset lists contacts by name

    customer, contacts = in_schema(instance_a, arrange)
    use_vat_checker(INVALID)
    data = edit_form(
        customer,
        contacts,
        city="Lyon",
        tax_id="FR 61 954 506 077",
        **{
            "contacts-0-DELETE": "on",
            "contacts-1-role": "Technical",
            "contacts-2-name": "New Person",
            "contacts-2-email": "new@x.example",
        },
    )
    response = staff.post(f"/staff/customers/{customer.pk}/edit/", data)

    assert response.status_code == 302
    with schema_context(instance_a.schema_name):
        customer.refresh_from_db()
        assert customer.city == "Lyon"
        assert customer.tax_id == "FR61954506077"
        assert customer.tax_id_status == Customer.TaxIdStatus.INVALID
        assert sorted(customer.contacts.values_list("name", "role")) == [
            ("Keep", "Technical"),
            ("New Person", ""),
        ]


def test_edit_form_with_a_malformed_vat_id_changes_nothing(staff, instance_a):
    customer = in_schema(instance_a, lambda: CustomerFactory(city="Paris"))
    data = edit_form(customer, [], city="Lyon", tax_id="FR123")
    response = staff.post(f"/staff/customers/{customer.pk}/edit/", data)

    assert response.status_code == 200
    assert "tax_id" in response.context["form"].errors
    with schema_context(instance_a.schema_name):
        assert Customer.objects.get(pk=customer.pk).city == "Paris"


def test_edit_page_shows_current_values(staff, instance_a):
    customer = in_schema(instance_a, lambda: CustomerFactory(city="Nantes"))
    page = staff.get(f"/staff/customers/{customer.pk}/edit/").content.decode()
    assert 'value="Nantes"' in page and "contacts-TOTAL_FORMS" in page


# --------------------------------------------------------------------------------------
# Detail and actions


def test_detail_shows_billing_details_tax_check_and_the_related_slot(staff, instance_a):
    def arrange():
        customer = CustomerFactory(
            name="Odigo",
            tax_id="FR40303265045",
            tax_id_status="valid",
            tax_id_check_detail="VIES confirmed FR40303265045 as valid on 2026-11-26.\nName: X",
        )
        Contact.objects.create(customer=customer, name="Paul", email="paul@x.example")
        return customer

    customer = in_schema(instance_a, arrange)
    response = staff.get(f"/staff/customers/{customer.pk}/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "VIES confirmed FR40303265045" in page and "paul@x.example" in page
    assert "clients/_customer_related.html" in [t.name for t in response.templates]


def test_verify_action_stores_the_registrys_answer(staff, instance_a):
    customer = in_schema(
        instance_a, lambda: CustomerFactory(tax_id="FR40303265045", tax_id_status="unverified")
    )
    response = staff.post(f"/staff/customers/{customer.pk}/verify-tax-id/", follow=True)

    assert "VIES confirmed FR40303265045" in response.content.decode()
    with schema_context(instance_a.schema_name):
        assert Customer.objects.get(pk=customer.pk).tax_id_status == "valid"


def test_verify_action_is_post_only(staff, instance_a):
    customer = in_schema(instance_a, CustomerFactory)
    assert staff.get(f"/staff/customers/{customer.pk}/verify-tax-id/").status_code == 405


def test_invite_action_mails_a_link_on_the_instances_own_host(
    staff, instance_a, mailoutbox, django_capture_on_commit_callbacks
):
    customer = in_schema(instance_a, lambda: CustomerFactory(email="zoe@example.com"))
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(f"/staff/customers/{customer.pk}/invite/", follow=True)

    assert "zoe@example.com can now sign in" in response.content.decode()
    assert mailoutbox[0].to == ["zoe@example.com"]
    link = re.search(r"http://\S+/accounts/reset/\S+/", mailoutbox[0].body).group(0)
    assert link.startswith(f"http://{instance_a.host}/")


def test_invite_action_explains_an_email_that_already_has_a_login(staff, instance_a):
    customer = in_schema(instance_a, lambda: CustomerFactory(email=instance_a.support))
    response = staff.post(f"/staff/customers/{customer.pk}/invite/", follow=True)
    assert "already has a login" in response.content.decode()


def test_close_action_closes_and_reopen_undoes_it(staff, instance_a):
    customer = in_schema(instance_a, CustomerFactory)
    staff.post(f"/staff/customers/{customer.pk}/close/")
    with schema_context(instance_a.schema_name):
        assert Customer.objects.get(pk=customer.pk).status == "closed"
    staff.post(f"/staff/customers/{customer.pk}/reopen/")
    with schema_context(instance_a.schema_name):
        assert Customer.objects.get(pk=customer.pk).status == "active"


def test_closing_twice_is_a_message_not_an_error_page(staff, instance_a):
    customer = in_schema(instance_a, lambda: CustomerFactory(status="closed"))
    response = staff.post(f"/staff/customers/{customer.pk}/close/", follow=True)
    assert response.status_code == 200
    assert "already closed" in response.content.decode()


# --------------------------------------------------------------------------------------
# Isolation and permissions


def test_customer_of_a_is_invisible_from_b(instance_a, instance_b):
    customer = in_schema(instance_a, lambda: CustomerFactory(name="Only In Acme"))
    b_staff = client_for(instance_b, instance_b.owner)

    assert b_staff.get(f"/staff/customers/{customer.pk}/").status_code == 404
    assert b_staff.get(f"/staff/customers/{customer.pk}/edit/").status_code == 404
    assert b_staff.post(f"/staff/customers/{customer.pk}/close/").status_code == 404
    assert "Only In Acme" not in b_staff.get(LIST).content.decode()


@pytest.mark.parametrize(
    "path", [LIST, NEW, "/staff/customers/{pk}/", "/staff/customers/{pk}/edit/"]
)
def test_customer_users_get_403_on_staff_pages(instance_a, path):
    customer = in_schema(instance_a, CustomerFactory)
    client = client_for(instance_a, instance_a.customer)
    assert client.get(path.format(pk=customer.pk)).status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(instance_a):
    response = client_for(instance_a).get(LIST)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --------------------------------------------------------------------------------------
# Portal: billing details


def _linked_customer(info, **fields):
    def arrange():
        user = get_user_model().objects.get(email=info.customer)
        return CustomerFactory(user=user, email=info.customer, **fields)

    return in_schema(info, arrange)


def portal_form(**overrides) -> dict:
    data = {
        "name": "Carla Customer",
        "company_name": "",
        "address_line1": "1 Main Street",
        "address_line2": "",
        "postal_code": "1000",
        "city": "Brussels",
        "region": "",
        "country": "BE",
        "tax_id": "",
    }
    data.update(overrides)
    return data


def test_customer_sees_and_saves_their_own_billing_details(instance_a):
    customer = _linked_customer(instance_a, city="Paris")
    client = client_for(instance_a, instance_a.customer)

    page = client.get(BILLING_DETAILS).content.decode()
    assert 'value="Paris"' in page
    assert client.post(BILLING_DETAILS, portal_form(tax_id="BE 0697.449.992")).status_code == 302
    with schema_context(instance_a.schema_name):
        customer.refresh_from_db()
        assert (customer.city, customer.country.code) == ("Brussels", "BE")
        assert customer.tax_id == "BE0697449992"
        assert customer.tax_id_status == Customer.TaxIdStatus.VALID


def test_portal_form_shows_a_malformed_vat_id_as_a_field_error(instance_a):
    customer = _linked_customer(instance_a, city="Paris")
    response = client_for(instance_a, instance_a.customer).post(
        BILLING_DETAILS, portal_form(tax_id="BE123")
    )
    assert response.status_code == 200
    assert "tax_id" in response.context["form"].errors
    with schema_context(instance_a.schema_name):
        assert Customer.objects.get(pk=customer.pk).city == "Paris"


def test_portal_shows_only_the_signed_in_customers_details(instance_a):
    _linked_customer(instance_a, name="Mine")
    in_schema(instance_a, lambda: CustomerFactory(name="Somebody Else", city="Secretville"))
    page = client_for(instance_a, instance_a.customer).get(BILLING_DETAILS).content.decode()
    assert 'value="Mine"' in page and "Secretville" not in page


def test_customer_without_a_customer_record_sees_a_friendly_empty_state(instance_a):
    response = client_for(instance_a, instance_a.customer).get(BILLING_DETAILS)
    assert response.status_code == 200
    assert "No billing account yet" in response.content.decode()


def test_staff_get_403_on_the_portal_page(instance_a):
    assert client_for(instance_a, instance_a.owner).get(BILLING_DETAILS).status_code == 403


def test_portal_navigation_links_billing_details(instance_a):
    page = client_for(instance_a, instance_a.customer).get(BILLING_DETAILS).content.decode()
    assert re.search(r'class="nav-item active" aria-current="page" href="' + BILLING_DETAILS, page)
