"""API routes of clients."""

from rest_framework.routers import SimpleRouter

from .api import CustomerViewSet

router = SimpleRouter()
router.register("customers", CustomerViewSet, basename="api-customer")
urlpatterns = router.urls
