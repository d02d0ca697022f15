"""The instance's one audit trail: every write service records what it did, here.

An event has a registered type (`event_type("invoice.issued", "Invoice issued")`, declared
once at module level by the app that owns it), an actor, the object it concerns, the old and
new values of what changed, the time, and for sign-ins the IP address. The actor is:
- a user of this instance (stored as a link and as the e-mail at the time),
- a label for everything else: "system" (the default), "schedule" for beat runs, a
  platform label such as "billing" or "Acme (escalation)", or "<e-mail> (API)" for calls
  made with an API key (see `request_actor`).

Rows are written in the caller's transaction, so a write that rolls back leaves no event.
Inside `deferred.batched()` (hot paths that record several events, such as an escalation
crossing two schemas) they are written when the block ends, in one round trip.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.translation import gettext

from . import deferred
from .models import AuditEvent

SYSTEM = "system"
SCHEDULE = "schedule"


@dataclass(frozen=True)
class EventType:
    code: str
    label: str

    @property
    def object_type(self) -> str:
        return self.code.split(".", 1)[0]


_TYPES: dict[str, EventType] = {}


def event_type(code: str, label: str) -> EventType:
    """Declare an event type once; declaring the same code twice with another label is a
    programming error (two apps would write one code with two meanings)."""
    if "." not in code:
        raise ValueError(f"Event codes read '<object>.<verb>': {code!r}")
    existing = _TYPES.get(code)
    if existing is not None and existing.label != label:
        raise ValueError(f"Event type {code!r} is declared twice with different labels.")
    _TYPES[code] = EventType(code, label)
    return _TYPES[code]


def event_types() -> list[EventType]:
    return sorted(_TYPES.values(), key=lambda t: t.code)


def event_label(code: str) -> str:
    """How an event reads, in the reader's language (labels are declared in English and
    marked with gettext_noop; only the code is stored)."""
    known = _TYPES.get(code)
    return gettext(known.label) if known else code.replace("_", " ").replace(".", ": ")


def object_type_of(obj: models.Model) -> str:
    return obj._meta.model_name


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float | decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(v) for v in value]
    if hasattr(value, "name") and hasattr(value, "storage"):  # a FieldFile
        return value.name or ""
    return str(value)


def snapshot(obj: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """The JSON-safe values of `fields` on `obj` (foreign keys as ids), for `diff`."""
    values = {}
    for name in fields:
        try:
            field = obj._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        attname = getattr(field, "attname", name)
        values[name] = _json_safe(getattr(obj, attname, None))
    return values


def diff(
    before: Mapping[str, Any], after: Mapping[str, Any], *, created: bool = False
) -> dict[str, list]:
    """{"field": [old, new]} for the fields whose value changed (old is None on creation)."""
    return {
        name: [None if created else before.get(name), value]
        for name, value in after.items()
        if created or before.get(name) != value
    }


def _actor(actor) -> tuple[Any, str]:
    """(user to link, label to show) of whoever acts: a user, an API key, a label."""
    if isinstance(actor, ApiActor):
        return actor.user, actor.label
    if actor is None or actor == "":
        return None, SYSTEM
    if isinstance(actor, str):
        return None, actor[:254]
    if getattr(actor, "is_authenticated", False) and getattr(actor, "pk", None):
        return actor, getattr(actor, "email", "") or str(actor)
    return None, SYSTEM


def request_actor(request) -> Any:
    """Who is acting in a request: the user, labelled "(API)" when a key authenticated it."""
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if getattr(request, "auth", None) is not None:
        return ApiActor(user)
    return user


@dataclass(frozen=True)
class ApiActor:
    """A user acting through an API key: linked to the user, labelled as the key."""

    user: Any

    @property
    def label(self) -> str:
        return f"{self.user.email} (API)"


def audit_record(
    event: EventType,
    *,
    actor=None,
    obj: models.Model | None = None,
    object_label: str = "",
    customer_id: int | None = None,
    changes: Mapping[str, list] | None = None,
    detail: Mapping[str, Any] | None = None,
    ip_address: str | None = None,
) -> AuditEvent:
    """Record one event in the current instance's audit trail."""
    if not isinstance(event, EventType):
        raise TypeError("audit_record takes an EventType declared with event_type(...)")
    user, label = _actor(actor)
    if obj is not None and customer_id is None:
        customer_id = getattr(obj, "customer_id", None)
        if customer_id is None and object_type_of(obj) == "customer":
            customer_id = obj.pk
    row = AuditEvent(
        action=event.code,
        actor=user,
        actor_label=label,
        object_type=object_type_of(obj) if obj is not None else event.object_type,
        object_id=str(obj.pk) if obj is not None and obj.pk is not None else "",
        object_label=(object_label or (str(obj) if obj is not None else ""))[:200],
        customer_id=customer_id,
        changes=_json_safe(dict(changes or {})),
        detail=_json_safe(dict(detail or {})),
        ip_address=ip_address or None,
    )
    if not deferred.insert_later(row):
        row.save(force_insert=True)
    return row


