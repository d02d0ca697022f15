"""Instance archives: the export → delete → import round trip, and archives that are refused.

An archive is data, never code: import builds the schema from the local template and loads
only rows and files that its signed manifest lists and the local template accepts. Every
refusal below must leave nothing behind — no schema, no reseller, no domain, no file.
Tampered archives are re-signed with this server's key where the test is about a later
check (as if the key had leaked), and left with their old signature where it is about the
signature.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import tarfile
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings
from django_tenants.utils import schema_context, schema_exists

from provisioning import archive
from provisioning.models import ExportRecord
from shared_apps.tenancy.models import Allocation, Domain, Reseller
from shared_apps.tenancy.services import (
    ArchiveRefused,
    DeletionRefused,
    QuotaExceeded,
    reseller_create,
    reseller_delete,
    reseller_export,
    reseller_import,
)
from tenant_apps.accounts.models import Role
from tenant_apps.helpdesk.models import Attachment
from tenant_apps.instance.models import AuditEvent, IssuerIdentity
from tenant_apps.instance.selectors import audit_event_list
from tests.conftest import client_for
from tests.test_helpdesk_fixtures import PNG_BYTES, CustomerFactory, open_ticket, upload

pytestmark = pytest.mark.django_db

COPY = "acme-copy"
COPY_SCHEMA = "r_acme_copy"


@pytest.fixture(autouse=True)
def _media_of_imports_removed():
    """Files written by imports are not rolled back with the test: remove them after it."""
    yield
    for schema_name in (COPY_SCHEMA, "r_roundtrip"):
        archive.instance_files_delete(schema_name)


# --------------------------------------------------------------------------------------
# Helpers


def row_counts(schema_name: str) -> dict[str, int]:
    with connection.cursor() as cursor:
        counts = {}
        for table in archive.table_columns(schema_name):
            cursor.execute(f'SELECT count(*) FROM "{schema_name}"."{table}"')
            counts[table] = cursor.fetchone()[0]
    return counts


def file_hashes(schema_name: str) -> dict[str, str]:
    """Each stored file of the instance (path inside its folder) and its SHA-256."""
    hashes = {}
    for name in archive.instance_files(schema_name):
        with default_storage.open(name, "rb") as handle:
            hashes[name[len(schema_name) + 1 :]] = hashlib.sha256(handle.read()).hexdigest()
    return hashes


def settle_foreign_keys() -> None:
    """Run the foreign-key checks PostgreSQL defers to commit. A reseller is never created
    and deleted in one transaction outside tests, and DROP refuses tables whose checks are
    still pending."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def read_members(path: Path) -> list[tuple[str, bytes]]:
    with tarfile.open(path, "r:gz") as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]


def write_members(path: Path, members: list) -> Path:
    """Members are (name, payload) pairs, or TarInfo headers without data (links)."""
    with tarfile.open(path, "w:gz") as tar:
        for item in members:
            if isinstance(item, tarfile.TarInfo):
                tar.addfile(item)
                continue
            info = tarfile.TarInfo(item[0])
            info.size = len(item[1])
            tar.addfile(info, io.BytesIO(item[1]))
    return path


