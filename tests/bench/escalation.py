"""Benchmark: escalating reseller tickets upstream, and relaying the operator's answers back.

    python tests/bench/escalation.py --resellers 50 --escalations 1000 --replies 5000

Set-up (untimed): --resellers instances, each with a support agent, a customer (Customer
row + portal login) and customer tickets opened through `helpdesk.ticket_open`, so that
--escalations tickets exist, spread round-robin over the instances; plus a support agent
in the operator's instance (public schema).

Phase 1 "escalate" (timed): every ticket is escalated with `bridge.ticket_escalate`, called
from its instance's schema as the reseller's console does; one wall time per call.
Phase 2 "relay" (timed): --replies operator staff replies, round-robin over the operator's
tickets, each through `helpdesk.ticket_reply` in the public schema; the helpdesk hook
relays each one into the reseller's ticket as a staff-only upstream note in the same
transaction; one wall time per call.

Baseline (timed, in the same run because the machine's speed varies from day to day): a
bare write pair — in ONE transaction, one raw-SQL INSERT into a small table in a
reseller's schema and one into the same table in the public schema, switching schema with
django_tenants' `schema_context` on the same connection as the real code does. One pair
runs right after every timed escalate (in that ticket's instance) and every timed relay
(in the instance the reply is relayed to), so both see the same machine; the tables are
made for the benchmark and dropped at the end. escalate_ratio and relay_ratio are each
phase's p95 over the baseline's p95; the target is both <= 8. The same ratios of medians
(*_ratio_p50) are printed too, for reading figures taken on a busy machine.

Celery does not run tasks inline: outbox drains are handed to the broker by a publisher
thread (`instance.dispatch`), off the timed call; the bench waits for it to finish (untimed)
before each baseline pair, so the pair never shares the CPU with it. After
the timed phases one extra escalation and one extra reply (not in the figures) are run
with their SQL statements counted; --profile also runs them under cProfile and prints the
top costs. Prints figures to stderr and, as its last line, one JSON object.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import statistics
import sys
import time

from _setup import configure, drop, p95

DB = "upline_bench_escalation"
PUBLIC = "public"
BASELINE_TABLE = "bench_write_pair"
TARGET_RATIO = 8


def _p50(values: list[float]) -> float:
    return round(statistics.median(values), 1) if values else 0.0


class _Queries:
    """Counts (and keeps) the SQL statements run inside `connection.execute_wrapper`."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, execute, sql, params, many, context):
        self.statements.append(sql)
        return execute(sql, params, many, context)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--resellers", type=int, default=50)
    parser.add_argument("--escalations", type=int, default=1000)
    parser.add_argument("--replies", type=int, default=5000)
    parser.add_argument("--profile", action="store_true", help="cProfile the probe calls")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()
    if args.resellers < 1 or args.escalations < 1 or args.replies < 0:
        parser.error("--resellers and --escalations must be at least 1, --replies 0 or more")

    configure(DB)
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django_tenants.utils import schema_context

    from config.celery import app
    from shared_apps.bridge.models import EscalationLink
    from shared_apps.bridge.services import ticket_escalate
    from shared_apps.tenancy.services import reseller_create
    from tenant_apps.accounts.models import Role
    from tenant_apps.clients.models import Customer
    from tenant_apps.helpdesk import services as helpdesk
    from tenant_apps.helpdesk.models import Message, Ticket
    from tenant_apps.instance import dispatch

    # Outbox drains and pool refills are queued for the workers, not run inside the calls.
    app.conf.task_always_eager = False
    app.conf.broker_url = "memory://"
    User = get_user_model()

    # ---------------------------------------------------------------- set-up (untimed)
    started = time.perf_counter()
    instances: list[tuple[str, str]] = []  # (schema, support e-mail)
    customers: dict[str, tuple[Customer, object]] = {}  # schema -> (customer, portal user)
    for i in range(args.resellers):
        slug = f"esc{i}"
        reseller = reseller_create(
            slug=slug,
            name=f"Esc {i}",
            legal_name=f"Esc {i} Ltd",
            owner_email=f"owner@{slug}.test",
            owner_password="bench-password",
            method="template",
        )
        schema = reseller.schema_name
        with schema_context(schema):
            support = User.objects.create_user(
                email=f"support@{slug}.test", password="bench-password", role=Role.SUPPORT
            )
            portal = User.objects.create_user(
                email=f"alice@{slug}.test", password="bench-password", role=Role.CUSTOMER
            )
            customer = Customer.objects.create(
                kind=Customer.Kind.PERSON,
                name=f"Alice Martin {i}",
                email=portal.email,
                country="FR",
                currency="EUR",
                user=portal,
            )
        instances.append((schema, support.email))
        customers[schema] = (customer, portal)
    provisioned = time.perf_counter() - started

    def open_ticket(schema: str, n: int) -> int:
        customer, portal = customers[schema]
        with schema_context(schema):
            return helpdesk.ticket_open(
                subject=f"Site {n} is down",
                body=f"My site site{n}.example.com has been down since 9:00. Please help.",
                customer=customer,
                requester=portal,
            ).pk

    # Ticket n lives in instance n % resellers; one extra ticket is the untimed probe.
    work = [
        (instances[n % args.resellers], open_ticket(instances[n % args.resellers][0], n))
        for n in range(args.escalations)
    ]
    probe_instance = instances[args.escalations % args.resellers]
    probe_ticket = open_ticket(probe_instance[0], args.escalations)
    with schema_context(PUBLIC):
        operator_support = User.objects.create_user(
            email="support@operator.test", password="bench-password", role=Role.SUPPORT
        )
    # The baseline's tables: one small table per reseller schema and one in public.
    with connection.cursor() as cursor:
        for schema in [PUBLIC, *(s for s, _ in instances)]:
            cursor.execute(
                f'CREATE TABLE "{schema}".{BASELINE_TABLE} (id bigserial PRIMARY KEY, note text)'
            )
    connection.set_schema_to_public()
    print(
        f"set-up: {args.resellers} instances in {provisioned:.0f} s, "
        f"{args.escalations + 1} customer tickets in "
        f"{time.perf_counter() - started - provisioned:.0f} s",
        file=sys.stderr,
    )

    schema_leaks = 0
    baseline_ms: list[float] = []

    def write_pair(schema: str) -> None:
        """Baseline: one bare write in `schema` and one in public, in one transaction."""
        t0 = time.perf_counter()
        with transaction.atomic():
            with schema_context(schema), connection.cursor() as cursor:
                cursor.execute(f"INSERT INTO {BASELINE_TABLE} (note) VALUES (%s)", ["instance"])
            with schema_context(PUBLIC), connection.cursor() as cursor:
                cursor.execute(f"INSERT INTO {BASELINE_TABLE} (note) VALUES (%s)", ["public"])
        baseline_ms.append((time.perf_counter() - t0) * 1000)

    # ---------------------------------------------------------------- phase 1: escalate
    escalate_ms: list[float] = []
    operator_tickets: list[int] = []
    for (schema, support_email), ticket_id in work:
        with schema_context(schema):  # the reseller's console calls it from its instance
            t0 = time.perf_counter()
            link = ticket_escalate(
                reseller_schema=schema,
                ticket_id=ticket_id,
                escalated_by=support_email,
                note="The server seems to be at fault.",
            )
            escalate_ms.append((time.perf_counter() - t0) * 1000)
            schema_leaks += connection.schema_name != schema
            dispatch.wait_until_sent()  # untimed: the baseline must not share the CPU with it
            write_pair(schema)
        operator_tickets.append(link.operator_ticket_id)
    print(
        f"escalate: {len(escalate_ms)} calls, p50 {_p50(escalate_ms)} ms, "
        f"p95 {p95(escalate_ms)} ms, max {max(escalate_ms):.1f} ms",
        file=sys.stderr,
    )

    # ---------------------------------------------------------------- phase 2: relay
    relay_ms: list[float] = []
    for n in range(args.replies):
        (relayed_schema, _), _ = work[n % len(operator_tickets)]
        with schema_context(PUBLIC):
            operator_ticket = Ticket.objects.get(pk=operator_tickets[n % len(operator_tickets)])
            t0 = time.perf_counter()
            helpdesk.ticket_reply(
                ticket=operator_ticket,
                author=operator_support,
                body=f"Answer {n}: the disk on node 7 was full; we freed space, please retry.",
            )
            relay_ms.append((time.perf_counter() - t0) * 1000)
            schema_leaks += connection.schema_name != PUBLIC
            dispatch.wait_until_sent()
            write_pair(relayed_schema)
    if relay_ms:
        print(
            f"relay: {len(relay_ms)} calls, p50 {_p50(relay_ms)} ms, "
            f"p95 {p95(relay_ms)} ms, max {max(relay_ms):.1f} ms",
            file=sys.stderr,
        )

    print(
        f"baseline write pair: {len(baseline_ms)} pairs, "
        f"p50 {statistics.median(baseline_ms):.2f} ms, p95 {p95(baseline_ms, ndigits=2)} ms, "
        f"max {max(baseline_ms):.1f} ms",
        file=sys.stderr,
    )

    # ---------------------------------------------------------------- checks (untimed)
    connection.set_schema_to_public()
    baseline_rows = {PUBLIC: 0, "instances": 0}
    with connection.cursor() as cursor:
        for schema in [PUBLIC, *(s for s, _ in instances)]:
            cursor.execute(f'SELECT count(*) FROM "{schema}".{BASELINE_TABLE}')
            baseline_rows[PUBLIC if schema == PUBLIC else "instances"] += cursor.fetchone()[0]
            cursor.execute(f'DROP TABLE "{schema}".{BASELINE_TABLE}')
    links = EscalationLink.objects.count()
    relay_label = f"{settings.UPLINE_OPERATOR_NAME} — "
    relayed = 0
    for schema, _ in instances:
        with schema_context(schema):
            relayed += Message.objects.filter(
                kind=Message.Kind.UPSTREAM_NOTE, author_label__startswith=relay_label
            ).count()
    print(
        f"checks: {links} links, {relayed} relayed staff-only notes, "
        f"{schema_leaks} calls ended in the wrong schema; baseline rows: "
        f"{baseline_rows[PUBLIC]} in public, {baseline_rows['instances']} in instances",
        file=sys.stderr,
    )

    # ---------------------------------------------------------------- probe (untimed)
    def probe(label: str, call) -> int:
        queries = _Queries()
        profiler = cProfile.Profile() if args.profile else None
        with connection.execute_wrapper(queries):
            if profiler:
                profiler.enable()
            t0 = time.perf_counter()
            call()
            ms = (time.perf_counter() - t0) * 1000
            if profiler:
                profiler.disable()
        print(
            f"probe {label}: {len(queries.statements)} SQL statements, {ms:.1f} ms", file=sys.stderr
        )
        if profiler:
            for sql in queries.statements:
                print(f"    {sql[:150]}", file=sys.stderr)
            for order, limit in (("cumulative", 40), ("tottime", 20)):
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(limit)
                print(out.getvalue(), file=sys.stderr)
        return len(queries.statements)

    probe_schema, probe_support = probe_instance
    probe_link: list = []
    with schema_context(probe_schema):
        escalate_queries = probe(
            "escalate",
            lambda: probe_link.append(
                ticket_escalate(
                    reseller_schema=probe_schema,
                    ticket_id=probe_ticket,
                    escalated_by=probe_support,
                    note="The server seems to be at fault.",
                )
            ),
        )
    with schema_context(PUBLIC):
        probe_operator_ticket = Ticket.objects.get(pk=probe_link[0].operator_ticket_id)
        relay_queries = probe(
            "relay (first reply on a ticket)",
            lambda: helpdesk.ticket_reply(
                ticket=probe_operator_ticket, author=operator_support, body="Fixed, please retry."
            ),
        )
    connection.set_schema_to_public()

    # Ratios from unrounded figures: the baseline is about a millisecond.
    baseline_p95 = p95(baseline_ms, ndigits=6)
    escalate_ratio = round(p95(escalate_ms, ndigits=6) / baseline_p95, 2)
    relay_ratio = round(p95(relay_ms, ndigits=6) / baseline_p95, 2) if relay_ms else None
    # For reading a busy machine's figures: the tail of a millisecond-long baseline grows
    # with other load faster than its median does.
    baseline_p50 = statistics.median(baseline_ms)
    escalate_ratio_p50 = round(statistics.median(escalate_ms) / baseline_p50, 2)
    relay_ratio_p50 = round(statistics.median(relay_ms) / baseline_p50, 2) if relay_ms else None
    result = {
        "bench": "escalation",
        "resellers": args.resellers,
        "escalations": len(escalate_ms),
        "replies": len(relay_ms),
        "escalate_p50_ms": _p50(escalate_ms),
        "escalate_p95_ms": p95(escalate_ms),
        "relay_p50_ms": _p50(relay_ms),
        "relay_p95_ms": p95(relay_ms),
        "escalate_queries": escalate_queries,
        "relay_queries": relay_queries,
        "links": links,
        "relayed_notes": relayed,
        "schema_leaks": schema_leaks,
        "baseline_write_pairs": len(baseline_ms),
        "baseline_write_pair_p50_ms": round(baseline_p50, 2),
        "baseline_write_pair_p95_ms": round(baseline_p95, 2),
        "escalate_ratio": escalate_ratio,
        "relay_ratio": relay_ratio,
        "escalate_ratio_p50": escalate_ratio_p50,
        "relay_ratio_p50": relay_ratio_p50,
        "target": f"escalate_ratio and relay_ratio <= {TARGET_RATIO}",
        "meets_target": escalate_ratio <= TARGET_RATIO
        and (relay_ratio is None or relay_ratio <= TARGET_RATIO),
    }
    if not args.keep:
        drop(DB)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
