"""Secrets an instance gives us for sending its mail (SMTP password, provider API key),
encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`).

The key is `UPLINE_MAIL_SECRET_KEY` (a Fernet key) when set, else one derived from
SECRET_KEY, so a database dump alone never reveals a reseller's mail password. Changing the
key makes stored secrets unreadable: `secret_reveal` then says so in a sentence and the
owner enters them again.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.utils.translation import gettext

from tenant_apps.instance.errors import DomainError


class SecretUnreadable(DomainError):
    code = "mail_secret_unreadable"
    status_code = 409


def _fernet() -> Fernet:
    key = getattr(settings, "UPLINE_MAIL_SECRET_KEY", "")
    if not key:
        digest = hashlib.sha256(f"upline-mail-secrets:{settings.SECRET_KEY}".encode()).digest()
        key = base64.urlsafe_b64encode(digest).decode()
    return Fernet(key)


def secret_seal(value: str) -> str:
    """`value` encrypted for storage ("" stays "")."""
    return _fernet().encrypt(value.encode()).decode() if value else ""


def secret_reveal(token: str) -> str:
    """The stored secret in clear, only at the moment of sending."""
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable(
            gettext(
                "The saved mail password or API key cannot be read any more (the server's "
                "encryption key changed); enter it again in the e-mail settings."
            )
        ) from exc
