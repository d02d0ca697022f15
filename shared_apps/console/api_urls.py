"""Console API routes."""

from rest_framework.routers import SimpleRouter

from .api import ResellerViewSet

router = SimpleRouter()
router.register("resellers", ResellerViewSet, basename="console-reseller")
urlpatterns = router.urls
