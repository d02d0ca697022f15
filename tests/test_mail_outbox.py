"""The outbox: every message is recorded, a failed send is retried with backoff until it
goes (or is given up), a lost broker loses nothing, and old bodies are purged."""

from __future__ import annotations

import datetime

from django.core.files.storage import default_storage
from django.core.mail import EmailMessage
from django.utils import timezone
from django_tenants.utils import schema_context

from tenant_apps.mail import services
from tenant_apps.mail import tasks as mail_tasks
from tenant_apps.mail.models import OutgoingEmail


def _smtp_down(self, *args, **kwargs):
    raise ConnectionRefusedError("connection refused")


def _later(monkeypatch, **delta):
    moment = timezone.now() + datetime.timedelta(**delta)
    monkeypatch.setattr(services.timezone, "now", lambda: moment)


def test_a_failed_send_is_recorded_in_plain_words_and_retried_with_backoff_until_it_goes(
    instance_a, mailoutbox, monkeypatch
):
    with schema_context(instance_a.schema_name):
        monkeypatch.setattr(EmailMessage, "send", _smtp_down)
        row = services.email_send(to=["a@example.com"], subject="Invoice", body="Hi.")
        assert (row.status, row.attempts) == ("failed", 1)
        assert row.last_error == (
            "The mail server refused the connection: check the host name and the port."
        )
        first_wait = row.next_attempt_at - timezone.now()
        assert datetime.timedelta(seconds=50) < first_wait <= datetime.timedelta(seconds=60)

        assert services.outbox_sweep() == 0  # not due yet: nothing tried
        _later(monkeypatch, minutes=1, seconds=1)
        assert services.outbox_sweep() == 0  # due, tried, still down
        row.refresh_from_db()
        assert row.attempts == 2
        assert row.next_attempt_at - services.timezone.now() == datetime.timedelta(minutes=2)

        monkeypatch.undo()
        _later(monkeypatch, minutes=4)
        assert services.outbox_sweep() == 1
        row.refresh_from_db()
        assert (row.status, row.attempts, row.last_error, row.next_attempt_at) == (
            "sent",
            3,
            "",
            None,
        )
        assert services.outbox_sweep() == 0
    assert len(mailoutbox) == 1


def test_a_message_is_given_up_after_the_last_attempt(instance_a, monkeypatch):
    with schema_context(instance_a.schema_name):
        monkeypatch.setattr(EmailMessage, "send", _smtp_down)
        row = services.email_send(to=["a@example.com"], subject="Invoice", body="Hi.")
        for hours in range(1, services.MAX_ATTEMPTS + 2):
            _later(monkeypatch, hours=hours * 7)
            services.outbox_sweep()
        row.refresh_from_db()
    assert row.attempts == services.MAX_ATTEMPTS
    assert row.status == "failed" and row.next_attempt_at is None


def test_with_the_broker_down_a_queued_message_waits_for_the_sweep(
    instance_a, mailoutbox, monkeypatch, django_capture_on_commit_callbacks
):
    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(mail_tasks.email_deliver_task, "apply_async", broker_down)
    with schema_context(instance_a.schema_name):
        with django_capture_on_commit_callbacks(execute=True):
            row = services.email_queue(to=["a@example.com"], subject="Receipt", body="Paid.")
        assert mailoutbox == []
        assert OutgoingEmail.objects.get(pk=row.pk).status == "queued"
    monkeypatch.undo()
    with schema_context(instance_a.schema_name):
        _later(monkeypatch, minutes=3)
        assert services.outbox_sweep() == 1
    assert [m.subject for m in mailoutbox] == ["Receipt"]


def test_the_sweep_task_of_one_instance_sends_only_that_instance_mail(
    instance_a, instance_b, mailoutbox, monkeypatch
):
    for info in (instance_a, instance_b):
        with schema_context(info.schema_name):
            OutgoingEmail.objects.create(
                to=[f"x@{info.slug}.example"],
                subject=info.slug,
                body_text="Hi.",
                next_attempt_at=timezone.now() - datetime.timedelta(minutes=1),
            )
    mail_tasks.outbox_sweep.apply(kwargs={"schema_name": instance_b.schema_name})
    assert [m.subject for m in mailoutbox] == ["bluebird"]
    with schema_context(instance_a.schema_name):
        assert OutgoingEmail.objects.get().status == "queued"


def test_a_sent_message_is_never_sent_twice(instance_a, mailoutbox):
    with schema_context(instance_a.schema_name):
        row = services.email_send(to=["a@example.com"], subject="Once", body="Hi.")
        assert services.email_deliver(email_id=row.pk) is None
        try:
            services.email_retry(email=row)
        except services.EmailNotRetryable as refused:
            assert "sent already" in str(refused)
    assert len(mailoutbox) == 1


def test_old_bodies_are_purged_but_the_log_row_and_pending_mail_stay(instance_a):
    with schema_context(instance_a.schema_name):
        old = services.email_send(
            to=["a@example.com"],
            subject="Invoice 1",
            body="Secret amounts",
            attachments=[services.Attachment("1.pdf", content=b"%PDF-1.4")],
        )
        stored = old.attachments[0]["storage_name"]
        waiting = services.email_record(to=["b@example.com"], subject="Waiting", body="Hi.")
        recent = services.email_send(to=["c@example.com"], subject="Recent", body="Hi.")
        long_ago = timezone.now() - datetime.timedelta(days=91)
        OutgoingEmail.objects.filter(pk__in=[old.pk, waiting.pk]).update(created_at=long_ago)

        assert services.email_bodies_purge(days=90) == 1
        old.refresh_from_db()
        assert (old.subject, old.status, old.body_text, old.attachments) == (
            "Invoice 1",
            "sent",
            "",
            [],
        )
        assert old.body_purged_at is not None and not default_storage.exists(stored)
        assert OutgoingEmail.objects.get(pk=waiting.pk).body_text.startswith("Hi.\n")
        assert OutgoingEmail.objects.get(pk=recent.pk).body_text.startswith("Hi.\n")
