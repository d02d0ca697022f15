"""Backups: what a backup holds, failures that show, retention, refused restores, isolation,
S3-compatible storage and the console screen.

The whole-database round trip into an empty database is in test_backups_restore.py (it
needs committed data); these tests run in the usual rolled-back transaction. pg_dump reads
only committed rows, which is fine here: they check the shape and the checks, not rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from django_tenants.utils import schema_context, schema_exists

from provisioning import archive, schemas
from shared_apps.backups import manifest as manifests
from shared_apps.backups import services
from shared_apps.backups.models import Backup
from shared_apps.backups.storage import backup_storage, folder_files
from shared_apps.tenancy.models import Reseller
from shared_apps.tenancy.services import reseller_create
from tenant_apps.instance.models import AuditEvent, IssuerIdentity
from tests.conftest import client_for
from tests.test_helpdesk_fixtures import PNG_BYTES

pytestmark = pytest.mark.django_db

COPY, COPY_SCHEMA = "acme-copy", "r_acme_copy"
EMPTY, EMPTY_SCHEMA = "vide", "r_vide"


@pytest.fixture(autouse=True)
def backup_dir(tmp_path):
    with override_settings(UPLINE_BACKUP_STORAGE="file", UPLINE_BACKUP_DIR=tmp_path / "backups"):
        yield tmp_path / "backups"


@pytest.fixture(autouse=True)
def _files_of_restored_instances_removed():
    """Files written by restores are not rolled back with the test: remove them after it."""
    yield
    for schema_name in (COPY_SCHEMA, EMPTY_SCHEMA, "r_acme_s3"):
        archive.instance_files_delete(schema_name)


def run_now(**options) -> list[Backup]:
    """Back up here and now (as `upline_backup` does) and return the finished rows."""
    queued = services.backup_run(trigger=Backup.Trigger.COMMAND, enqueue=False, **options)
    for backup in queued:
        if backup.kind == Backup.Kind.DATABASE:
            services.backup_database_perform(backup_id=backup.pk)
        else:
            services.backup_instance_perform(backup_id=backup.pk)
    return [Backup.objects.get(pk=b.pk) for b in queued]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fingerprint(schema_name: str, skip: frozenset = frozenset()) -> dict[str, tuple]:
    """Row count and ordered md5 of every table of a schema, seen by this transaction."""
    result = {}
    with connection.cursor() as cursor:
        for table in archive.table_columns(schema_name):
            if table in skip:
                continue
            cursor.execute(
                "SELECT count(*), md5(coalesce(string_agg(md5(t::text), '' "
                f'ORDER BY md5(t::text)), \'\')) FROM "{schema_name}"."{table}" AS t'
            )
            result[table] = cursor.fetchone()
    return result


def file_hashes(schema_name: str) -> dict[str, str]:
    hashes = {}
    for name in archive.instance_files(schema_name):
        with default_storage.open(name, "rb") as handle:
            hashes[name] = hashlib.sha256(handle.read()).hexdigest()
    return hashes


@pytest.fixture
def acme_backup(instance_a, backup_dir) -> Backup:
    """A finished backup of acme's instance, with a stored file (its logo)."""
    with schema_context(instance_a.schema_name):
        identity = IssuerIdentity.objects.get()
        identity.logo.save("logo.png", ContentFile(PNG_BYTES))
    (backup,) = run_now(include_database=False, instance_slugs=["acme"])
    assert backup.status == Backup.Status.SUCCEEDED, backup.error
    yield backup
    default_storage.delete(identity.logo.name)  # files outlive the rolled-back row


# --------------------------------------------------------------------------------------
# What a backup holds


def test_a_database_backup_stores_the_dump_and_media_with_a_signed_manifest(backup_dir):
    (backup,) = run_now(instance_slugs=[])
    assert backup.status == Backup.Status.SUCCEEDED, backup.error
    folder = backup_dir / backup.location
    assert sorted(p.name for p in folder.iterdir()) == [
        "database.dump",
        "manifest.json",
        "manifest.sig",
        "media.tar",
    ]
    manifest = manifests.read(backup_storage(), backup.location).data
    for name in ("database.dump", "media.tar"):
        assert manifest["files"][name] == {
            "sha256": sha(folder / name),
            "size": (folder / name).stat().st_size,
        }
    assert {"public", "r_acme", "r_bluebird", "_template"} <= set(manifest["schemas"])
    assert manifest["tables"]["r_acme.accounts_user"]["rows"] >= 4
    assert manifest["migration_version"] == schemas.migration_version()
    assert manifest["upline_version"] == "0.1.0"
    assert manifest["applied_migrations"]["count"] > 50
    assert backup.size_bytes == sum(f["size"] for f in manifest["files"].values())
    assert backup.manifest_sha256 == sha(folder / "manifest.json")


