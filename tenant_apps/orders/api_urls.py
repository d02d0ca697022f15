"""API routes of orders and services (mounted at /api/)."""

from rest_framework.routers import SimpleRouter

from .api import OrderViewSet, ServiceViewSet

router = SimpleRouter()
router.register("orders", OrderViewSet, basename="order")
router.register("services", ServiceViewSet, basename="service")
urlpatterns = router.urls
