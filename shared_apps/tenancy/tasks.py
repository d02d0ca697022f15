"""Platform-wide periodic work, fanned out as one task per instance."""

from django.contrib.sessions.models import Session
from django.utils import timezone

from config.celery import app
from config.tenant_tasks import fan_out, instance_task


@instance_task(name="shared_apps.tenancy.tasks.sessions_clear_expired", ignore_result=True)
def sessions_clear_expired() -> int:
    """Delete the current instance's expired sessions (runs inside its schema)."""
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted


@app.task(name="shared_apps.tenancy.tasks.sessions_clear_all_instances", ignore_result=True)
def sessions_clear_all_instances() -> int:
    """Beat entry point: one `sessions_clear_expired` per instance."""
    return fan_out(sessions_clear_expired)
