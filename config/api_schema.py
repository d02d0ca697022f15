"""OpenAPI schema and docs views that document the URL map of the instance serving the
request, for that instance's staff only (SERVE_PERMISSIONS in settings guards the schema)."""

from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from tenant_apps.accounts.permissions import StaffRequiredMixin


class InstanceSchemaView(SpectacularAPIView):
    """The operator's domain has console endpoints that reseller instances do not."""

    @extend_schema(exclude=True)  # the schema does not document itself
    def get(self, request, *args, **kwargs):
        self.urlconf = getattr(request, "urlconf", None)
        return super().get(request, *args, **kwargs)


class StaffApiDocsView(StaffRequiredMixin, SpectacularRedocView):
    """The API docs page: anonymous visitors go to the sign-in page, customers get a 403."""

    template_name = "api/redoc.html"