def sha(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def tampered(
    source: Path,
    target: Path,
    *,
    edit=None,
    members: dict[str, bytes] | None = None,
    raw_members: dict[str, bytes] | None = None,
    extra: list = (),
    resign: bool = True,
) -> Path:
    """A copy of `source` with its manifest edited (`edit(manifest)`), members replaced
    (`members`: the manifest's digests follow; `raw_members`: they do not) and `extra`
    members appended; re-signed with this server's key unless `resign` is off."""
    items = read_members(source)
    data = dict(items)
    manifest = json.loads(data["manifest.json"])
    for name, payload in (members or {}).items():
        data[name] = payload
        manifest["members"][name] = {"sha256": sha(payload), "size": len(payload)}
    data.update(raw_members or {})
    if edit:
        edit(manifest)
    changed = edit or members
    manifest_bytes = json.dumps(manifest).encode() if changed else data["manifest.json"]
    signature = (
        archive.manifest_signature(manifest_bytes).encode() if resign else data["manifest.sig"]
    )
    names = [n for n, _ in items] + [n for n in data if n not in dict(items)]
    body = [(n, data[n]) for n in names if n not in ("manifest.json", "manifest.sig")]
    return write_members(
        target, [("manifest.json", manifest_bytes), ("manifest.sig", signature), *body, *extra]
    )


def assert_nothing_written(slug: str = COPY) -> None:
    schema_name = "r_" + slug.replace("-", "_")
    assert not schema_exists(schema_name)
    assert not Reseller.objects.filter(slug=slug).exists()
    assert not Domain.objects.filter(domain__startswith=f"{slug}.").exists()
    assert file_hashes(schema_name) == {}
    assert not AuditEvent.objects.filter(action="reseller.imported", object_label=slug).exists()


def refused(path: Path, words: str, slug: str = COPY, **options) -> None:
    with pytest.raises(ArchiveRefused) as exc:
        reseller_import(path=path, slug=slug, **options)
    assert words in str(exc.value)
    assert_nothing_written(slug)


@pytest.fixture
def exported(instance_a, tmp_path):
    """acme exported with a stored file, as the archive every tampering test starts from."""
    with schema_context(instance_a.schema_name):
        identity = IssuerIdentity.objects.get()
        identity.logo.save("logo.png", ContentFile(PNG_BYTES))
    record = reseller_export(reseller=instance_a.reseller(), directory=tmp_path / "exports")
    yield Path(record.path)
    default_storage.delete(identity.logo.name)  # files outlive the rolled-back row


# --------------------------------------------------------------------------------------
# Round trip


def test_export_delete_import_round_trip_gives_back_every_row_and_file(
    tmp_path, django_capture_on_commit_callbacks
):
    reseller = reseller_create(
        slug="roundtrip",
        name="Round Trip",
        legal_name="Round Trip SARL",
        owner_email="owner@rt.test",
        owner_password="pw-rt-12345",
        custom_domains=["billing.rt.example"],
        allocations={"disk_gb": 42},
        method="template",
    )
    with schema_context("r_roundtrip"):
        User = get_user_model()
        for i in range(25):
            User.objects.create_user(email=f"c{i}@rt.test", role=Role.CUSTOMER)
        customer = CustomerFactory(user=User.objects.get(email="c0@rt.test"), email="c0@rt.test")
        open_ticket(customer, attachments=[upload("screen shot.png", PNG_BYTES)])
        IssuerIdentity.objects.get().logo.save("logo.png", ContentFile(b"\x89PNG logo"))
        # A stored invoice PDF (rendering one is another suite's business).
        default_storage.save("r_roundtrip/invoices/invoice/RT-0001.pdf", ContentFile(b"%PDF-1.7"))
    rows_before = row_counts("r_roundtrip")
    files_before = file_hashes("r_roundtrip")
    assert len(files_before) == 3

    with pytest.raises(DeletionRefused, match="Export"):
        reseller_delete(reseller=reseller, confirm_slug="roundtrip")
    record = reseller_export(reseller=reseller, directory=tmp_path)
    assert Path(record.path).exists() and record.size_bytes > 0
    with pytest.raises(DeletionRefused, match="Type the slug"):
        reseller_delete(reseller=reseller, confirm_slug="roundtrp")
    settle_foreign_keys()
    with django_capture_on_commit_callbacks(execute=True):
        reseller_delete(reseller=reseller, confirm_slug="roundtrip")
    assert not schema_exists("r_roundtrip")
    assert not Reseller.objects.filter(slug="roundtrip").exists()
    assert file_hashes("r_roundtrip") == {}  # the files went with the instance

    imported = reseller_import(path=Path(record.path))
    assert row_counts("r_roundtrip") == rows_before
    assert file_hashes("r_roundtrip") == files_before
    assert imported.status == Reseller.Status.SUSPENDED
    assert imported.allocations.get(resource_id="disk_gb").quantity == 42
    assert sorted(d.domain for d in imported.domains.all()) == [
        "billing.rt.example",
        "roundtrip.upline.localhost",
    ]
    with schema_context("r_roundtrip"):
        User = get_user_model()
        assert User.objects.get(email="owner@rt.test").check_password("pw-rt-12345")
        attachment = Attachment.objects.get()
        assert attachment.file.read() == PNG_BYTES
        # Sequences continue after the imported rows.
        newest = User.objects.order_by("-pk").first().pk
        assert User.objects.create_user(email="new@rt.test").pk > newest


def test_an_import_under_a_new_slug_moves_the_files_into_the_new_instances_folder(exported):
    reseller_import(path=exported, slug=COPY)
    with schema_context(COPY_SCHEMA):
        logo = IssuerIdentity.objects.get().logo
        assert logo.name.startswith(f"{COPY_SCHEMA}/identity/logo")
        assert logo.read() == PNG_BYTES
    assert file_hashes(COPY_SCHEMA) == file_hashes("r_acme")
    counts, source = row_counts(COPY_SCHEMA), row_counts("r_acme")
    assert counts == source


def test_the_imported_instance_starts_suspended_for_review(exported):
    imported = reseller_import(path=exported, slug=COPY)
    assert imported.status == Reseller.Status.SUSPENDED
    assert "review" in imported.status_reason
    event = AuditEvent.objects.get(action="reseller.imported", object_label=COPY)
    assert event.detail["status"] == "suspended"
    assert event.detail["files"] == len(file_hashes("r_acme")) >= 1


def test_the_operator_may_import_it_active_and_grant_other_allocations(exported):
    call_command(
        "reseller_import", str(exported), "--slug", COPY, "--status", "active",
        "--allocation", "disk_gb=7",
    )  # fmt: skip
    imported = Reseller.objects.get(slug=COPY)
    assert imported.status == Reseller.Status.ACTIVE
    assert imported.allocations.get(resource_id="disk_gb").quantity == 7
    assert imported.allocations.get(resource_id="hosting_accounts").quantity == 10


def test_an_allocation_below_what_the_instance_uses_is_refused(instance_a, tmp_path):
    Allocation.objects.filter(reseller__slug="acme", resource_id="disk_gb").update(used=30)
    record = reseller_export(reseller=instance_a.reseller(), directory=tmp_path)
    with pytest.raises(QuotaExceeded, match="already uses 30"):
        reseller_import(path=Path(record.path), slug=COPY, allocations={"disk_gb": 10})
    assert_nothing_written()


def test_import_under_a_taken_slug_is_refused(exported):
    with pytest.raises(Exception, match="already exists"):
        reseller_import(path=exported)


# --------------------------------------------------------------------------------------
# Tampered archives: refused, nothing written


def test_an_extra_sql_member_is_refused(exported, tmp_path):
    sql = b"UPDATE public.accounts_user SET is_superuser = true;"
    bad = tampered(exported, tmp_path / "sql.tar.gz", resign=False, extra=[("pre_data.sql", sql)])
    refused(bad, "pre_data.sql")


def test_an_extra_data_member_the_manifest_does_not_list_is_refused(exported, tmp_path):
    extra = [("data/accounts_user.copy", b"")]
    bad = tampered(exported, tmp_path / "twice.tar.gz", resign=False, extra=extra)
    refused(bad, "twice")


@pytest.mark.parametrize(
    "table",
    [
        'accounts_user"; DROP SCHEMA public CASCADE; --',
        "public.accounts_user",
        "django_migrations",
        "no_such_table",
    ],
)
def test_a_table_the_local_template_lacks_is_refused(exported, tmp_path, table):
    def rename(manifest):
        manifest["tables"][table] = manifest["tables"].pop("accounts_user")
        manifest["members"][f"data/{table}.copy"] = manifest["members"].pop(
            "data/accounts_user.copy"
        )

    refused(
        tampered(exported, tmp_path / "table.tar.gz", edit=rename), "table Upline does not have"
    )


def test_an_unknown_column_is_refused(exported, tmp_path):
    def add_column(manifest):
        manifest["tables"]["accounts_user"]["columns"].append('is_root" = true; --')

    refused(tampered(exported, tmp_path / "column.tar.gz", edit=add_column), "does not have")


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m["reseller"].update(status="active"),
        lambda m: m["reseller"]["allocations"]["disk_gb"].update(quantity=10**6),
        lambda m: m["reseller"]["custom_domains"].append("console.operator.example"),
    ],
    ids=["status", "allocation", "domain"],
)
def test_a_manifest_changed_without_re_signing_is_refused(exported, tmp_path, edit):
    bad = tampered(exported, tmp_path / "edited.tar.gz", edit=edit, resign=False)
    refused(bad, "signature does not match")


