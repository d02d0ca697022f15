"""The console's Backups screen: what was backed up, how it went and how big it is, the
last failure in plain words, and a button that backs everything up now.

Every operator staff member reads it; the owner and administrators start a backup.
Resellers have no route to it: the console lives on the operator's domain only.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ImproperlyConfigured
from django.shortcuts import redirect
from django.utils.translation import ngettext
from django.views.generic import TemplateView

from shared_apps.backups.models import Backup
from shared_apps.backups.selectors import (
    backup_last_failure,
    backup_last_success,
    backup_list,
    backup_policy,
)
from shared_apps.backups.services import BackupRefused, backup_run

from .views import OperatorManagerMixin

STATUS_BADGES = {
    Backup.Status.QUEUED: "neutral",
    Backup.Status.RUNNING: "info",
    Backup.Status.SUCCEEDED: "success",
    Backup.Status.FAILED: "danger",
}


class BackupsView(OperatorManagerMixin, TemplateView):
    template_name = "console/backups.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rows = list(backup_list(limit=100))
        for row in rows:
            row.badge = STATUS_BADGES.get(row.status, "neutral")
        try:
            policy, policy_error = backup_policy(), ""
        except ImproperlyConfigured as exc:
            policy, policy_error = None, str(exc)
        context.update(
            rows=rows,
            policy=policy,
            policy_error=policy_error,
            last_failure=backup_last_failure(),
            last_database=backup_last_success(Backup.Kind.DATABASE),
            can_manage=self.request.user.can_manage_instance,
        )
        return context

    def post(self, request, *args, **kwargs):
        self.check_manager()
        try:
            queued = backup_run(trigger=Backup.Trigger.OPERATOR, actor=request.user)
        except (BackupRefused, ImproperlyConfigured) as exc:
            messages.error(request, str(exc))
        else:
            archives = sum(1 for b in queued if b.kind == Backup.Kind.INSTANCE)
            messages.success(
                request,
                ngettext(
                    "Backup started: the whole database and %(count)s instance archive. "
                    "This page shows how each one goes.",
                    "Backup started: the whole database and %(count)s instance archives. "
                    "This page shows how each one goes.",
                    archives,
                )
                % {"count": archives},
            )
        return redirect("console:backups")
