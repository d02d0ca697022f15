"""Test helpers for two-factor sign-in: give a user an authenticator app, and compute the
code it would show (django_otp.oath.totp), as a phone would."""

from __future__ import annotations

from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice


def give_app(user) -> TOTPDevice:
    """A confirmed authenticator app for `user` (in the current schema)."""
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def app_code(device: TOTPDevice, steps_ahead: int = 0) -> str:
    """The code the app shows now (or `steps_ahead` periods later: a code is accepted once,
    so a second sign-in within the same 30 seconds needs the next one)."""
    value = totp(
        device.bin_key,
        step=device.step,
        t0=device.t0 - steps_ahead * device.step,
        digits=device.digits,
        drift=device.drift,
    )
    return f"{value:0{device.digits}d}"