def test_a_bad_or_missing_signature_is_refused(exported, tmp_path):
    members = read_members(exported)
    forged = [(n, b"0" * 64 if n == "manifest.sig" else p) for n, p in members]
    refused(write_members(tmp_path / "forged.tar.gz", forged), "signature does not match")
    unsigned = [(n, p) for n, p in members if n != "manifest.sig"]
    refused(write_members(tmp_path / "unsigned.tar.gz", unsigned), "not signed")


def test_an_archive_signed_with_another_servers_key_is_refused(instance_a, tmp_path):
    with override_settings(UPLINE_ARCHIVE_KEY="another server's archive key"):
        record = reseller_export(reseller=instance_a.reseller(), directory=tmp_path)
    refused(Path(record.path), "another archive key")


def test_a_member_changed_after_export_is_refused_by_its_digest(exported, tmp_path):
    payload = dict(read_members(exported))["data/accounts_user.copy"]
    forged = payload.replace(b"customer@acme.test", b"customer@evil.test")
    raw = {"data/accounts_user.copy": forged}
    refused(tampered(exported, tmp_path / "rows.tar.gz", raw_members=raw), "digest")


def test_rows_that_break_a_foreign_key_are_refused(exported, tmp_path):
    bad = tampered(
        exported,
        tmp_path / "fk.tar.gz",
        members={"data/django_content_type.copy": b""},
        edit=lambda m: m["tables"]["django_content_type"].update(rows=0),
    )
    refused(bad, "do not hold together")


