#!/usr/bin/env python3
"""Stripe for `make demo`: the Stripe test keys in the environment when there are some,
else a local fake Stripe (localstripe) started here, else none at all — the demo then says
*Card payments are not set up* and manual payments carry on.

``start`` prints shell lines for the demo's shell to ``eval``: the UPLINE_STRIPE_* settings
that point the web server and the worker at localstripe (test keys, its API, its fake
Stripe.js, webhook secrets), and ``localstripe_pid=`` for the shell's trap to stop it with
the other demo processes. It also registers the demo's platform webhook endpoint with
localstripe, so events reach the web server signed with the secret the server checks.
Messages go to stderr. A live secret key is refused: the demo publishes its passwords.

``serve`` is localstripe itself on 127.0.0.1, its state in a file next to the demo's
database name (``.var/localstripe/<database>.pickle``): the demo database remembers the
Stripe customers and payments it made, so the fake Stripe must too when the demo restarts
(localstripe's own default is one shared file in /tmp).

Stdlib only, except ``serve``, which imports localstripe (the dev extra).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import pickle
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from contextlib import closing
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / ".var"

# Test-mode keys localstripe accepts (it checks only their shape) and the secrets the
# demo's webhook deliveries are signed with. Known values, like the demo's passwords.
LOCALSTRIPE_SETTINGS = {
    "UPLINE_STRIPE_SECRET_KEY": "sk_test_upline_demo",
    "UPLINE_STRIPE_PUBLISHABLE_KEY": "pk_test_upline_demo",
    "UPLINE_STRIPE_WEBHOOK_SECRET": "whsec_upline_demo_platform",
    "UPLINE_STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_upline_demo_connect",
}
# Without Stripe, the keys are blanked so that half a configuration cannot switch cards on.
NO_STRIPE_SETTINGS = {
    "UPLINE_STRIPE_SECRET_KEY": "",
    "UPLINE_STRIPE_PUBLISHABLE_KEY": "",
    "UPLINE_STRIPE_API_BASE": "",
    "UPLINE_STRIPE_WEBHOOK_SECRET": "",
    "UPLINE_STRIPE_CONNECT_WEBHOOK_SECRET": "",
}
# The event types card payments act on (tenant_apps/cards/services.stripe_event_apply); a
# real endpoint subscribes to these, so the fake one does too.
WEBHOOK_EVENTS = [
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.refunded",
    "charge.dispute.created",
]
MODES = ("auto", "localstripe", "off")
START_SECONDS = 20


class DemoStripeError(Exception):
    """A configuration the demo refuses, said in one sentence."""


def _info(message: str) -> None:
    print(f"demo: {message}", file=sys.stderr)


def has_keys(environ: Mapping[str, str]) -> bool:
    return bool(
        environ.get("UPLINE_STRIPE_SECRET_KEY") and environ.get("UPLINE_STRIPE_PUBLISHABLE_KEY")
    )


def stripe_choice(environ: Mapping[str, str], mode: str) -> str:
    """Which Stripe the demo uses: "keys" (the environment's), "localstripe" or "off".

    auto: the environment's keys when both are set (a live secret key is refused: the
    demo's accounts have a published password), else localstripe."""
    if mode not in MODES:
        raise DemoStripeError(f"STRIPE must be one of {', '.join(MODES)}, not {mode!r}.")
    if mode == "off":
        return "off"
    if mode == "auto" and has_keys(environ):
        if "_live_" in environ["UPLINE_STRIPE_SECRET_KEY"]:
            raise DemoStripeError(
                "UPLINE_STRIPE_SECRET_KEY is a live key; the demo takes test keys only "
                "(sk_test_…), since its accounts have a published password."
            )
        return "keys"
    return "localstripe"


def stripe_environment(choice: str, *, localstripe_url: str | None = None) -> dict[str, str]:
    """The settings to export for `choice`: none for "keys" (the environment's stand), the
    localstripe ones when it runs at `localstripe_url`, and blank keys otherwise (off, or
    localstripe could not start)."""
    if choice == "keys":
        return {}
    if choice == "localstripe" and localstripe_url:
        return {
            **LOCALSTRIPE_SETTINGS,
            "UPLINE_STRIPE_API_BASE": localstripe_url,
            "UPLINE_STRIPE_JS_URL": f"{localstripe_url}/js.stripe.com/v3/",
        }
    return dict(NO_STRIPE_SETTINGS)


def store_path_for(database_url: str) -> Path:
    """localstripe's state file for the demo database `database_url` names."""
    name = urlsplit(database_url or "").path.lstrip("/") or "demo"
    return VAR / "localstripe" / (re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".pickle")


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def localstripe_start(*, port: int, store: Path, log: Path) -> tuple[int, str] | None:
    """Start `serve` in the background; (its pid, its URL) once it answers, else None."""
    port = port or _free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "serve", "--port", str(port)]
            + ["--store", str(store)],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_SECONDS
    while True:
        # Its own Stripe.js answering proves the port is localstripe's, not another server's.
        try:
            with urllib.request.urlopen(f"{url}/js.stripe.com/v3/", timeout=1):  # noqa: S310
                if process.poll() is None:
                    return process.pid, url
        except (OSError, urllib.error.URLError, http.client.HTTPException):
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            tail = log.read_text(errors="replace").strip().splitlines()[-1:]
            _info(f"localstripe did not start ({' / '.join(tail) or 'no output'}).")
            return None
        time.sleep(0.1)


