"""OpenAPI schema view that documents the URL map of the instance serving the request."""

from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView


class InstanceSchemaView(SpectacularAPIView):
    """The operator's domain has console endpoints that reseller instances do not."""

    @extend_schema(exclude=True)  # the schema does not document itself
    def get(self, request, *args, **kwargs):
        self.urlconf = getattr(request, "urlconf", None)
        return super().get(request, *args, **kwargs)