def test_a_file_name_pointing_at_another_instance_is_refused(instance_a, tmp_path):
    with schema_context(instance_a.schema_name):
        IssuerIdentity.objects.update(logo="r_bluebird/identity/logo.png")
    record = reseller_export(reseller=instance_a.reseller(), directory=tmp_path)
    refused(Path(record.path), "outside the instance's own folder")


def test_an_oversized_member_is_refused(exported):
    with override_settings(UPLINE_ARCHIVE_MAX_MEMBER_BYTES=40):
        refused(exported, "UPLINE_ARCHIVE_MAX_MEMBER_BYTES")


def test_an_archive_that_unpacks_past_the_total_limit_is_refused(exported):
    with override_settings(UPLINE_ARCHIVE_MAX_TOTAL_BYTES=exported.stat().st_size):
        refused(exported, "UPLINE_ARCHIVE_MAX_TOTAL_BYTES")


def test_a_gzip_bomb_is_refused_while_reading(exported, tmp_path):
    bomb = b"\0" * (16 * 1024 * 1024)  # 16 MiB of zeros: about 16 KiB compressed

    def understate(manifest):  # the manifest claims a small file: only the stream tells
        manifest["members"]["files/bomb.bin"]["size"] = 10

    bad = tampered(
        exported, tmp_path / "bomb.tar.gz", members={"files/bomb.bin": bomb}, edit=understate
    )
    assert bad.stat().st_size < 200_000
    with override_settings(UPLINE_ARCHIVE_MAX_MEMBER_BYTES=1024 * 1024):
        refused(bad, "unpacks to 16777216 bytes, more than a member may hold")


def test_a_header_that_unpacks_past_the_limits_is_refused(exported, tmp_path):
    """tarfile would buffer a pax header whole: the reader stops it at the allowance."""
    target = tmp_path / "pax.tar.gz"
    with tarfile.open(target, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("manifest.json")
        info.pax_headers = {"comment": "x" * (4 * 1024 * 1024)}
        tar.addfile(info, io.BytesIO(b""))
    refused(target, "more than the size limits allow")


def test_too_many_members_are_refused(exported):
    with override_settings(UPLINE_ARCHIVE_MAX_MEMBERS=5):
        refused(exported, "UPLINE_ARCHIVE_MAX_MEMBERS")


@pytest.mark.parametrize(
    "name", ["../evil.txt", "files/../../r_bluebird/evil.txt", "/etc/cron.d/evil", "files/./x"]
)
def test_a_member_whose_name_leaves_its_folder_is_refused(exported, tmp_path, name):
    bad = tampered(exported, tmp_path / "path.tar.gz", members={name: b"evil"})
    refused(bad, "unsafe name")


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE])
def test_a_link_or_device_member_is_refused(exported, tmp_path, kind):
    link = tarfile.TarInfo("files/identity/passwd")
    link.type, link.linkname = kind, "/etc/passwd"
    refused(tampered(exported, tmp_path / "link.tar.gz", extra=[link]), "not a plain file")


def test_a_format_1_archive_is_refused_with_the_reason(tmp_path):
    old = write_members(
        tmp_path / "format1.tar.gz",
        [
            ("data/accounts_user.copy", b""),
            ("pre_data.sql", b"CREATE TABLE __upline_schema__.x (); DROP SCHEMA public;"),
            ("post_data.sql", b""),
            ("sequences.json", b"{}"),
            ("manifest.json", json.dumps({"format": 1, "slug": "old"}).encode()),
        ],
    )
    refused(old, "format 1, which carries SQL", slug="old")


def test_a_migration_state_that_differs_is_refused(exported, tmp_path):
    edit = lambda m: m.update(migration_version="0" * 64)  # noqa: E731
    refused(tampered(exported, tmp_path / "old.tar.gz", edit=edit), "different version")


