"""The console's Activity screen: the operator's own audit trail (its console actions on
resellers and the writes of its own instance), with the instance screen's filters and CSV."""

from __future__ import annotations

from django.utils.translation import gettext_lazy
from django.views.generic import TemplateView

from tenant_apps.dashboard.activity import ActivityPageMixin

from .views import OperatorStaffMixin


class ConsoleActivityView(OperatorStaffMixin, ActivityPageMixin, TemplateView):
    template_name = "console/activity.html"
    csv_name = "operator"
    denied = gettext_lazy("Only the operator's owner or administrators can do this.")
