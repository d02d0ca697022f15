"""Showing a service's ValidationError on the form that called it (one helper for all apps)."""

from __future__ import annotations

from collections.abc import Mapping

from django import forms
from django.core.exceptions import ValidationError


def form_add_service_errors(
    form: forms.BaseForm, exc: ValidationError, aliases: Mapping[str, str] | None = None
) -> None:
    """Put each error on the field it names (`aliases` maps service names to form fields);
    errors naming no field of this form go on top of the form, so none is ever lost."""
    aliases = aliases or {}
    items = exc.message_dict.items() if hasattr(exc, "error_dict") else [(None, exc.messages)]
    for field, errors in items:
        field = aliases.get(field, field)
        for error in errors:
            form.add_error(field if field in form.fields else None, error)
