"""Benchmark: Stripe webhook events through the real view and the worker's path.

    python tests/bench/webhooks.py --events 1000

Set-up (untimed): two reseller instances, each with a connected Stripe account (routed
through the same signal onboarding sends) and issued invoices, each awaiting a card
payment on its own PaymentIntent. The deliveries are built and signed like Stripe's:
60 % are first deliveries of `payment_intent.succeeded`, 20 % replays of an event already
sent (same event id) and 20 % the same news under a new event id (Stripe retrying it).

Timed: every delivery is POSTed to /stripe/webhooks/connect/ on the base domain (signature
verified on the raw body, routed, stored once, its task queued on commit to an in-memory
broker), then every stored event is processed as a worker does (`event_process`: the
instance's schema, the idempotent card service, one billing payment per intent) by
--workers threads at once, as a Celery worker with that concurrency would.
events_per_s = deliveries / (view time + worker time); the target is >= 200.
--processes N (default: the machine's CPU count, as Celery's worker concurrency and one
gunicorn worker per core default to) splits both the deliveries and the stored events
among N forked processes, each with its own connections; --processes 1 gives one core's
figure. --workers N runs N threads in one process instead (GIL-bound).
duplicates_applied counts billing payments beyond one per paid intent: it must be 0.
Prints figures to stderr and, as its last line, one JSON object.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import hmac
import io
import json
import multiprocessing
import os
import pstats
import sys
import threading
import time
from decimal import Decimal

from _setup import configure, drop, p95

DB = "upline_bench_webhooks"
SECRET = "whsec_bench_connect"
TARGET = 200


def _signed(event: dict) -> tuple[bytes, str]:
    body = json.dumps(event).encode()
    stamp = int(time.time())
    digest = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={stamp},v1={digest}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--profile", action="store_true", help="cProfile the timed part")
    parser.add_argument(
        "--workers", type=int, default=1, help="worker threads applying events (celery -c N)"
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=os.cpu_count() or 1,
        help="forked processes for the view and the worker phases (default: CPU count)",
    )
    args = parser.parse_args()
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    if args.events < 5:
        parser.error("--events must be at least 5")

    # Tasks are queued for a worker to an in-memory broker: set before Django and Celery
    # read their settings (changing the app's broker afterwards reaches no producer, and
    # every enqueue went to the configured Redis, where nothing ever consumed it).
    os.environ["CELERY_BROKER_URL"] = "memory://"
    configure(DB)
    from django.conf import settings
    from django.db import connections
    from django.test import Client
    from django_tenants.utils import schema_context

    from config.celery import app
    from shared_apps.stripe_webhooks.models import StripeEvent
    from shared_apps.stripe_webhooks.services import event_process
    from shared_apps.tenancy.services import reseller_create
    from tenant_apps.billing import services as billing
    from tenant_apps.billing.models import Payment, TaxRate
    from tenant_apps.cards.models import CardConnection, CardPayment
    from tenant_apps.cards.ports import account_connected
    from tenant_apps.catalog.models import TaxClass
    from tenant_apps.clients.models import Customer
    from tenant_apps.instance.services import issuer_identity_set

    # Tasks are queued (not run inside the request), as with a worker.
    app.conf.task_always_eager = False
    settings.UPLINE_STRIPE_SECRET_KEY = "sk_test_bench"
    settings.UPLINE_STRIPE_PUBLISHABLE_KEY = "pk_test_bench"
    settings.UPLINE_STRIPE_CONNECT_WEBHOOK_SECRET = SECRET

    # ---------------------------------------------------------------- set-up (untimed)
    started = time.perf_counter()
    first = int(args.events * 0.6)
    replays = (args.events - first) // 2
    renews = args.events - first - replays
    instances = []
    for i in range(2):
        slug = f"hook{i}"
        reseller = reseller_create(
            slug=slug,
            name=f"Hook {i}",
            legal_name=f"Hook {i} Ltd",
            owner_email=f"owner@{slug}.test",
            owner_password="bench-password",
            method="template",
        )
        schema, account = reseller.schema_name, f"acct_bench_{slug}"
        with schema_context(schema):
            issuer_identity_set(
                legal_name=f"Hook {i} Ltd",
                country="FR",
                tax_id="FR40303265045",
                address_line1="1 rue de la Paix",
                postal_code="75001",
                city="Paris",
            )
            TaxRate.objects.update_or_create(
                country="FR",
                tax_class=TaxClass.objects.get(code="standard"),
                defaults={"rate": Decimal("20")},
            )
            CardConnection.objects.create(account_id=account, charges_enabled=True)
            account_connected.send(sender=CardConnection, schema_name=schema, account_id=account)
            customer = Customer.objects.create(
                kind="person", name=f"Payer {i}", email=f"payer@{slug}.test", country="FR"
            )
        instances.append((schema, account, customer))

    intents = []  # (account, intent id, amount in cents)
    for n in range(first):
        schema, account, customer = instances[n % 2]
        with schema_context(schema):
            draft = billing.invoice_create_draft(
                customer=customer, lines=[{"description": f"Hosting {n}", "unit_price": "10"}]
            )
            invoice = billing.invoice_issue(invoice=draft)
            intent_id = f"pi_bench_{schema}_{n}"
            CardPayment.objects.create(
                invoice=invoice,
                customer=customer,
                amount=invoice.total,
                currency=invoice.currency,
                intent_id=intent_id,
            )
        intents.append((account, intent_id, int(invoice.total * 100)))

    def event(n: int, account: str, intent_id: str, cents: int) -> dict:
        return {
            "id": f"evt_bench_{n}",
            "object": "event",
            "type": "payment_intent.succeeded",
            "livemode": False,
            "account": account,
            "created": int(time.time()),
            "data": {
                "object": {
                    "id": intent_id,
                    "object": "payment_intent",
                    "amount": cents,
                    "amount_received": cents,
                    "currency": "eur",
                    "status": "succeeded",
                    "latest_charge": f"ch_{intent_id}",
                }
            },
        }

    deliveries = [_signed(event(n, *intents[n])) for n in range(first)]
    deliveries += [deliveries[n % first] for n in range(replays)]  # same event id again
    deliveries += [
        _signed(event(first + n, *intents[n % first])) for n in range(renews)
    ]  # the same news, a new event id
    # A web process imports its URL configurations (every view module) when it boots,
    # as config/wsgi.py does, not on the first delivery: so does the bench, untimed.
    from config.boot import urlconfs_load

    urlconfs_load()
    prepared = time.perf_counter() - started
    print(f"set-up: {prepared:.1f}s for {first} invoices awaiting cards", file=sys.stderr)

    # ---------------------------------------------------------------- timed
    client = Client(HTTP_HOST=settings.UPLINE_BASE_DOMAIN)
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    forked = args.processes > 1 and not profiler
    fork = multiprocessing.get_context("fork")  # runs Celery's after-fork hooks (producers)

    def post_all(share) -> tuple[list[float], int]:
        times, refusals = [], 0
        for body, signature in share:
            t0 = time.perf_counter()
            response = client.post(
                "/stripe/webhooks/connect/",
                data=body,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=signature,
            )
            times.append((time.perf_counter() - t0) * 1000)
            refusals += response.status_code != 200
        return times, refusals

    def in_processes(target, shares) -> list:
        """Run target(share) in one forked process per share; their results, in order."""
        connections.close_all()  # no connection crosses a fork
        results = fork.Queue()

        def child(index, share):
            try:
                results.put((index, target(share)))
            finally:
                connections.close_all()

        children = [fork.Process(target=child, args=(i, sh)) for i, sh in enumerate(shares)]
        for process in children:
            process.start()
        gathered = dict(results.get() for _ in children)
        for process in children:
            process.join()
            if process.exitcode:
                raise SystemExit(f"a bench process failed (exit code {process.exitcode})")
        return [gathered[i] for i in range(len(shares))]

    view_started = time.perf_counter()
    if forked:
        view_times, refused = [], 0
        for times, refusals in in_processes(
            post_all, [deliveries[i :: args.processes] for i in range(args.processes)]
        ):
            view_times += times
            refused += refusals
    else:
        view_times, refused = post_all(deliveries)
    view_elapsed = time.perf_counter() - view_started

    worker_started = time.perf_counter()
    pending = list(
        StripeEvent.objects.filter(processed_at__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )

    def work(share: list[int]) -> None:
        try:
            for pk in share:
                event_process(event_pk=pk)
        finally:
            connections.close_all()

    def apply_all(share: list[int]) -> int:
        for pk in share:
            event_process(event_pk=pk)
        return len(share)

    if forked:
        # Like a Celery worker with --concurrency N (prefork): two deliveries of one intent
        # may run at once in two processes; the card payment's row lock decides.
        in_processes(apply_all, [pending[i :: args.processes] for i in range(args.processes)])
    elif args.workers <= 1 or profiler:
        apply_all(pending)
    else:
        # Like a Celery worker with --concurrency N: each thread its own connection; two
        # deliveries of one intent may run at once (the card payment's row lock decides).
        shares = [pending[i :: args.workers] for i in range(args.workers)]
        threads = [threading.Thread(target=work, args=(share,)) for share in shares]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    worker_elapsed = time.perf_counter() - worker_started
    if profiler:
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(
            os.environ.get("BENCH_SORT", "cumulative")
        ).print_stats(45)
        print(out.getvalue(), file=sys.stderr)

    # ---------------------------------------------------------------- checks
    paid = 0
    duplicates = 0
    for schema, _, _ in instances:
        with schema_context(schema):
            per_intent: dict[str, int] = {}
            for reference in Payment.objects.values_list("reference", flat=True):
                per_intent[reference] = per_intent.get(reference, 0) + 1
            paid += len(per_intent)
            duplicates += sum(count - 1 for count in per_intent.values())
    total = view_elapsed + worker_elapsed
    rate = round(args.events / total, 1) if total else 0.0
    print(
        f"view: {view_elapsed:.2f}s (p95 {p95(view_times)} ms), worker: {worker_elapsed:.2f}s "
        f"for {len(pending)} stored events; {paid}/{first} intents paid; refused {refused}",
        file=sys.stderr,
    )
    if not args.keep:
        drop(DB)
    result = {
        "bench": "webhooks",
        "events": args.events,
        "stored": len(pending),
        "paid": paid,
        "refused": refused,
        "processes": args.processes if forked else 1,
        "workers": args.workers,
        "view_p95_ms": p95(view_times),
        "target_events_per_s": TARGET,
        "events_per_s": rate,
        "duplicates_applied": duplicates,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
