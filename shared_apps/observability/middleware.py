"""Two middlewares, first in the stack, before the instance routing:

- `OperationsEndpointsMiddleware` answers /health/live, /health/ready and /metrics on any
  host (base domain, instance domains, a pod's IP for Kubernetes probes) without looking
  an instance up, and hands every other request on.
- `RequestContextMiddleware` gives each request its id (the proxy's X-Request-ID when
  UPLINE_TRUST_REQUEST_ID is on and the value is sane, else a new one), echoes it in the
  response, makes it and the routed instance's schema available to log lines, counts the
  request in the metrics, and writes one access line (`upline.access`) when
  UPLINE_ACCESS_LOG is on.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils.cache import add_never_cache_headers

from . import access, context, health, metrics

LIVE_PATH = "/health/live"
READY_PATH = "/health/ready"
METRICS_PATH = "/metrics"
REQUEST_ID_HEADER = "X-Request-ID"

access_log = logging.getLogger("upline.access")


def _no_cache(response):
    add_never_cache_headers(response)
    return response


def live(request) -> JsonResponse:
    return _no_cache(JsonResponse({"status": "ok"}))


def ready(request) -> JsonResponse:
    detailed = access.may_read_details(request)
    # The worker ping waits up to its timeout when no worker runs: only on demand.
    results = health.readiness(with_workers=detailed and request.GET.get("workers") == "1")
    ok = health.is_ready(results)
    body: dict = {"status": "ok" if ok else "unavailable"}
    if detailed:
        body["checks"] = {result.name: result.as_json() for result in results}
    return _no_cache(JsonResponse(body, status=200 if ok else 503))


def metrics_page(request) -> HttpResponse:
    if not access.may_read_details(request):
        return _no_cache(
            JsonResponse(
                {"detail": "Metrics need the operations token (Authorization: Bearer …)."},
                status=403,
            )
        )
    payload, content_type = metrics.render()
    return _no_cache(HttpResponse(payload, content_type=content_type))


ENDPOINTS = {LIVE_PATH: live, READY_PATH: ready, METRICS_PATH: metrics_page}


class OperationsEndpointsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        endpoint = ENDPOINTS.get(request.path_info.rstrip("/") or "/")
        if endpoint is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return JsonResponse({"detail": "Use GET."}, status=405)
        return endpoint(request)


def _instance_group(request) -> str:
    tenant = getattr(request, "tenant", None)
    if tenant is None:
        return "none"
    return "operator" if tenant.is_operator else "reseller"


def _view_name(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "<unrouted>"
    return match.view_name or "<unnamed>"


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        given = (
            context.acceptable_request_id(request.headers.get(REQUEST_ID_HEADER))
            if settings.UPLINE_TRUST_REQUEST_ID
            else ""
        )
        request.request_id = given or context.new_request_id()
        id_token = context.request_id.set(request.request_id)
        request_token = context.request.set(request)
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request.request_id
            seconds = time.perf_counter() - started
            group, view = _instance_group(request), _view_name(request)
            metrics.request_observe(
                group=group,
                view=view,
                method=request.method,
                status=response.status_code,
                seconds=seconds,
            )
            if settings.UPLINE_ACCESS_LOG:
                access_log.info(
                    "%s %s %s",
                    request.method,
                    request.path,
                    response.status_code,
                    extra={
                        "method": request.method,
                        "path": request.path,
                        "status": response.status_code,
                        "duration_ms": round(seconds * 1000, 1),
                        "view": view,
                        "instance_group": group,
                    },
                )
            return response
        finally:
            context.request.reset(request_token)
            context.request_id.reset(id_token)
