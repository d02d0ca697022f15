"""Benchmark: cost of instance routing per request, against a plain single-schema baseline.

    python tests/bench/routing.py --tenants 200

Builds --tenants instances, each with a signed-in user, then serves the same small page
(session, user, one query) through Django's WSGI handler:
  * "routed": the full middleware stack, requests round-robin over all instances' domains;
  * "baseline": the same view and stack without the routing middleware, one schema.
Rounds of both alternate in the same process to cancel drift. Prints the per-request
times and, as its last line, a JSON object with overhead_ratio = routed / baseline (the
median of the rounds' ratios); the target is overhead_ratio <= 1.10 (meets_target).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time

from _setup import configure, drop

DB = "upline_bench_routing"
TARGET_RATIO = 1.10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--requests", type=int, default=400, help="requests per block and mode")
    parser.add_argument("--rounds", type=int, default=25, help="alternating routed/baseline blocks")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    configure(DB)
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection
    from django.test.utils import override_settings
    from django_tenants.utils import schema_context

    from shared_apps.tenancy.services import reseller_create
    from tenant_apps.accounts.models import Role

    settings.ROOT_URLCONF = "tests.bench.urls"
    hosts: list[tuple[str, str]] = []  # (host, session key)
    for i in range(args.tenants):
        slug = f"t{i}"
        reseller = reseller_create(
            slug=slug, name=slug, legal_name=slug, owner_email=f"o@{slug}.test", method="template"
        )
        with schema_context(reseller.schema_name):
            user = get_user_model().objects.get(role=Role.OWNER)
            session = SessionStore()
            session["_auth_user_id"] = str(user.pk)
            session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
            session["_auth_user_hash"] = user.get_session_auth_hash()
            session.create()
            hosts.append((f"{slug}.{settings.UPLINE_BASE_DOMAIN}", session.session_key))
    connection.set_schema_to_public()
    print(f"{args.tenants} instances ready", file=sys.stderr)

    def environ(host: str, session_key: str) -> dict:
        return {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": "/bench/",
            "QUERY_STRING": "",
            "SERVER_NAME": host,
            "SERVER_PORT": "80",
            "HTTP_HOST": host,
            "HTTP_COOKIE": f"sessionid={session_key}",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr,
            "SERVER_PROTOCOL": "HTTP/1.1",
        }

    def start_response(status, headers):
        if not status.startswith("200"):
            raise SystemExit(f"benchmark page answered {status}")

    routed_handler = WSGIHandler()
    baseline_middleware = [m for m in settings.MIDDLEWARE if "InstanceRoutingMiddleware" not in m]
    with override_settings(MIDDLEWARE=baseline_middleware):
        baseline_handler = WSGIHandler()

    routed_environs = [
        environ(*hosts[i % len(hosts)]) for i in range(max(args.requests, len(hosts)))
    ]
    baseline_host, baseline_key = hosts[0]
    baseline_environs = [environ(baseline_host, baseline_key) for _ in range(args.requests)]

    def run(handler, environs) -> float:
        started = time.perf_counter()
        for env in environs:
            env["wsgi.input"] = io.BytesIO(b"")
            b"".join(handler(env, start_response))
        return (time.perf_counter() - started) / len(environs) * 1e6

    def run_baseline() -> float:
        # No routing middleware: the connection stays pinned to one schema, as in a
        # single-schema deployment.
        connection.set_schema("r_t0")
        return run(baseline_handler, baseline_environs)

    # Warm both paths (connections, caches, URL resolvers) before measuring.
    run(routed_handler, routed_environs[: len(hosts)])
    run_baseline()
    routed, baseline, ratios = [], [], []
    # Short alternating blocks: both modes see the same machine noise, and the ratio of
    # neighbouring blocks cancels drift.
    for _ in range(args.rounds):
        routed.append(run(routed_handler, routed_environs))
        baseline.append(run_baseline())
        ratios.append(routed[-1] / baseline[-1])
    routed_us, baseline_us = statistics.median(routed), statistics.median(baseline)
    print(
        f"routed {routed_us:.0f} µs/request (round-robin over {len(hosts)} instances), "
        f"baseline {baseline_us:.0f} µs/request; block ratios "
        f"min {min(ratios):.3f} median {statistics.median(ratios):.3f} max {max(ratios):.3f}",
        file=sys.stderr,
    )
    result = {
        "bench": "routing",
        "tenants": args.tenants,
        "requests": args.requests * args.rounds * 2,
        "routed_us_per_request": round(routed_us, 1),
        "baseline_us_per_request": round(baseline_us, 1),
        "overhead_ratio": round(statistics.median(ratios), 3),
        "target": f"overhead_ratio <= {TARGET_RATIO:.2f}",
        "meets_target": round(statistics.median(ratios), 3) <= TARGET_RATIO,
    }
    if not args.keep:
        drop(DB)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
