"""In a real browser, under the Content-Security-Policy: staff pages, the order form and the
API docs run their scripts (all from /static/) and the browser refuses nothing of ours."""

import re

import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def _violations(page) -> list[str]:
    found: list[str] = []
    page.on(
        "console",
        lambda message: (
            found.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return found


def test_staff_pages_and_the_api_docs_run_without_a_policy_violation(page, live_url):
    acme = live_url.format(host="acme.upline.localhost")
    violations = _violations(page)

    page.goto(acme + "/accounts/login/")
    page.fill("input[name=username]", "owner@acme.test")
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert "/accounts/login/" not in page.url

    for path in ("/staff/", "/staff/customers/", "/staff/helpdesk/", "/staff/orders/new/"):
        response = page.goto(acme + path)
        assert response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]

    page.goto(acme + "/api/docs/")
    page.wait_for_selector("text=Upline API")
    assert re.search(r"/api/customers/", page.content())

    # ReDoc's footer logo from its CDN is refused, as every third-party load is: only a
    # refused script would break a page.
    assert [v for v in violations if "script" in v.lower()] == []
    assert [v for v in violations if "cdn.redoc.ly" not in v] == []
