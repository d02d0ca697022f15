"""What an instance held for non-payment still answers.

The operator's billing suspends a reseller whose plan is unpaid (`Reseller.held_by_billing`);
paying the bill lifts it (reseller_plans.reconcile). Locking the reseller's staff out would
also lock them out of paying, so a held instance stays reachable, read-only:

- its staff sign in as usual and read every page, under a banner that says why and links
  to *Supplier bills*; every write is refused with a page (or JSON) that says the same;
- its customers, and visitors not signed in, see what the operator chose
  (`SuspensionPolicy`): the suspension page (the default), or the portal read-only;
- views marked `payment_hold_exempt` (signing in and out, the second sign-in step, paying
  the supplier) work in full for whoever their own checks let in;
- the API reads as usual (its own permissions decide who) and refuses every write.

A suspension made by hand in the console is not a payment hold: the routing middleware
answers every request of that instance with the suspension page, as before.

Nothing here queries the database: the route carries the hold and the policy.
"""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy

from tenant_apps.instance.payment_hold import is_payment_hold_exempt

from .models import SuspensionPolicy

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
RETRY_AFTER = "300"

STAFF_SENTENCE = gettext_lazy(
    "This instance is suspended for non-payment — pay your supplier bills to resume. "
    "Until then it is read-only: nothing was changed."
)
CUSTOMER_SENTENCE = gettext_lazy(
    "This service is read-only for the moment: you can see your account, but changes are "
    "paused. Nothing was changed; please try again later."
)


def _wants_json(request) -> bool:
    if request.path_info.startswith("/api/"):
        return True
    accept = request.headers.get("Accept", "")
    return accept.startswith("application/json")


def _back_url(request) -> str:
    """Where the refused form came from, when that is a page of this same instance."""
    referer = request.headers.get("Referer", "")
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return referer
    return "/"


def write_refused(request, *, staff: bool) -> HttpResponse:
    """The answer to a write while the instance is held: nothing happened, and why."""
    sentence = STAFF_SENTENCE if staff else CUSTOMER_SENTENCE
    if _wants_json(request):
        response: HttpResponse = JsonResponse(
            {"detail": sentence, "code": "instance_suspended"}, status=503
        )
    else:
        response = render(
            request,
            "errors/read_only.html",
            {"staff": staff, "sentence": sentence, "back_url": _back_url(request)},
            status=503,
        )
    response["Retry-After"] = RETRY_AFTER
    return response


def refusal(request, view_func, suspension_page) -> HttpResponse | None:
    """None when the request may reach its view; else the response that replaces it.
    `suspension_page()` builds the suspension page (the routing middleware's)."""
    if is_payment_hold_exempt(view_func):
        return None
    safe = request.method in SAFE_METHODS
    if request.path_info.startswith("/api/"):
        # Token callers are known only inside the API: reads go on to its own permission
        # checks (staff, mostly); writes stop here whoever calls.
        return None if safe else write_refused(request, staff=True)
    user = request.user
    if user.is_authenticated and user.is_instance_staff:
        return None if safe else write_refused(request, staff=True)
    if request.tenant.customers_while_held == SuspensionPolicy.CustomerView.READ_ONLY:
        return None if safe else write_refused(request, staff=False)
    return suspension_page()
