"""App config of observability: subscribes to finished billing runs (their durations feed
the metrics) and to Celery's task signals (task log lines carry the task's schema)."""

from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    name = "shared_apps.observability"
    label = "observability"
    verbose_name = "Observability"

    def ready(self) -> None:
        from celery.signals import task_postrun, task_prerun
        from django.db.models.signals import post_save

        from tenant_apps.recurring.models import BillingRun

        from . import signals

        post_save.connect(
            signals.billing_run_saved, sender=BillingRun, dispatch_uid="observability-runs"
        )
        task_prerun.connect(signals.task_started, dispatch_uid="observability-task-start")
        task_postrun.connect(signals.task_finished, dispatch_uid="observability-task-end")
