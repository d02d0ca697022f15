"""Host routing: instances, custom domains, unknown hosts, suspended and terminated resellers."""

from django.db import connection

from shared_apps.tenancy import routing
from shared_apps.tenancy.services import (
    domain_add,
    reseller_resume,
    reseller_suspend,
    reseller_terminate,
)
from tests.conftest import client_for


def test_unknown_host_gets_a_friendly_404_page(db, client):
    response = client.get("/", HTTP_HOST="nobody.upline.localhost")
    assert response.status_code == 404
    assert b"nobody.upline.localhost" in response.content
    assert b"Traceback" not in response.content


def test_malformed_host_gets_the_404_page_not_a_500(db, client):
    response = client.get("/", HTTP_HOST="bad host!!")
    assert response.status_code == 404


def test_each_instance_answers_on_its_own_domain(instance_a, instance_b):
    for info in (instance_a, instance_b):
        response = client_for(info).get("/accounts/login/")
        assert response.status_code == 200
        assert info.slug.title().encode() in response.content


def test_custom_domain_routes_to_its_instance(instance_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        domain_add(reseller=instance_a.reseller(), domain="billing.acme-example.com")
    response = client_for(instance_a).get("/accounts/login/", HTTP_HOST="billing.acme-example.com")
    assert response.status_code == 200
    assert b"Acme" in response.content


def test_suspended_reseller_shows_a_suspension_page_to_staff_and_customers(
    instance_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        reseller_suspend(reseller=instance_a.reseller(), reason="unpaid")
    for email in (instance_a.owner, instance_a.customer, None):
        response = client_for(instance_a, email).get("/portal/")
        assert response.status_code == 503
        assert b"temporarily unavailable" in response.content
    with django_capture_on_commit_callbacks(execute=True):
        reseller_resume(reseller=instance_a.reseller())
    assert client_for(instance_a, instance_a.customer).get("/portal/").status_code == 200


def test_terminated_reseller_answers_410(instance_b, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        reseller_terminate(reseller=instance_b.reseller())
    assert client_for(instance_b).get("/").status_code == 410


def test_routing_cache_serves_repeat_lookups_without_a_query(instance_a, django_assert_num_queries):
    routing.resolve(instance_a.host)
    with django_assert_num_queries(0):
        assert routing.resolve(instance_a.host).schema_name == "r_acme"


def test_routing_cache_is_invalidated_when_status_changes(
    instance_a, django_capture_on_commit_callbacks
):
    assert routing.resolve(instance_a.host).status == "active"
    with django_capture_on_commit_callbacks(execute=True):
        reseller_suspend(reseller=instance_a.reseller())
    assert routing.resolve(instance_a.host).status == "suspended"


def test_same_instance_twice_in_a_row_issues_no_extra_set_search_path(instance_a):
    client = client_for(instance_a, instance_a.owner)
    client.get("/staff/")
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        client.get("/staff/")
    assert not [
        q for q in queries.captured_queries if q["sql"].upper().startswith("SET SEARCH_PATH")
    ]


def test_operator_host_serves_the_console(operator):
    response = client_for(operator, operator.owner).get("/console/")
    assert response.status_code == 200


def test_console_does_not_exist_on_reseller_domains(instance_a):
    response = client_for(instance_a, instance_a.owner).get("/console/")
    assert response.status_code == 404
