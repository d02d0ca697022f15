"""Behind PgBouncer in transaction pooling, every transaction runs in its own instance's schema.

A real PgBouncer (Debian's package) runs in front of the test database with ONE server
connection per database, so every client connection shares it and any search_path left
behind by one client would be seen by the next. Skipped, with the reason, where the
`pgbouncer` binary is not installed.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections, transaction
from django.db.utils import load_backend
from django.test import Client
from django_tenants.utils import schema_context
from rest_framework.authtoken.models import Token

PGBOUNCER = shutil.which("pgbouncer") or (
    "/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None
)
pytestmark = [
    pytest.mark.skipif(
        PGBOUNCER is None,
        reason="PgBouncer is not installed (Debian: apt-get install pgbouncer)",
    ),
    pytest.mark.django_db,
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def bouncer_port(django_db_setup):
    """A PgBouncer in transaction pooling, one server connection, in front of the test DB."""
    db = connection.settings_dict
    port = _free_port()
    folder = tempfile.mkdtemp(prefix="upline-pgbouncer-")
    os.chmod(folder, 0o755)  # readable by the user PgBouncer drops to when started as root
    user = db.get("USER") or "postgres"
    with open(os.path.join(folder, "users.txt"), "w") as users:
        users.write(f'"{user}" ""\n')
    with open(os.path.join(folder, "pgbouncer.ini"), "w") as ini:
        ini.write(
            "[databases]\n"
            f"* = host={db.get('HOST') or '127.0.0.1'} port={db.get('PORT') or 5432}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {folder}/users.txt\n"
            "pool_mode = transaction\ndefault_pool_size = 1\nmin_pool_size = 0\n"
            "max_client_conn = 50\nserver_reset_query =\nquery_wait_timeout = 20\n"
            f"logfile = {folder}/pgbouncer.log\n"
        )
    for name in os.listdir(folder):
        os.chmod(os.path.join(folder, name), 0o644)
    command = [PGBOUNCER, os.path.join(folder, "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        command[1:1] = ["-u", _unprivileged_user()]
        shutil.chown(folder, user=_unprivileged_user())
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_until_listening(port, process)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def _unprivileged_user() -> str:
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    pytest.skip("PgBouncer refuses root and no unprivileged user exists here")


def _wait_until_listening(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"PgBouncer did not start: {process.stderr.read().decode()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail("PgBouncer did not start listening")


def _through_bouncer(port: int, alias: str, *, transaction_pooling: bool = True):
    """A connection of our backend to the test database through PgBouncer."""
    settings_dict = {
        **connection.settings_dict,
        "HOST": "127.0.0.1",
        "PORT": port,
        "OPTIONS": {**connection.settings_dict.get("OPTIONS", {})},
    }
    if transaction_pooling:
        settings_dict["PGBOUNCER_TRANSACTION_POOLING"] = True
        settings_dict["DISABLE_SERVER_SIDE_CURSORS"] = True
        settings_dict["OPTIONS"]["prepare_threshold"] = None
    wrapper = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, alias)
    return wrapper


def _emails(conn) -> set[str]:
    with conn.cursor() as cursor:
        cursor.execute("SELECT email FROM accounts_user")
        return {row[0] for row in cursor.fetchall()}


def test_two_clients_sharing_one_server_connection_each_read_their_own_instance(
    bouncer_port, instance_a, instance_b
):
    acme = _through_bouncer(bouncer_port, "bouncer_acme")
    bluebird = _through_bouncer(bouncer_port, "bouncer_bluebird")
    try:
        acme.set_schema(instance_a.schema_name)
        bluebird.set_schema(instance_b.schema_name)
        for _ in range(3):
            assert instance_a.owner in _emails(acme) and instance_b.owner not in _emails(acme)
            assert instance_b.owner in _emails(bluebird)
            # One cursor, several statements: each one carries the schema.
            with acme.cursor() as cursor:
                for _ in range(2):
                    cursor.execute("SELECT email FROM accounts_user")
                    assert instance_a.owner in {row[0] for row in cursor.fetchall()}
                    assert instance_b.owner in _emails(bluebird)
        # Inside explicit transactions too, and after they end.
        connections["bouncer_acme"] = acme
        connections["bouncer_bluebird"] = bluebird
        # (One at a time: a transaction holds the one server connection until it ends.)
        for _ in range(2):
            with transaction.atomic(using="bouncer_acme"):
                assert instance_a.owner in _emails(acme)
                with transaction.atomic(using="bouncer_acme"):  # a savepoint
                    assert instance_a.owner in _emails(acme)
            with transaction.atomic(using="bouncer_bluebird"):
                assert instance_b.owner in _emails(bluebird)
            assert instance_b.owner in _emails(bluebird)
        assert instance_a.owner in _emails(acme)
        # Nothing is left on the server connection for the next client.
        with psycopg.connect(
            host="127.0.0.1",
            port=bouncer_port,
            dbname=connection.settings_dict["NAME"],
            user=connection.settings_dict.get("USER") or "postgres",
            prepare_threshold=None,
        ) as plain:
            assert plain.execute("SHOW search_path").fetchone()[0] == '"$user", public'
    finally:
        for alias in ("bouncer_acme", "bouncer_bluebird"):
            try:
                del connections[alias]
            except AttributeError:
                pass
        acme.close()
        bluebird.close()


def test_without_the_setting_a_client_reads_the_schema_another_left_behind(
    bouncer_port, instance_a, instance_b
):
    """Why the setting exists: the default path trusts a SET that PgBouncer gave away."""
    acme = _through_bouncer(bouncer_port, "plain_acme", transaction_pooling=False)
    bluebird = _through_bouncer(bouncer_port, "plain_bluebird", transaction_pooling=False)
    try:
        acme.set_schema(instance_a.schema_name)
        bluebird.set_schema(instance_b.schema_name)
        assert instance_a.owner in _emails(acme)
        assert instance_b.owner in _emails(bluebird)
        assert instance_b.owner in _emails(acme)  # acme's client now reads Bluebird's users
    finally:
        acme.close()
        bluebird.close()


@pytest.fixture(scope="module")
def committed_tokens(django_db_setup, django_db_blocker):
    """API tokens of each instance's owner, committed so that PgBouncer's clients see them."""
    from tests.conftest import _info

    made = {}
    with django_db_blocker.unblock():
        for slug in (None, "acme", "bluebird"):
            info = _info(slug)
            with schema_context(info.schema_name):
                owner = get_user_model().objects.get(email=info.owner)
                made[info.host] = (info.schema_name, info.owner, Token.objects.create(user=owner))
        connection.set_schema_to_public()
    yield {host: (owner, token.key) for host, (_, owner, token) in made.items()}
    with django_db_blocker.unblock():
        for schema_name, _, token in made.values():
            with schema_context(schema_name):
                Token.objects.filter(pk=token.pk).delete()
        connection.set_schema_to_public()


def test_requests_across_instances_through_pgbouncer_never_see_another_schema(
    bouncer_port, committed_tokens
):
    hosts = sorted(committed_tokens)
    wrong: list[str] = []

    def browse(offset: int) -> None:
        # This thread's database connection goes through PgBouncer.
        connections["default"] = _through_bouncer(bouncer_port, "default")
        try:
            for i in range(15):
                # Runs of requests to one instance (its path is then "already set" on this
                # connection) while the other threads switch the server's to theirs.
                host = hosts[(offset + i // 5) % len(hosts)]
                owner, key = committed_tokens[host]
                response = Client(HTTP_HOST=host).get("/api/me/", HTTP_AUTHORIZATION=f"Token {key}")
                seen = response.json().get("email") if response.status_code == 200 else None
                if seen != owner:
                    wrong.append(f"{host}: {response.status_code} {seen}")
        except Exception as exc:  # a thread's failure fails the test, never passes silently
            wrong.append(f"{exc.__class__.__name__}: {exc}")
        finally:
            connections["default"].close()

    threads = [threading.Thread(target=browse, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert wrong == []
