"""Benchmark: time to create complete reseller instances (schema, domain, owner, identity).

    python tests/bench/provisioning.py --tenants 200

Creates --tenants instances with the warm pool empty (template DDL replay: "cold"), then
--warm instances through a pre-filled pool, then --migrate instances by a plain migrate
run, each through the same `reseller_create` service the console calls. Prints per-phase
figures and, as its last line, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from _setup import configure, drop, p95

DB = "upline_bench_provisioning"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--warm", type=int, default=30)
    parser.add_argument("--migrate", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()
    if args.tenants < 20:
        parser.error("--tenants must be at least 20 (first and last ten are compared)")

    configure(DB)
    from django.db import connection

    from provisioning import schemas
    from shared_apps.tenancy.services import reseller_create

    def create(slug: str, method: str) -> float:
        started = time.perf_counter()
        reseller_create(
            slug=slug,
            name=slug,
            legal_name=f"{slug} Ltd",
            owner_email=f"owner@{slug}.test",
            allocations={"disk_gb": 100},
            method=method,
        )
        return (time.perf_counter() - started) * 1000

    schemas.current_snapshot()  # load once, as a running server would have it
    cold = [create(f"cold{i}", "template") for i in range(args.tenants)]
    print(
        f"cold (template replay): {args.tenants} instances, "
        f"p50 {statistics.median(cold):.1f} ms, p95 {p95(cold)} ms"
    )

    started = time.perf_counter()
    schemas.pool_refill(args.warm)
    print(
        f"pool refill: {args.warm} schemas in {time.perf_counter() - started:.1f} s "
        "(background work)"
    )
    warm = [create(f"warm{i}", "pool") for i in range(args.warm)]
    print(f"warm (pool rename): p50 {statistics.median(warm):.1f} ms, p95 {p95(warm)} ms")

    migrate = [create(f"migr{i}", "migrate") for i in range(args.migrate)]
    print(f"plain migrate: p95 {p95(migrate)} ms")
    connection.set_schema_to_public()

    result = {
        "bench": "provisioning",
        "tenants": args.tenants,
        "cold_p95_ms": p95(cold),
        "warm_p95_ms": p95(warm),
        "migrate_p95_ms": p95(migrate),
        "cold_p95_first10_ms": p95(cold[:10]),
        "cold_p95_last10_ms": p95(cold[-10:]),
    }
    if not args.keep:
        drop(DB)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
