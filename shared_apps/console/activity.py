"""The console's Activity screen: the operator's own audit trail (its console actions on
resellers and the writes of its own instance), with the instance screen's filters and CSV."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.views.generic import TemplateView
from django_tables2 import RequestConfig

from tenant_apps.dashboard.activity import ActivityTable, activity_csv_response, activity_events
from tenant_apps.instance.models import AuditEvent

from .views import OperatorStaffMixin


class ConsoleActivityView(OperatorStaffMixin, TemplateView):
    template_name = "console/activity.html"

    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if user.is_authenticated and user.is_instance_staff and not user.can_manage_instance:
            raise PermissionDenied("Only the operator's owner or administrators can do this.")
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, *args, **kwargs):
        if request.GET.get("format") == "csv":
            _filter, events = activity_events(request.GET)
            return activity_csv_response(events, name="operator")
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