@pytest.mark.parametrize(
    "domain", ["acme.upline.localhost", "bad domain.example", "127.0.0.1", "upline.localhost"]
)
def test_an_invalid_domain_in_the_manifest_is_refused(exported, tmp_path, domain):
    edit = lambda m: m["reseller"]["custom_domains"].append(domain)  # noqa: E731
    bad = tampered(exported, tmp_path / "domain.tar.gz", edit=edit)
    with pytest.raises(ValidationError) as exc:
        reseller_import(path=bad, slug=COPY)
    assert "custom_domains" in exc.value.message_dict
    assert_nothing_written()


def test_a_damaged_archive_is_a_clear_command_error(tmp_path):
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not a tarball")
    with pytest.raises(CommandError, match="not an Upline instance archive"):
        call_command("reseller_import", str(bad))
    with pytest.raises(CommandError, match="No archive"):
        call_command("reseller_import", str(tmp_path / "missing.tar.gz"))


def test_the_import_command_exits_1_with_a_sentence_and_no_traceback(
    exported, tmp_path, capsys, monkeypatch
):
    bad = tampered(exported, tmp_path / "bad.tar.gz", resign=False, edit=lambda m: m.clear())
    # The command closes connections when it ends; the test's transaction must survive it.
    monkeypatch.setattr("django.core.management.base.connections.close_all", lambda: None)
    with pytest.raises(SystemExit) as exit_status:
        ManagementUtility(["manage.py", "reseller_import", str(bad), "--skip-checks"]).execute()
    assert exit_status.value.code == 1
    err = capsys.readouterr().err
    assert "signature does not match" in err and "Traceback" not in err


def test_a_refused_export_in_the_console_is_a_message(operator, instance_a, tmp_path, settings):
    settings.UPLINE_EXPORT_DIR = tmp_path
    settings.UPLINE_ARCHIVE_MAX_MEMBERS = 3
    console = client_for(operator, operator.owner)
    response = console.post("/console/resellers/acme/export/", follow=True)
    assert response.status_code == 200
    assert b"more than UPLINE_ARCHIVE_MAX_MEMBERS" in response.content
    assert not ExportRecord.objects.filter(reseller_slug="acme").exists()
    assert list(tmp_path.iterdir()) == []  # no partial archive or staging folder left


# --------------------------------------------------------------------------------------
# Commands and the trail


def test_delete_command_requires_confirmation(tmp_path):
    reseller_create(
        slug="delcmd",
        name="Del",
        legal_name="Del Ltd",
        owner_email="o@del.test",
        owner_password="pw-del-12345",
        method="template",
    )
    call_command("reseller_export", "delcmd", "--dir", str(tmp_path))
    assert ExportRecord.objects.filter(reseller_slug="delcmd").exists()
    with pytest.raises(CommandError, match="--confirm"):
        call_command("reseller_delete", "delcmd", interactive=False)
    settle_foreign_keys()
    call_command("reseller_delete", "delcmd", "--confirm", "delcmd")
    assert not schema_exists("r_delcmd")


def test_the_trail_keeps_a_deleted_resellers_history_when_exported_and_deleted_by_command(
    tmp_path,
):
    reseller = reseller_create(
        slug="gone",
        name="Gone",
        legal_name="Gone Ltd",
        owner_email="o@gone.test",
        owner_password="pw-gone-12345",
        method="template",
        actor="command",
    )
    call_command("reseller_export", "gone", "--dir", str(tmp_path))
    settle_foreign_keys()
    call_command("reseller_delete", "gone", "--confirm", "gone")
    connection.set_schema_to_public()
    history = audit_event_list(object_type="reseller", object_id=str(reseller.pk))
    assert list(history.values_list("action", "actor_label", "object_label")) == [
        ("reseller.deleted", "command", "gone"),
        ("reseller.exported", "command", "gone"),
        ("reseller.created", "command", "gone"),
    ]


def test_without_an_archive_key_the_key_is_derived_from_the_secret_key_for_archives_only():
    with override_settings(UPLINE_ARCHIVE_KEY=""):
        derived = archive.manifest_signature(b"{}")
        plain = hmac.new(settings.SECRET_KEY.encode(), b"{}", hashlib.sha256).hexdigest()
        assert derived != plain  # a salt of its own: no other use of SECRET_KEY signs this
    with override_settings(UPLINE_ARCHIVE_KEY="", SECRET_KEY="another secret key"):
        assert archive.manifest_signature(b"{}") != derived
