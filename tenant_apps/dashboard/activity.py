"""The Activity screen of an instance: its audit trail, filtered, sorted, paginated and
exported as CSV. The console shows the operator's trail with the same pieces."""

from __future__ import annotations

import csv
import datetime
from collections.abc import Iterable, Iterator

import django_filters
import django_tables2 as tables
from django import forms
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_tables2 import RequestConfig

from tenant_apps.instance import audit
from tenant_apps.instance.models import AuditEvent
from tenant_apps.instance.selectors import audit_event_list

CSV_COLUMNS = [
    "time",
    "event",
    "event_code",
    "actor",
    "object_type",
    "object_id",
    "object",
    "changes",
    "ip_address",
]


def _type_choices(events: QuerySet[AuditEvent]) -> list[tuple[str, str]]:
    """Every event type this instance has recorded, plus the ones the code declares."""
    codes = set(events.order_by().values_list("action", flat=True).distinct()[:500])
    codes |= {event.code for event in audit.event_types()}
    return sorted(((code, audit.event_label(code)) for code in codes), key=lambda c: c[1])


def _object_choices(events: QuerySet[AuditEvent]) -> list[tuple[str, str]]:
    kinds = events.order_by().values_list("object_type", flat=True).distinct()[:100]
    return sorted(
        ((kind, audit.object_type_label(kind)) for kind in kinds if kind), key=lambda c: c[1]
    )


class ActivityFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(method="by_actor", label=gettext_lazy("Actor"))
    action = django_filters.ChoiceFilter(
        label=gettext_lazy("Event"), empty_label=gettext_lazy("Any event")
    )
    object_type = django_filters.ChoiceFilter(
        label=gettext_lazy("Object"), empty_label=gettext_lazy("Any object")
    )
    object = django_filters.CharFilter(method="by_object", label=gettext_lazy("Object name or id"))
    since = django_filters.DateFilter(
        field_name="created_at",
        lookup_expr="date__gte",
        label=gettext_lazy("From"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    until = django_filters.DateFilter(
        field_name="created_at",
        lookup_expr="date__lte",
        label=gettext_lazy("To"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    class Meta:
        model = AuditEvent
        fields = ["actor", "action", "object_type", "object", "since", "until"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Choices come from the trail itself (and the declared types), before the form is built.
        self.filters["action"].extra["choices"] = _type_choices(self.queryset)
        self.filters["object_type"].extra["choices"] = _object_choices(self.queryset)
        self.form.fields["actor"].widget.attrs["placeholder"] = _("E-mail or label")
        self.form.fields["object"].widget.attrs["placeholder"] = _("e.g. 2026-000012")

    def by_actor(self, queryset, name, value):
        text = value.strip()
        return queryset.filter(actor_label__icontains=text) if text else queryset

    def by_object(self, queryset, name, value):
        text = value.strip()
        if not text:
            return queryset
        return queryset.filter(Q(object_label__icontains=text) | Q(object_id=text))


def changes_text(event: AuditEvent, *, most: int | None = None) -> str:
    """What an event changed, in labels ("Status: Issued → Paid"); `most` caps the fields
    shown on screen (the CSV has them all)."""
    lines = audit.change_lines(event.object_type, event.changes)
    if most is not None and len(lines) > most:
        lines = [*lines[:most], f"and {len(lines) - most} more"]
    return "; ".join(lines)


class ActivityTable(tables.Table):
    created_at = tables.DateTimeColumn(
        format="Y-m-d H:i", verbose_name=gettext_lazy("When"), attrs={"td": {"class": "nowrap"}}
    )
    action = tables.Column(verbose_name=gettext_lazy("Event"))
    object_label = tables.Column(
        verbose_name=gettext_lazy("Object"), order_by=("object_type", "object_id")
    )
    actor_label = tables.Column(verbose_name=gettext_lazy("Actor"))
    changes = tables.Column(verbose_name=gettext_lazy("Changes"), orderable=False, empty_values=())
    ip_address = tables.Column(verbose_name=gettext_lazy("IP address"), orderable=False)

    class Meta:
        model = AuditEvent
        fields = ["created_at", "action", "object_label", "actor_label", "changes", "ip_address"]
        order_by = "-created_at"
        empty_text = gettext_lazy("No activity matches these filters.")
        attrs = {"class": "table"}

    def render_action(self, value):
        return format_html('<span title="{}">{}</span>', value, audit.event_label(value))

    def render_object_label(self, record):
        kind = audit.object_type_label(record.object_type) if record.object_type else ""
        if not record.object_label:
            return kind or "—"
        if str(record.object_label).lower().startswith(str(kind).lower()):
            return record.object_label  # "Order #3" already says it is an order
        return format_html('<span class="muted">{}</span> {}', kind, record.object_label)

    def render_actor_label(self, value):
        return value or audit.SYSTEM

    def render_changes(self, record):
        return changes_text(record, most=3) or "—"


def activity_events(params) -> tuple[ActivityFilter, QuerySet[AuditEvent]]:
    """The filtered trail of the current instance, for the screen and the CSV."""
    filterset = ActivityFilter(params or None, queryset=audit_event_list())
    return filterset, filterset.qs


def _rows(events: Iterable[AuditEvent]) -> Iterator[list[str]]:
    yield CSV_COLUMNS
    for event in events:
        created = timezone.localtime(event.created_at) if event.created_at else None
        yield [
            created.isoformat(timespec="seconds") if created else "",
            audit.event_label(event.action),
            event.action,
            event.actor_label or audit.SYSTEM,
            event.object_type,
            event.object_id,
            event.object_label,
            changes_text(event),
            event.ip_address or "",
        ]


class _Echo:
    """A file-like object whose write returns the line, for a streamed CSV."""

    def write(self, value: str) -> str:
        return value


def _safe(cell: str) -> str:
    # A cell starting with = + - @ is a formula to a spreadsheet (CSV injection).
    return f"'{cell}" if cell[:1] in ("=", "+", "-", "@") else cell


def activity_csv_response(events: QuerySet[AuditEvent], *, name: str) -> StreamingHttpResponse:
    """Stream the trail as CSV (one query, rows in chunks: fine for large trails)."""
    writer = csv.writer(_Echo())
    stamp = datetime.date.today().isoformat()
    response = StreamingHttpResponse(
        (
            writer.writerow([_safe(str(cell)) for cell in row])
            for row in _rows(events.iterator(chunk_size=2000))
        ),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{name}-activity-{stamp}.csv"'
    return response


class ActivityPageMixin:
    """A page of the audit trail (staff area or console): managers only, `?format=csv`
    streams the filtered trail, otherwise a filtered, sorted, paginated table."""

    csv_name = "instance"
    denied = gettext_lazy("Only the owner or an administrator can read the activity log.")

    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if user.is_authenticated and user.is_instance_staff and not user.can_manage_instance:
            raise PermissionDenied(self.denied)
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, *args, **kwargs):
        if request.GET.get("format") == "csv":
            _filter, events = activity_events(request.GET)
            return activity_csv_response(events, name=self.csv_name)
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filterset, events = activity_events(self.request.GET)
        table = ActivityTable(events)
        RequestConfig(self.request, paginate={"per_page": 50}).configure(table)
        export = self.request.GET.copy()
        export["format"] = "csv"
        export.pop("page", None)
        context.update(
            filter=filterset,
            table=table,
            any_events=AuditEvent.objects.exists(),
            csv_query=export.urlencode(),
        )
        return context
