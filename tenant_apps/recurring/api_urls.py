"""API routes of recurring billing (mounted at /api/)."""

from rest_framework.routers import SimpleRouter

from .api import BillingRunViewSet

router = SimpleRouter()
router.register("billing-runs", BillingRunViewSet, basename="billing-api-run")

urlpatterns = router.urls
