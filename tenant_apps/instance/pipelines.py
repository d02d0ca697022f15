"""State pipelines: each model with a status declares which moves are legal, and every status
write goes through `transition`, which refuses an illegal move with a sentence.

    class Service(models.Model):
        class Status(models.TextChoices): ...
        pipeline = Pipeline(Status, {Status.PENDING: {Status.ACTIVE, Status.CANCELLED}, ...})

    before = transition(service, Service.Status.ACTIVE)   # sets service.status, or raises

`transition` changes the object in memory only: the caller holds the row lock, saves, and
records the audit event (the pipeline is the rule, the service is the write).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from django.db import models
from django.utils.translation import gettext as _
from rest_framework import status

from tenant_apps.instance.errors import DomainError


class InvalidTransition(DomainError):
    """A status move the pipeline does not allow (409 in the API, a message on screens)."""

    status_code = status.HTTP_409_CONFLICT
    code = "invalid_transition"


def _default_message(noun: str, current: str, target: str) -> str:
    return _("%(noun)s is %(current)s; it cannot become %(target)s.") % {
        "noun": noun,
        "current": current,
        "target": target,
    }


class Pipeline:
    """The legal moves between the values of one status field."""

    def __init__(
        self,
        states: type[models.TextChoices],
        moves: Mapping[str, Iterable[str]],
        *,
        field: str = "status",
        error: type[InvalidTransition] = InvalidTransition,
        message: Callable[[str, str, str], str] = _default_message,
    ) -> None:
        unknown = {*moves, *(t for targets in moves.values() for t in targets)} - set(states.values)
        if unknown:
            raise ValueError(f"Pipeline names states {sorted(unknown)} not in {states.__name__}")
        self.states = states
        self.moves = {str(k): frozenset(str(t) for t in v) for k, v in moves.items()}
        self.field = field
        self.error = error
        self.message = message

    def targets(self, current: str) -> frozenset[str]:
        return self.moves.get(str(current), frozenset())

    def allows(self, current: str, target: str) -> bool:
        return str(target) in self.targets(current)

    def label(self, value: str) -> str:
        try:
            return str(self.states(value).label).lower()
        except ValueError:
            return str(value)

    def check(self, current: str, target: str, *, noun: str | None = None) -> None:
        noun = noun if noun is not None else _("It")
        if not self.allows(current, target):
            raise self.error(self.message(noun, self.label(current), self.label(target)))


def transition(obj: models.Model, target: str, *, noun: str | None = None) -> str:
    """Move `obj` to `target` along its model's pipeline; returns the state it left.

    Raises the pipeline's InvalidTransition (with a readable sentence) and leaves `obj`
    untouched when the move is not allowed.
    """
    pipeline: Pipeline = type(obj).pipeline
    current = getattr(obj, pipeline.field)
    pipeline.check(
        current, target, noun=noun or _("The %(object)s") % {"object": obj._meta.verbose_name}
    )
    setattr(obj, pipeline.field, target)
    return current
