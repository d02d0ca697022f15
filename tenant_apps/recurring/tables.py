"""Tables of recurring billing screens."""

from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .models import BillingRun

RUN_BADGES = {
    BillingRun.Status.RUNNING: "badge-info",
    BillingRun.Status.DONE: "badge-success",
    BillingRun.Status.FAILED: "badge-danger",
}


class BillingRunTable(tables.Table):
    started_at = tables.DateTimeColumn(format="Y-m-d H:i", verbose_name=gettext_lazy("Started"))
    kind = tables.Column(verbose_name=gettext_lazy("Kind"))
    run_date = tables.DateColumn(format="Y-m-d", verbose_name=gettext_lazy("For date"))
    triggered_by = tables.Column(verbose_name=gettext_lazy("Triggered by"))
    results = tables.Column(empty_values=(), orderable=False, verbose_name=gettext_lazy("Results"))
    status = tables.Column(verbose_name=gettext_lazy("Status"))

    class Meta:
        model = BillingRun
        fields = ["started_at", "kind", "run_date", "triggered_by", "results", "status"]
        empty_text = gettext_lazy("No billing runs yet.")
        attrs = {"class": "table"}

    def render_started_at(self, record, value):
        return format_html(
            '<a href="{}">{}</a>',
            reverse("recurring:run_detail", args=[record.pk]),
            value.strftime("%Y-%m-%d %H:%M"),
        )

    def render_kind(self, record):
        return record.get_kind_display()

    def render_triggered_by(self, value):
        if value == "schedule":
            return format_html('<span class="muted">{}</span>', _("Schedule"))
        return value

    def render_results(self, record):
        return run_summary(record)

    def render_status(self, record):
        return format_html(
            '<span class="badge {}">{}</span>',
            RUN_BADGES.get(record.status, "badge-neutral"),
            record.get_status_display(),
        )


def run_summary(run: BillingRun) -> str:
    """e.g. “3 invoices” or “2 reminders · 1 late fee · 1 suspension”."""

    def plural(count: int, word: str) -> str:
        return f"{count} {word}{'' if count == 1 else 's'}"

    if run.kind == BillingRun.Kind.RENEWALS:
        return plural(run.invoices_created, "invoice")
    parts = [
        plural(run.reminders_sent, "reminder"),
        plural(run.late_fees, "late fee"),
        plural(run.services_suspended, "suspension"),
        plural(run.services_terminated, "termination"),
    ]
    return " · ".join(parts)
