"""Benchmark: the shop's anonymous pages (catalog at "/" and the cart) over many instances.

    python tests/bench/storefront.py --tenants 200

Builds --tenants instances, each with its own catalog (four plans with monthly and annual
prices, an add-on) and one anonymous visitor whose session cart holds a plan. Then, through
the real middleware stack (instance routing included) and Django's test client (no
network), alternates blocks of:
  * "many": catalog + cart requests round-robin over every instance's domain;
  * "one": the same requests against a single instance.
Prints the per-request times and, as its last line, a JSON object with p95_ms (the 95th
percentile of the "many" requests) and ratio_vs_one_instance (the median of the blocks'
mean-time ratios many / one). Targets: p95_ms < 50 and ratio_vs_one_instance <= 1.10.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from decimal import Decimal

from _setup import configure, drop, p95

DB = "upline_bench_storefront"
TARGET_P95_MS = 50.0
TARGET_RATIO = 1.10


def _catalog() -> int:
    """Four plans and an add-on in this schema; returns the first plan's monthly price id."""
    from tenant_apps.catalog.models import Price, Product, TaxClass

    standard, _ = TaxClass.objects.get_or_create(code="standard", defaults={"name": "Standard"})
    addon = Product.objects.create(
        code="backups", name="Daily backups", kind=Product.Kind.ADDON, tax_class=standard
    )
    Price.objects.create(product=addon, currency="EUR", cycle="monthly", amount=Decimal("2"))
    first_price = None
    for n in range(4):
        plan = Product.objects.create(
            code=f"plan-{n}",
            name=f"Plan {n}",
            description="Web hosting",
            tax_class=standard,
            resources={"disk_gb": 10 * (n + 1), "hosting_accounts": n + 1},
            position=n,
        )
        plan.addons.add(addon)
        monthly = Price.objects.create(
            product=plan, currency="EUR", cycle="monthly", amount=Decimal(10 * (n + 1))
        )
        Price.objects.create(
            product=plan, currency="EUR", cycle="annual", amount=Decimal(100 * (n + 1))
        )
        first_price = first_price or (plan.pk, monthly.pk)
    return first_price


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=15, help="alternating many/one blocks")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    configure(DB)
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django_tenants.utils import schema_context

    from shared_apps.tenancy.services import reseller_create
    from tenant_apps.instance.services import issuer_identity_set

    visitors: list[Client] = []
    for i in range(args.tenants):
        slug = f"s{i}"
        reseller = reseller_create(
            slug=slug, name=slug, legal_name=slug, owner_email=f"o@{slug}.test", method="template"
        )
        with schema_context(reseller.schema_name):
            issuer_identity_set(legal_name=f"Shop {i} Ltd", brand_color="#0f766e")
            plan_id, price_id = _catalog()
        connection.set_schema_to_public()
        visitor = Client(HTTP_HOST=f"{slug}.{settings.UPLINE_BASE_DOMAIN}")
        added = visitor.post(f"/shop/cart/add/{plan_id}/", {"price": price_id})
        if added.status_code != 302:
            raise SystemExit(f"adding to the cart answered {added.status_code}")
        connection.set_schema_to_public()  # the request left the connection in the instance
        visitors.append(visitor)
    print(f"{args.tenants} instances ready", file=sys.stderr)

    def request(visitor: Client, path: str) -> float:
        started = time.perf_counter()
        response = visitor.get(path)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"{path} answered {response.status_code}")
        return elapsed

    def block(clients: list[Client]) -> list[float]:
        times = []
        for visitor in clients:
            times.append(request(visitor, "/"))
            times.append(request(visitor, "/shop/cart/"))
        return times

    many_clients = visitors
    one_clients = [visitors[0]] * len(visitors)
    block(many_clients)  # warm both paths (connections, caches, URL resolvers)
    block(one_clients)
    many_times: list[float] = []
    one_times: list[float] = []
    ratios = []
    for _ in range(args.rounds):
        many = block(many_clients)
        one = block(one_clients)
        many_times += many
        one_times += one
        ratios.append(statistics.mean(many) / statistics.mean(one))
    print(
        f"many: p50 {statistics.median(many_times):.1f} ms p95 {p95(many_times)} ms "
        f"(round-robin over {len(visitors)} instances); one: p50 "
        f"{statistics.median(one_times):.1f} ms p95 {p95(one_times)} ms; block ratios min "
        f"{min(ratios):.3f} median {statistics.median(ratios):.3f} max {max(ratios):.3f}",
        file=sys.stderr,
    )
    ratio = round(statistics.median(ratios), 3)
    result = {
        "bench": "storefront",
        "tenants": args.tenants,
        "requests": len(many_times) + len(one_times),
        "p95_ms": p95(many_times),
        "p95_ms_one_instance": p95(one_times),
        "ratio_vs_one_instance": ratio,
        "target": f"p95_ms < {TARGET_P95_MS:.0f} and ratio_vs_one_instance <= {TARGET_RATIO:.2f}",
        "meets_target": p95(many_times) < TARGET_P95_MS and ratio <= TARGET_RATIO,
    }
    if not args.keep:
        drop(DB)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