def audit_record_many(
    event: EventType,
    objects: Iterable[models.Model],
    *,
    actor=None,
    changes: Mapping[str, list] | None = None,
    detail: Mapping[str, Any] | None = None,
) -> int:
    """Record the same event for many objects in one INSERT (bulk runs: renewals issue
    thousands of invoices in a batch, and one row each keeps every object's history whole)."""
    if not isinstance(event, EventType):
        raise TypeError("audit_record_many takes an EventType declared with event_type(...)")
    user, label = _actor(actor)
    extra = _json_safe(dict(detail or {}))
    moved = _json_safe(dict(changes or {}))
    rows = [
        AuditEvent(
            action=event.code,
            actor=user,
            actor_label=label,
            object_type=object_type_of(obj),
            object_id=str(obj.pk),
            object_label=str(obj)[:200],
            customer_id=getattr(obj, "customer_id", None),
            changes=moved,
            detail=extra,
        )
        for obj in objects
    ]
    AuditEvent.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


# --------------------------------------------------------------------------------------
# Reading events: what every screen shows of a change (labels, never raw codes)


@functools.cache
def _model_for(object_type: str):
    for model in apps.get_models():
        if model._meta.model_name == object_type:
            return model
    return None


def _field(object_type: str, name: str):
    model = _model_for(object_type)
    if model is None:
        return None
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        return None


def object_type_label(object_type: str) -> str:
    """ "issueridentity" → "Issuer identity" (the model's own name for itself)."""
    model = _model_for(object_type)
    name = model._meta.verbose_name if model is not None else object_type.replace("_", " ")
    return str(name)[:1].upper() + str(name)[1:]


def field_label(object_type: str, name: str) -> str:
    field = _field(object_type, name)
    label = getattr(field, "verbose_name", None) or name.replace("_", " ")
    return str(label)[:1].upper() + str(label)[1:]


def value_label(object_type: str, name: str, value: Any) -> str:
    """A stored value as people read it: a choice's label, yes/no, "—" for nothing."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    field = _field(object_type, name)
    choices = dict(getattr(field, "flatchoices", None) or [])
    return str(choices.get(value, value))


def change_lines(object_type: str, changes: Mapping[str, Any] | None) -> list[str]:
    """["Status: Open → Awaiting customer", …] for an event's recorded changes."""
    lines = []
    for name, values in (changes or {}).items():
        label = field_label(object_type, name)
        if isinstance(values, list | tuple) and len(values) == 2:
            old, new = values
            lines.append(
                f"{label}: {value_label(object_type, name, old)} → "
                f"{value_label(object_type, name, new)}"
            )
        else:
            lines.append(f"{label}: {value_label(object_type, name, values)}")
    return lines
