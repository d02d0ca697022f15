"""Benchmark: gunicorn with the production settings serving many instances at once.

    python tests/bench/load.py --tenants 200 --seconds 30

Builds --tenants instances, each with five customers, three portal tickets, two draft
invoices, a signed-in owner (staff pages) and a signed-in customer (portal pages). Then
starts gunicorn (deploy/gunicorn.conf.py, config.settings.production behind a proxy that
says https, as nginx does) on 127.0.0.1 and drives it with --concurrency client threads on
keep-alive connections, in alternating blocks of the same bounded page mix:
  * "many": each request goes to the next instance (round-robin over all of them);
  * "one": every request goes to the first instance.
Each mode gets half of --seconds. Prints per-mode figures and, last, a JSON object with
the "many" mode's rps and p95_ms, errors (any answer but 200, both modes) and
ratio_vs_one_instance = rps(many) / rps(one). Targets: errors 0, ratio >= 0.90.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

from _setup import configure, drop, p95

DB = "upline_bench_load"
TARGET_RATIO = 0.90
BLOCK_SECONDS = 5.0
STAFF_PAGES = ["/staff/", "/staff/customers/", "/staff/billing/", "/staff/helpdesk/"]
PORTAL_PAGES = ["/portal/", "/portal/billing/", "/portal/support/"]


def _session(user, device=None) -> str:
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    if device is not None:  # the second sign-in step, passed
        from django_otp import DEVICE_ID_SESSION_KEY

        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.create()
    return session.session_key


def _instance(i: int) -> tuple[str, str, str]:
    """One instance with data; returns (host, staff session key, portal session key)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django_otp.plugins.otp_totp.models import TOTPDevice
    from django_tenants.utils import schema_context

    from shared_apps.tenancy.services import reseller_create
    from tenant_apps.accounts.models import Role
    from tenant_apps.billing.services import invoice_create_draft
    from tenant_apps.clients.services import customer_create
    from tenant_apps.helpdesk.services import ticket_open
    from tenant_apps.instance.services import issuer_identity_set

    slug = f"l{i}"
    reseller = reseller_create(
        slug=slug,
        name=f"Load {i}",
        legal_name=f"Load {i} Ltd",
        owner_email=f"o@{slug}.test",
        owner_password="bench-password-123",
        method="template",
    )
    with schema_context(reseller.schema_name):
        issuer_identity_set(legal_name=f"Load {i} Ltd", country="FR", city="Paris")
        User = get_user_model()
        owner = User.objects.get(role=Role.OWNER)
        device = TOTPDevice.objects.create(user=owner, name="bench", confirmed=True)
        customers = [
            customer_create(name=f"Customer {n}", email=f"c{n}@{slug}.test", country="FR")
            for n in range(5)
        ]
        portal_user = User.objects.create_user(
            email=f"c0@{slug}.test", password="bench-password-123", role=Role.CUSTOMER
        )
        customers[0].user = portal_user
        customers[0].save(update_fields=["user"])
        for n in range(3):
            ticket_open(
                subject=f"Question {n}",
                body="How do I point my domain here?",
                customer=customers[0],
                requester=portal_user,
            )
        for customer in customers[:2]:
            invoice_create_draft(
                customer=customer,
                lines=[{"description": "Hosting", "quantity": 1, "unit_price": "10.00"}],
            )
        return (
            f"{slug}.{settings.UPLINE_BASE_DOMAIN}",
            _session(owner, device),
            _session(portal_user),
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_gunicorn(folder: Path, port: int, workers: int) -> subprocess.Popen:
    # The production settings, with collected static files in a folder of this run.
    (folder / "upline_bench_load_settings.py").write_text(
        textwrap.dedent(
            f'''
            """Production settings; static files collected into the benchmark's folder."""
            from config.settings.production import *  # noqa: F401,F403

            STATIC_ROOT = {str(folder / "static")!r}
            '''
        )
    )
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(folder), str(root)]),
        "DJANGO_SETTINGS_MODULE": "upline_bench_load_settings",
        "GUNICORN_WORKERS": str(workers),
        "GUNICORN_CONTROL_SOCKET": str(folder / "gunicorn.ctl"),
        "GUNICORN_LOGLEVEL": "warning",
        "UPLINE_BASE_DOMAIN": os.environ.get("UPLINE_BASE_DOMAIN", "upline.localhost"),
    }
    python = sys.executable
    subprocess.run(
        [python, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=root,
        env=env,
        check=True,
    )
    log = open(folder / "gunicorn.log", "w")  # noqa: SIM115 (open while gunicorn runs)
    process = subprocess.Popen(
        [
            python,
            "-m",
            "gunicorn",
            "-c",
            "deploy/gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--access-logfile",
            os.devnull,
        ],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn did not start: {(folder / 'gunicorn.log').read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.1)
    raise SystemExit("gunicorn did not start listening")


def _requests(targets: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The bounded mix, as (host, path, cookie), one instance after another."""
    mix = []
    for n, (host, staff, portal) in enumerate(targets):
        staff_page = STAFF_PAGES[n % len(STAFF_PAGES)]
        portal_page = PORTAL_PAGES[n % len(PORTAL_PAGES)]
        mix.append((host, staff_page, f"sessionid={staff}"))
        mix.append((host, portal_page, f"sessionid={portal}"))
    return mix


def _drive(port: int, mix: list, seconds: float, concurrency: int) -> tuple[list[float], int]:
    """Send the mix round-robin from `concurrency` threads for `seconds`."""
    times: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(10**12))
    stop = time.monotonic() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        while time.monotonic() < stop:
            with lock:
                host, path, cookie = mix[next(counter) % len(mix)]
            started = time.perf_counter()
            try:
                conn.request(
                    "GET",
                    path,
                    headers={
                        "Host": host,
                        "Cookie": cookie,
                        "X-Forwarded-Proto": "https",
                        "X-Forwarded-For": "192.0.2.10",
                    },
                )
                response = conn.getresponse()
                response.read()
                status = response.status
                if status != 200:
                    status = f"{status} (to {response.getheader('Location')})"
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = exc.__class__.__name__
            mine.append((time.perf_counter() - started) * 1000)
            if status != 200:
                with lock:
                    errors.append(f"{status} {host}{path}")
        conn.close()
        with lock:
            times.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for line in errors[:5]:
        print(f"error: {line}", file=sys.stderr)
    return times, len(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--concurrency", type=int, default=4, help="client threads")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    # Sessions made here are signed with the key gunicorn's production settings read.
    os.environ["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)
    configure(DB)
    from django.db import connection

    started = time.perf_counter()
    targets = []
    for i in range(args.tenants):
        targets.append(_instance(i))
        connection.set_schema_to_public()
    print(
        f"{args.tenants} instances ready in {time.perf_counter() - started:.0f} s", file=sys.stderr
    )
    connection.close()

    folder = Path(tempfile.mkdtemp(prefix="upline-bench-load-"))
    port = _free_port()
    server = _start_gunicorn(folder, port, args.workers)
    try:
        many_mix = _requests(targets)
        one_mix = _requests(targets[:1] * len(targets))
        # Warm both paths (worker connections, caches, templates) before measuring.
        _drive(port, many_mix, 3, args.concurrency)
        _drive(port, one_mix, 1, args.concurrency)
        many_times, one_times, ratios, errors = [], [], [], 0
        many_seconds = one_seconds = 0.0
        blocks = max(1, round(args.seconds / 2 / BLOCK_SECONDS))
        block = args.seconds / 2 / blocks
        for _ in range(blocks):
            t, e = _drive(port, many_mix, block, args.concurrency)
            many_times += t
            errors += e
            many_seconds += block
            u, f = _drive(port, one_mix, block, args.concurrency)
            one_times += u
            errors += f
            one_seconds += block
            ratios.append((len(t) / block) / max(len(u) / block, 1e-9))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    rps_many = len(many_times) / many_seconds
    rps_one = len(one_times) / one_seconds
    print(
        f"many: {rps_many:.1f} req/s, p50 {statistics.median(many_times):.1f} ms, "
        f"p95 {p95(many_times)} ms (round-robin over {len(targets)} instances); one: "
        f"{rps_one:.1f} req/s, p95 {p95(one_times)} ms; block ratios "
        f"{', '.join(f'{r:.3f}' for r in ratios)}",
        file=sys.stderr,
    )
    ratio = round(rps_many / rps_one, 3)
    result = {
        "bench": "load",
        "tenants": args.tenants,
        "seconds": args.seconds,
        "concurrency": args.concurrency,
        "gunicorn_workers": args.workers,
        "requests": len(many_times) + len(one_times),
        "rps": round(rps_many, 1),
        "p95_ms": p95(many_times),
        "rps_one_instance": round(rps_one, 1),
        "p95_ms_one_instance": p95(one_times),
        "errors": errors,
        "ratio_vs_one_instance": ratio,
        "target": f"errors 0 and ratio_vs_one_instance >= {TARGET_RATIO:.2f}",
        "meets_target": errors == 0 and ratio >= TARGET_RATIO,
    }
    if not args.keep:
        drop(DB)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
