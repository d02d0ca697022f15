"""Callbacks cannot be aimed at the operator's own network: the host is resolved at send time,
addresses that are not public are refused and recorded on the delivery (not retried), the
connection goes to the checked address with the name in Host and TLS, and the signature
covers a timestamp."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
import ssl
import threading

import pytest
from django.core.exceptions import ValidationError

from shared_apps.bridge import callback_transport, callbacks
from shared_apps.bridge.models import CallbackDelivery, CallbackEndpoint
from shared_apps.tenancy.models import Reseller

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_dns(monkeypatch):
    """Names the test decides the addresses of; nothing goes to a real resolver."""
    answers: dict[str, list[str]] = {}

    def resolve(host, port):
        if host not in answers:
            raise socket.gaierror(f"unknown test name {host}")
        return [ipaddress.ip_address(a) for a in answers[host]]

    monkeypatch.setattr(callback_transport, "resolve", resolve)
    return answers


@pytest.fixture
def connections(monkeypatch):
    """Records every TCP connection attempt instead of making it."""
    attempts: list[tuple[str, int]] = []

    def refuse(address, port, timeout):
        attempts.append((address, port))
        raise ConnectionRefusedError("test: no network")

    monkeypatch.setattr(callback_transport, "open_socket", refuse)
    return attempts


def _delivery(instance, url: str) -> CallbackDelivery:
    # Created directly: the point is what happens at send time, whatever the stored URL.
    endpoint = CallbackEndpoint.objects.create(
        reseller=Reseller.objects.get(slug=instance.slug), url=url, secret="s3cret"
    )
    return CallbackDelivery.objects.create(
        endpoint=endpoint, event="escalation.replied", payload={"event": "escalation.replied"}
    )


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "::ffff:127.0.0.1", "192.168.1.20"],
)
def test_a_callback_resolving_to_an_internal_address_is_refused_at_send_time(
    instance_a, fake_dns, connections, address
):
    fake_dns["hooks.acme.example"] = [address]
    delivery = _delivery(instance_a, "https://hooks.acme.example/upline")

    assert callbacks.callback_deliveries_send() == 0

    delivery.refresh_from_db()
    assert connections == []  # nothing was connected to
    assert delivery.delivered_at is None and delivery.attempts == 1
    assert delivery.next_attempt_at is None  # given up: it would only be refused again
    assert delivery.last_error.startswith("Refused to send: hooks.acme.example resolves to")
    assert str(ipaddress.ip_address(address)) in delivery.last_error
    assert callbacks.callback_deliveries_send() == 0 and connections == []


def test_a_name_with_one_private_address_among_public_ones_is_refused(
    instance_a, fake_dns, connections
):
    fake_dns["hooks.acme.example"] = ["93.184.216.34", "10.0.0.1"]
    delivery = _delivery(instance_a, "https://hooks.acme.example/upline")
    callbacks.callback_deliveries_send()
    delivery.refresh_from_db()
    assert connections == [] and "10.0.0.1 is a private address" in delivery.last_error


def test_a_public_name_is_connected_to_by_the_address_that_was_checked(
    instance_a, fake_dns, monkeypatch
):
    fake_dns["hooks.acme.example"] = ["93.184.216.34"]
    seen: dict = {}
    ours, theirs = socket.socketpair()

    def open_socket(address, port, timeout):
        seen["connected_to"] = (address, port)
        return ours

    class RecordingContext(ssl.SSLContext):
        def wrap_socket(self, sock, *args, server_hostname=None, **kwargs):
            seen["sni"] = server_hostname
            seen["verifies"] = self.verify_mode == ssl.CERT_REQUIRED and self.check_hostname
            raise ssl.SSLError("test: stop before the handshake")

    def tls_context():
        context = RecordingContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_default_certs()
        return context

    monkeypatch.setattr(callback_transport, "open_socket", open_socket)
    monkeypatch.setattr(callback_transport, "tls_context", tls_context)
    # The name must never be resolved again by the connection itself.
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: pytest.fail("resolved twice: not pinned")
    )
    delivery = _delivery(instance_a, "https://hooks.acme.example/upline")
    try:
        callbacks.callback_deliveries_send()
    finally:
        ours.close()
        theirs.close()

    assert seen == {
        "connected_to": ("93.184.216.34", 443),
        "sni": "hooks.acme.example",  # and the certificate is checked against the name
        "verifies": True,
    }
    delivery.refresh_from_db()
    assert delivery.next_attempt_at is not None  # a network failure is retried later
    assert delivery.last_error.startswith("Could not reach the endpoint")


def test_plain_http_to_a_pinned_address_sends_the_name_as_host_when_allowed(
    instance_a, fake_dns, monkeypatch, settings
):
    settings.UPLINE_CALLBACKS_ALLOW_PLAIN_HTTP = True
    fake_dns["hooks.acme.example"] = ["93.184.216.34"]
    ours, theirs = socket.socketpair()
    received: dict = {}

    def answer():
        data = b""
        while b"\r\n\r\n" not in data:
            data += theirs.recv(4096)
        head, _, rest = data.partition(b"\r\n\r\n")
        sizes = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")]
        length = int(sizes[0].split(b":", 1)[1])
        while len(rest) < length:
            rest += theirs.recv(4096)
        received["head"], received["body"] = head.decode(), rest
        theirs.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")

    server = threading.Thread(target=answer, daemon=True)
    server.start()
    connected = []
    monkeypatch.setattr(
        callback_transport,
        "open_socket",
        lambda address, port, timeout: connected.append((address, port)) or ours,
    )
    delivery = _delivery(instance_a, "http://hooks.acme.example/upline?x=1")
    try:
        assert callbacks.callback_deliveries_send() == 1
        server.join(5)
    finally:
        ours.close()
        theirs.close()

    assert connected == [("93.184.216.34", 80)]
    lines = received["head"].split("\r\n")
    assert lines[0] == "POST /upline?x=1 HTTP/1.1"
    assert "Host: hooks.acme.example" in lines
    headers = dict(line.split(": ", 1) for line in lines[1:])
    timestamp = headers["X-Upline-Timestamp"]
    expected = hmac.new(
        b"s3cret", f"{timestamp}.".encode() + received["body"], hashlib.sha256
    ).hexdigest()
    assert headers["X-Upline-Signature"] == f"sha256={expected}"
    # The same body signed with another timestamp does not verify: the timestamp is covered.
    other = hmac.new(
        b"s3cret", f"{int(timestamp) - 600}.".encode() + received["body"], hashlib.sha256
    ).hexdigest()
    assert other != expected
    delivery.refresh_from_db()
    assert delivery.delivered_at is not None


def test_the_signature_covers_the_timestamp():
    body = b'{"delivery":1}'
    assert callbacks.sign("k", "1700000000", body) != callbacks.sign("k", "1700000001", body)
    expected = hmac.new(b"k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert callbacks.sign("k", "1700000000", body) == f"sha256={expected}"


@pytest.mark.parametrize(
    "url, message",
    [
        ("http://hooks.acme.example/upline", "https://"),
        ("https://hooks.acme.example:8443/upline", "port 443"),
        ("https://127.0.0.1/upline", "loopback"),
        ("https://10.0.0.1/upline", "private"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://[::1]/upline", "loopback"),
        ("https://[::ffff:10.0.0.1]/upline", "private"),
        ("https://localhost/upline", "this machine"),
        ("https://user:pw@hooks.acme.example/upline", "user name"),
    ],
)
def test_a_callback_address_that_could_reach_the_operators_network_is_refused_when_set(
    url, message
):
    with pytest.raises(ValidationError, match=message):
        CallbackEndpoint(url=url).clean_fields(exclude=["reseller", "secret"])


def test_port_80_is_allowed_only_when_the_operator_allows_plain_http(settings):
    endpoint = CallbackEndpoint(url="http://hooks.acme.example/upline")
    with pytest.raises(ValidationError):
        endpoint.clean_fields(exclude=["reseller", "secret"])
    settings.UPLINE_CALLBACKS_ALLOW_PLAIN_HTTP = True
    endpoint.clean_fields(exclude=["reseller", "secret"])
    with pytest.raises(ValidationError, match="port 80"):
        CallbackEndpoint(url="http://hooks.acme.example:8080/").clean_fields(
            exclude=["reseller", "secret"]
        )


def test_a_local_receiver_is_reachable_only_with_the_development_setting(
    instance_a, settings, fake_dns, connections
):
    fake_dns["localhost"] = ["127.0.0.1"]
    delivery = _delivery(instance_a, "http://localhost:8080/hook")
    callbacks.callback_deliveries_send()
    delivery.refresh_from_db()
    assert connections == [] and delivery.last_error.startswith("Refused to send")

    settings.UPLINE_CALLBACKS_ALLOW_LOCAL = True
    CallbackDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=delivery.created_at, last_error=""
    )
    callbacks.callback_deliveries_send()
    assert connections == [("127.0.0.1", 8080)]
