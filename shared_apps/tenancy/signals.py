"""Keep the routing cache honest when domains, resellers or the suspension policy change by
any path (admin too)."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from . import routing
from .models import Domain, Reseller, SuspensionPolicy


@receiver([post_save, post_delete], sender=Domain)
@receiver([post_save, post_delete], sender=Reseller)
@receiver([post_save, post_delete], sender=SuspensionPolicy)
def _routing_changed(sender, **kwargs) -> None:
    transaction.on_commit(routing.invalidate)
