"""In a real browser: the operator creates a reseller, its owner signs in on the new
instance's own domain, the operator suspends it and the instance shows the suspension page.
"""

import threading

import pytest
from django.db import connection, connections

from shared_apps.tenancy.models import Reseller
from tests.browser.conftest import pass_second_step, sign_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def _drop_browserco():
    try:
        for reseller in Reseller.objects.filter(slug="browserco"):
            with connection.cursor() as cursor:
                cursor.execute(f'DROP SCHEMA IF EXISTS "{reseller.schema_name}" CASCADE')
            reseller.delete()
    finally:
        connections.close_all()


@pytest.fixture
def cleanup(db):
    """The server commits what the browser creates; remove it from a thread of its own,
    outside this test's (rolled-back) transaction."""
    yield
    thread = threading.Thread(target=_drop_browserco)
    thread.start()
    thread.join()


def test_operator_creates_reseller_whose_owner_signs_in_then_suspends_it(
    page, live_url, cleanup, operator_apps
):
    operator = live_url.format(host="upline.localhost")
    instance = live_url.format(host="browserco.upline.localhost")

    sign_in(page, operator, "owner@operator.test", PASSWORD)
    pass_second_step(page, operator_apps["owner@operator.test"])
    page.goto(operator + "/console/resellers/new/")
    page.fill("input[name=name]", "Browser Co")
    page.fill("input[name=legal_name]", "Browser Co Ltd")
    page.fill("input[name=slug]", "browserco")
    page.fill("input[name=owner_email]", "owner@browserco.test")
    page.fill("input[name=owner_password]", "browser-owner-pass-1")
    page.fill("input[name=alloc_disk_gb]", "300")
    page.get_by_role("button", name="Create reseller").click()
    page.wait_for_url("**/console/resellers/browserco/")
    assert "Browser Co is live at browserco.upline.localhost" in page.content()

    owner = page.context.browser.new_context().new_page()
    sign_in(owner, instance, "owner@browserco.test", "browser-owner-pass-1")
    owner.wait_for_url("**/staff/")
    assert "Capacity from" in owner.content() and "300 GB" in owner.content()
    # The operator's session cookie means nothing here (host-only cookie).
    page.goto(instance + "/staff/")
    assert "/accounts/login/" in page.url

    page.goto(operator + "/console/resellers/browserco/")
    page.click("form[action$='/suspend/'] button")
    # The confirmation is the page's own dialog, answered like any button.
    with page.expect_navigation():
        page.locator("dialog[open]").get_by_role("button", name="Suspend").click()
    page.wait_for_url("**/console/resellers/browserco/")
    assert "is suspended" in page.content()

    owner.reload()
    assert "temporarily unavailable" in owner.content()
    owner.context.close()
