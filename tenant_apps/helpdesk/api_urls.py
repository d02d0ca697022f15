"""API routes of the helpdesk (mounted at /api/)."""

from rest_framework.routers import SimpleRouter

from .api import CannedReplyViewSet, DepartmentViewSet, TicketViewSet

router = SimpleRouter()
router.register("tickets", TicketViewSet, basename="helpdesk-api-ticket")
router.register("departments", DepartmentViewSet, basename="helpdesk-api-department")
router.register("canned-replies", CannedReplyViewSet, basename="helpdesk-api-canned-reply")

urlpatterns = router.urls
