"""API routes of outgoing e-mail (mounted at /api/)."""

from rest_framework.routers import SimpleRouter

from .api import OutgoingEmailViewSet

router = SimpleRouter()
router.register("emails", OutgoingEmailViewSet, basename="mail-api-email")

urlpatterns = router.urls