def test_an_instance_backup_is_its_signed_archive_and_holds_only_that_instance(acme_backup):
    manifest = manifests.read(backup_storage(), acme_backup.location).data
    assert manifest["kind"] == "instance" and manifest["schemas"] == ["r_acme"]
    assert manifest["reseller"]["slug"] == "acme" and manifest["stored_files"] >= 1
    path = Path(settings.UPLINE_BACKUP_DIR) / acme_backup.location / "archive.tar.gz"
    with archive.archive_open(path) as reader:
        assert reader.manifest["source_schema"] == "r_acme"
        rows = reader.manifest["tables"]["accounts_user"]["rows"]
    assert rows == manifest["tables"]["accounts_user"] == fingerprint("r_acme")["accounts_user"][0]


def test_a_run_queues_one_backup_per_instance_and_hands_them_to_the_workers(
    django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    from shared_apps.backups import tasks

    monkeypatch.setattr(tasks.database_backup, "delay", lambda **kw: sent.append(("db", kw)))
    monkeypatch.setattr(tasks.instance_backup, "delay", lambda **kw: sent.append(("inst", kw)))
    with django_capture_on_commit_callbacks(execute=True):
        queued = services.backup_run()
    kinds = [(b.kind, b.reseller_slug) for b in queued]
    assert kinds[0] == ("database", "")
    assert sorted(kinds[1:]) == [("instance", "acme"), ("instance", "bluebird")]
    assert [kind for kind, _ in sent] == ["db", "inst", "inst"]
    assert {kw["backup_id"] for _, kw in sent} == {b.pk for b in queued}


def test_a_task_delivered_twice_backs_up_once(acme_backup):
    assert services.backup_instance_perform(backup_id=acme_backup.pk) is None
    assert Backup.objects.filter(kind="instance", reseller_slug="acme").count() == 1


def test_the_schedule_and_the_sweep_are_on_the_beat():
    assert settings.CELERY_BEAT_SCHEDULE["backups-run"]["task"] == "backups.run"
    assert settings.CELERY_BEAT_SCHEDULE["backups-sweep"]["task"] == "backups.sweep"
    from config.celery import app

    assert {"backups.run", "backups.database_backup", "backups.instance_backup"} <= set(app.tasks)


# --------------------------------------------------------------------------------------
# Failures are visible


def test_a_backup_that_cannot_be_stored_fails_in_plain_words_on_its_row_and_in_the_log(
    tmp_path, caplog, operator
):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the backup folder should be")
    with override_settings(UPLINE_BACKUP_DIR=blocked), caplog.at_level(logging.ERROR):
        (backup,) = run_now(include_database=False, instance_slugs=["acme"])
    assert backup.status == Backup.Status.FAILED
    assert "could not store" in backup.error and backup.finished_at
    assert any("failed" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    page = client_for(operator, operator.owner).get("/console/backups/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "The last backup of acme failed" in text and "could not store" in text


def test_a_backup_of_an_instance_deleted_after_it_was_queued_fails_and_archives_nothing(
    backup_dir,
):
    gone = Backup.objects.create(
        kind="instance", trigger="schedule", reseller_slug="gone", schema_name="r_gone"
    )
    services.backup_instance_perform(backup_id=gone.pk)
    gone.refresh_from_db()
    assert gone.status == Backup.Status.FAILED and "no longer exists" in gone.error
    assert not backup_dir.exists() or not list(folder_files(backup_storage(), "instances"))


def test_the_sweep_reports_a_backup_whose_worker_died_and_one_never_started():
    now = timezone.now()
    died = Backup.objects.create(kind="database", trigger="schedule", status="running")
    Backup.objects.filter(pk=died.pk).update(started_at=now - timedelta(hours=3))
    waiting = Backup.objects.create(kind="instance", trigger="schedule", reseller_slug="acme")
    Backup.objects.filter(pk=waiting.pk).update(created_at=now - timedelta(hours=13))
    fresh = Backup.objects.create(kind="database", trigger="schedule", status="running")
    Backup.objects.filter(pk=fresh.pk).update(started_at=now - timedelta(minutes=5))
    assert services.backups_sweep()["abandoned"] == 2
    died.refresh_from_db(), waiting.refresh_from_db(), fresh.refresh_from_db()
    assert died.status == "failed" and "worker stopped" in died.error
    assert waiting.status == "failed" and "No worker started" in waiting.error
    assert fresh.status == "running"


def test_a_scheduled_run_with_a_misconfigured_storage_records_why_on_every_backup():
    with override_settings(UPLINE_BACKUP_STORAGE="s3", UPLINE_BACKUP_S3_BUCKET=""):
        queued = services.backup_run(trigger=Backup.Trigger.SCHEDULE, enqueue=False)
        services.backup_database_perform(backup_id=queued[0].pk)
        services.backup_instance_perform(backup_id=queued[1].pk)
    failed = Backup.objects.filter(pk__in=[queued[0].pk, queued[1].pk])
    assert {b.status for b in failed} == {"failed"}
    assert all("UPLINE_BACKUP_S3_BUCKET is empty" in b.error for b in failed)


def test_the_console_says_when_backups_are_not_set_up(operator):
    owner = client_for(operator, operator.owner)
    with override_settings(UPLINE_BACKUP_STORAGE="tape"):
        page = owner.get("/console/backups/").content.decode()
        assert "Backups are not set up correctly" in page and "“tape”" in page
        response = owner.post("/console/backups/", follow=True)
    assert "use “file”" in response.content.decode()
    assert not Backup.objects.exists()


# --------------------------------------------------------------------------------------
# Retention


def _aged(kind: str, status: str, days: float, slug: str = "") -> Backup:
    backup = Backup.objects.create(
        kind=kind, trigger="schedule", status=status, reseller_slug=slug, storage="file"
    )
    backup.location = f"{'database' if kind == 'database' else 'instances/' + slug}/b{backup.pk}"
    folder = Path(settings.UPLINE_BACKUP_DIR) / backup.location
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text("{}")
    when = timezone.now() - timedelta(days=days)
    backup.save()
    Backup.objects.filter(pk=backup.pk).update(created_at=when, finished_at=when)
    return backup


def _left() -> set[int]:
    return set(Backup.objects.values_list("pk", flat=True))


def test_prune_removes_backups_past_the_kept_days_but_never_the_newest_good_one():
    with override_settings(UPLINE_BACKUP_KEEP_DAYS=14):
        oldest = _aged("database", "succeeded", 30)
        old_failure = _aged("database", "failed", 25)
        newest_good = _aged("database", "succeeded", 20)  # older than 14 days, yet kept
        recent_failure = _aged("database", "failed", 1)
        lone_archive = _aged("instance", "succeeded", 40, slug="acme")
        old_archive = _aged("instance", "succeeded", 50, slug="acme")
        removed = services.backups_prune()
        assert removed == 3
        assert _left() == {newest_good.pk, recent_failure.pk, lone_archive.pk}
        root = Path(settings.UPLINE_BACKUP_DIR)
        assert not (root / oldest.location).exists() and not (root / old_failure.location).exists()
        assert not (root / old_archive.location).exists()
        assert (root / newest_good.location / "manifest.json").exists()

        # Once a newer good backup exists, the old one goes.
        fresh = _aged("database", "succeeded", 0.5)
        assert services.backups_prune() == 1
        assert _left() == {fresh.pk, recent_failure.pk, lone_archive.pk}


def test_prune_leaves_running_backups_and_backups_in_another_storage_alone():
    with override_settings(UPLINE_BACKUP_KEEP_DAYS=1):
        running = _aged("database", "running", 5)
        elsewhere = _aged("database", "succeeded", 9)
        Backup.objects.filter(pk=elsewhere.pk).update(storage="s3")
        _aged("database", "succeeded", 0)
        assert services.backups_prune() == 0
        assert {running.pk, elsewhere.pk} <= _left()


# --------------------------------------------------------------------------------------
# Damaged or altered backups are refused before anything is touched


def _refused_as_new(location: str, words: str) -> None:
    with pytest.raises(CommandError, match=words):
        call_command("upline_restore", location, "--slug", COPY)
    assert not schema_exists(COPY_SCHEMA)
    assert not Reseller.objects.filter(slug=COPY).exists()
    assert file_hashes(COPY_SCHEMA) == {}


def test_an_archive_with_a_changed_byte_is_refused_and_nothing_is_written(acme_backup):
    path = Path(settings.UPLINE_BACKUP_DIR) / acme_backup.location / "archive.tar.gz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    _refused_as_new(acme_backup.location, "archive.tar.gz .* does not match its manifest")


def test_a_manifest_changed_after_the_backup_is_refused(acme_backup):
    path = Path(settings.UPLINE_BACKUP_DIR) / acme_backup.location / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["files"]["archive.tar.gz"]["size"] += 1
    path.write_text(json.dumps(manifest))
    _refused_as_new(acme_backup.location, "does not match its signature")


def test_a_backup_without_its_manifest_or_a_file_is_refused(acme_backup):
    folder = Path(settings.UPLINE_BACKUP_DIR) / acme_backup.location
    (folder / "archive.tar.gz").unlink()
    _refused_as_new(acme_backup.location, "incomplete: .*archive.tar.gz is missing")
    (folder / "manifest.json").unlink()
    _refused_as_new(acme_backup.location, "No finished backup")


@pytest.mark.parametrize("location", ["../../etc", "database/./x", "database/../../x", ""])
def test_a_location_outside_the_backup_storage_is_refused_with_a_sentence(location):
    with pytest.raises(CommandError, match="is not a backup's folder|Name the backup"):
        call_command("upline_restore", location)


def test_check_says_a_whole_backup_is_whole(acme_backup, capsys):
    call_command("upline_restore", acme_backup.location, "--check")
    assert "is whole" in capsys.readouterr().out


def test_a_damaged_database_dump_is_refused_before_the_target_database_is_even_looked_at(
    backup_dir,
):
    (backup,) = run_now(instance_slugs=[])
    dump = backup_dir / backup.location / "database.dump"
    dump.write_bytes(dump.read_bytes()[:-100])
    with pytest.raises(CommandError, match="database.dump .* does not match its manifest"):
        call_command(
            "upline_restore", backup.location, "--database-url", "postgres://nobody@127.0.0.1:1/x"
        )


# --------------------------------------------------------------------------------------
# Isolation: an instance restore writes into its own instance only


_PLATFORM_TABLES = frozenset(
    {"tenancy_reseller", "tenancy_domain", "tenancy_allocation", "instance_auditevent"}
)


def test_restoring_an_instance_as_a_new_one_writes_into_no_other_instance(acme_backup):
    others = {s: fingerprint(s) for s in ("r_acme", "r_bluebird")}
    public = fingerprint("public", skip=_PLATFORM_TABLES)
    files = {s: file_hashes(s) for s in ("r_acme", "r_bluebird")}
    call_command("upline_restore", acme_backup.location, "--slug", COPY)
    assert {s: fingerprint(s) for s in ("r_acme", "r_bluebird")} == others
    assert fingerprint("public", skip=_PLATFORM_TABLES) == public
    assert {s: file_hashes(s) for s in ("r_acme", "r_bluebird")} == files
    copy = Reseller.objects.get(slug=COPY)
    assert copy.status == Reseller.Status.SUSPENDED
    counts = {t: v[0] for t, v in fingerprint(COPY_SCHEMA).items()}
    assert counts == {t: v[0] for t, v in others["r_acme"].items()}
    assert {n.split("/", 1)[1] for n in file_hashes(COPY_SCHEMA)} == {
        n.split("/", 1)[1] for n in files["r_acme"]
    }


def test_restoring_into_an_instance_that_holds_data_is_refused_and_changes_nothing(
    acme_backup,
):
    before = fingerprint("r_bluebird")
    with pytest.raises(CommandError, match="bluebird is not empty: it holds .*accounts_user"):
        call_command("upline_restore", acme_backup.location, "--into", "bluebird")
    assert fingerprint("r_bluebird") == before


def test_restoring_into_an_instance_that_holds_nothing_yet_fills_it_and_nothing_else(
    acme_backup,
):
    reseller_create(
        slug=EMPTY,
        name="Vide",
        legal_name="Vide SARL",
        owner_email="owner@vide.test",
        owner_password="pw-vide-12345",
        method="template",
    )
    acme = fingerprint("r_acme")
    call_command("upline_restore", acme_backup.location, "--into", EMPTY)
    # The identity's logo is renamed into the instance's own folder (checked below).
    skip = frozenset({"django_migrations", "instance_issueridentity"})
    assert fingerprint(EMPTY_SCHEMA, skip) == fingerprint("r_acme", skip)
    assert fingerprint("r_acme") == acme
    assert AuditEvent.objects.filter(action="reseller.restored", object_label=EMPTY).exists()
    with schema_context(EMPTY_SCHEMA):
        logo = IssuerIdentity.objects.get().logo
        assert logo.name.startswith(f"{EMPTY_SCHEMA}/") and logo.read() == PNG_BYTES


def test_a_whole_database_backup_is_not_restored_as_an_instance(backup_dir):
    (backup,) = run_now(instance_slugs=[])
    with pytest.raises(services.BackupRefused, match="is a whole-database backup"):
        services.instance_restore(location=backup.location, slug=COPY)
    assert not Reseller.objects.filter(slug=COPY).exists()


# --------------------------------------------------------------------------------------
# S3-compatible storage (moto's server, spoken to over HTTP like any provider)


@pytest.fixture
def s3_server():
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",
        region_name="us-east-1",
    ).create_bucket(Bucket="upline-test-backups")
    with override_settings(
        UPLINE_BACKUP_STORAGE="s3",
        UPLINE_BACKUP_S3_BUCKET="upline-test-backups",
        UPLINE_BACKUP_S3_PREFIX="nightly",
        UPLINE_BACKUP_S3_ENDPOINT_URL=endpoint,
        UPLINE_BACKUP_S3_REGION="us-east-1",
        UPLINE_BACKUP_S3_ACCESS_KEY_ID="test-key",
        UPLINE_BACKUP_S3_SECRET_ACCESS_KEY="test-secret",
    ):
        yield endpoint
    server.stop()


def test_backups_go_to_an_s3_bucket_and_restore_from_it(s3_server, instance_a, capsys):
    (backup,) = run_now(include_database=False, instance_slugs=["acme"])
    assert backup.status == Backup.Status.SUCCEEDED, backup.error
    assert backup.storage == "s3"
    stored = sorted(folder_files(backup_storage(), backup.location))
    assert [name.rsplit("/", 1)[1] for name in stored] == [
        "archive.tar.gz",
        "manifest.json",
        "manifest.sig",
    ]
    call_command("upline_restore", "--list")
    assert backup.location in capsys.readouterr().out
    call_command("upline_restore", backup.location, "--slug", "acme-s3")
    assert schema_exists("r_acme_s3")
    assert {t: v[0] for t, v in fingerprint("r_acme_s3").items()} == {
        t: v[0] for t, v in fingerprint("r_acme").items()
    }
    Backup.objects.filter(pk=backup.pk).update(created_at=timezone.now() - timedelta(days=99))
    run_now(include_database=False, instance_slugs=["acme"])  # a newer good one
    assert not list(folder_files(backup_storage(), backup.location))  # pruned from the bucket


# --------------------------------------------------------------------------------------
# Commands


def test_upline_backup_backs_up_now_and_lists_what_it_did(instance_a, capsys):
    call_command("upline_backup", "--no-database", "--instance", "acme")
    out = capsys.readouterr().out
    assert "instance acme: stored at instances/acme/" in out
    call_command("upline_backup", "--list")
    listed = capsys.readouterr().out
    assert "kept 14 days" in listed and "succeeded" in listed and "acme" in listed


def test_upline_backup_refuses_an_unknown_instance_with_a_sentence():
    with pytest.raises(CommandError, match="There is no instance nope to back up"):
        call_command("upline_backup", "--instance", "nope")
    assert not Backup.objects.exists()


def test_upline_backup_exits_with_an_error_when_a_backup_failed(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("x")
    with override_settings(UPLINE_BACKUP_DIR=blocked):
        with pytest.raises(CommandError, match="1 of 1 backups failed"):
            call_command("upline_backup", "--no-database", "--instance", "acme")


# --------------------------------------------------------------------------------------
# Console


def test_the_operator_starts_a_backup_from_the_console_and_the_trail_records_it(
    operator, django_capture_on_commit_callbacks
):
    owner = client_for(operator, operator.owner)
    page = owner.get("/console/backups/")
    assert page.status_code == 200 and "Back up now</button>" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = owner.post("/console/backups/", follow=True)
    assert len(callbacks) == 1  # the tasks go to the workers once committed
    assert "Backup started: the whole database and 2 instance archives" in (
        response.content.decode()
    )
    assert Backup.objects.filter(trigger="operator", status="queued").count() == 3
    assert AuditEvent.objects.filter(action="backup.requested").count() == 1


def test_operator_support_staff_see_backups_but_cannot_start_one(operator):
    support = client_for(operator, operator.support)
    page = support.get("/console/backups/")
    assert page.status_code == 200 and "Back up now</button>" not in page.content.decode()
    assert support.post("/console/backups/").status_code == 403
    assert not Backup.objects.exists()


def test_resellers_and_their_customers_have_no_route_to_backups(instance_a):
    for email in (instance_a.owner, instance_a.customer):
        browser = client_for(instance_a, email)
        assert browser.get("/console/backups/").status_code == 404
        assert browser.post("/console/backups/").status_code == 404
    assert not Backup.objects.exists()


def test_a_stranger_is_sent_to_sign_in(operator):
    response = client_for(operator).get("/console/backups/")
    assert response.status_code == 302 and "login" in response["Location"]
