"""Inbox API routes (mounted at /api/bridge/ on the operator's base domain only)."""

from rest_framework.routers import SimpleRouter

from .api import EscalationViewSet

router = SimpleRouter()
router.register("escalations", EscalationViewSet, basename="bridge-inbox-escalation")
urlpatterns = router.urls
