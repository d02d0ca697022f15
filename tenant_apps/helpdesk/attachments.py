"""Attachment checks: size, extension and the file's own first bytes, before anything is written.

An upload is accepted only when its extension is on the allow-list AND its content looks
like that kind of file (magic bytes, or valid UTF-8 text for text types): a `.png` whose
bytes are an executable or an HTML page is refused with a sentence.
"""

from __future__ import annotations

import os
import re
import secrets
import unicodedata
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils.translation import gettext

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_TYPES = ("pdf", "png", "jpeg", "gif", "txt", "log", "csv", "zip")

# Type name → (extensions, content type, magic prefixes; None = text, checked as UTF-8).
KNOWN_TYPES: dict[str, tuple[tuple[str, ...], str, tuple[bytes, ...] | None]] = {
    "pdf": (("pdf",), "application/pdf", (b"%PDF-",)),
    "png": (("png",), "image/png", (b"\x89PNG\r\n\x1a\n",)),
    "jpeg": (("jpg", "jpeg"), "image/jpeg", (b"\xff\xd8\xff",)),
    "gif": (("gif",), "image/gif", (b"GIF87a", b"GIF89a")),
    "zip": (("zip",), "application/zip", (b"PK\x03\x04", b"PK\x05\x06")),
    "txt": (("txt",), "text/plain", None),
    "log": (("log",), "text/plain", None),
    "csv": (("csv",), "text/csv", None),
}


@dataclass(frozen=True)
class CheckedUpload:
    upload: object  # django UploadedFile
    original_name: str
    size: int
    content_type: str


def max_bytes() -> int:
    return int(getattr(settings, "UPLINE_ATTACHMENT_MAX_BYTES", DEFAULT_MAX_BYTES))


def allowed_types() -> tuple[str, ...]:
    return tuple(getattr(settings, "UPLINE_ATTACHMENT_TYPES", DEFAULT_TYPES))


def allowed_extensions() -> list[str]:
    return [ext for name in allowed_types() for ext in KNOWN_TYPES.get(name, ((name,),))[0]]


def _human_size(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB" if size >= 1024 * 1024 else f"{size // 1024} KB"


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        return exc.start >= len(head) - 3
    return True


def _read_head(upload, length: int = 8192) -> bytes:
    upload.seek(0)
    head = upload.read(length)
    upload.seek(0)
    return head


def attachment_check(upload) -> CheckedUpload:
    """Refuse an oversized or disallowed upload with a readable ValidationError."""
    name = os.path.basename(upload.name or "")
    size = upload.size or 0
    if size > max_bytes():
        raise ValidationError(
            gettext("“%(name)s” is %(human_size)s; attachments can be at most %(human_size2)s.")
            % {
                "name": name,
                "human_size": _human_size(size),
                "human_size2": _human_size(max_bytes()),
            }
        )
    if size == 0:
        raise ValidationError(gettext("“%(name)s” is empty.") % {"name": name})
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    kind = next(
        (key for key in allowed_types() if key in KNOWN_TYPES and extension in KNOWN_TYPES[key][0]),
        None,
    )
    if kind is None:
        raise ValidationError(
            gettext("“%(name)s” is not an accepted file type. Accepted: %(allowed_extensions)s.")
            % {"name": name, "allowed_extensions": ", ".join(allowed_extensions())}
        )
    _, content_type, magic = KNOWN_TYPES[kind]
    head = _read_head(upload)
    matches = _looks_like_text(head) if magic is None else head.startswith(magic)
    if not matches:
        raise ValidationError(
            gettext(
                "“%(name)s” does not contain what its name says (a .%(extension)s file "
                "was expected)."
            )
            % {"name": name, "extension": extension}
        )
    return CheckedUpload(upload, name, size, content_type)


def attachments_check(uploads) -> list[CheckedUpload]:
    """Check every upload first, so one bad file means nothing at all is written."""
    return [attachment_check(upload) for upload in uploads or ()]


def safe_filename(name: str) -> str:
    normalised = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    stem, dot, extension = normalised.rpartition(".")
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", stem if dot else normalised).strip("-_") or "file"
    extension = re.sub(r"[^A-Za-z0-9]+", "", extension)[:10] if dot else ""
    return f"{stem[:80]}.{extension}" if extension else stem[:80]


def attachment_upload_to(instance, filename: str) -> str:
    """<schema>/helpdesk/<ticket id>/<random>/<safe name>: per instance, never guessable."""
    ticket_id = instance.message.ticket_id
    return (
        f"{connection.schema_name}/helpdesk/{ticket_id}/{secrets.token_hex(8)}/"
        f"{safe_filename(filename)}"
    )