def webhook_register(*, localstripe_url: str, endpoint_url: str, secret: str) -> None:
    """Have localstripe deliver the events card payments act on to `endpoint_url`."""
    body = json.dumps({"url": endpoint_url, "secret": secret, "events": WEBHOOK_EVENTS})
    request = urllib.request.Request(
        f"{localstripe_url}/_config/webhooks/upline_platform",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5):  # noqa: S310 (loopback)
        pass


def start(
    *, mode: str, web_port: int, port: int, store: Path | None, log: Path, environ=os.environ
) -> list[str]:
    """The shell lines that give the demo its Stripe (see the module's docstring)."""
    choice = stripe_choice(environ, mode)
    pid, url = None, None
    if choice == "keys":
        _info("card payments use the Stripe test keys in your environment.")
    elif choice == "localstripe":
        started = localstripe_start(
            port=port, store=store or store_path_for(environ.get("DATABASE_URL", "")), log=log
        )
        if started is not None:
            pid, url = started
            endpoint = f"http://127.0.0.1:{web_port}/stripe/webhooks/platform/"
            try:
                webhook_register(
                    localstripe_url=url,
                    endpoint_url=endpoint,
                    secret=LOCALSTRIPE_SETTINGS["UPLINE_STRIPE_WEBHOOK_SECRET"],
                )
            except (OSError, urllib.error.URLError) as exc:
                _info(f"localstripe will send no webhooks ({exc}); payments still record.")
            _info(f"card payments go to localstripe (a local fake Stripe) at {url}; log: {log}")
        else:
            _info("card payments are not set up in this demo; manual payments work.")
    else:
        _info("card payments are off (STRIPE=off); manual payments work.")
    settings = stripe_environment(choice, localstripe_url=url)
    lines = [f"export {name}={shlex.quote(value)}" for name, value in settings.items()]
    lines.append(f"localstripe_pid={pid or ''}")
    return lines


def serve(*, port: int, store: Path) -> None:
    """localstripe on 127.0.0.1:`port`, its state kept in `store` (written atomically)."""
    import logging

    from aiohttp import web
    from localstripe import resources, server

    def load(self) -> None:
        try:
            with open(store, "rb") as handle:
                saved = pickle.load(handle)  # noqa: S301 (our own file under .var/)
        except FileNotFoundError:
            return
        except Exception as exc:  # a file from another localstripe version: start afresh
            print(f"localstripe: {store} not loaded ({exc}); starting empty", file=sys.stderr)
            return
        self.clear()
        self.update(saved)

    def dump(self) -> None:
        store.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=store.parent, delete=False) as handle:
            pickle.dump(dict(self), handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(handle.name, store)

    resources.Store.try_load_from_disk = load
    resources.Store.dump_to_disk = dump
    resources.store.try_load_from_disk()
    # The platform fee the operator may set rides on a connected account's intents.
    from devtools.localstripe_connect import teach_application_fees

    teach_application_fees(resources)
    # Webhook deliveries are logged on aiohttp.access: keep them in the demo's log.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    web.run_app(server.app, host="127.0.0.1", port=port, print=None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start_parser = commands.add_parser("start", help="print the demo's Stripe settings")
    start_parser.add_argument("--mode", default="auto", help="auto, localstripe or off")
    start_parser.add_argument("--web-port", type=int, default=8000)
    start_parser.add_argument("--port", type=int, default=0, help="localstripe's (0: free)")
    start_parser.add_argument("--store", type=Path, default=None)
    start_parser.add_argument("--log", type=Path, default=VAR / "log" / "localstripe.log")
    serve_parser = commands.add_parser("serve", help="run localstripe")
    serve_parser.add_argument("--port", type=int, required=True)
    serve_parser.add_argument("--store", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(port=args.port, store=args.store)
        return 0
    try:
        lines = start(
            mode=args.mode, web_port=args.web_port, port=args.port, store=args.store, log=args.log
        )
    except DemoStripeError as exc:
        _info(str(exc))
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
