"""API routes of referrals."""

from rest_framework.routers import SimpleRouter

from .api import RefererViewSet

router = SimpleRouter()
router.register("referers", RefererViewSet, basename="referrals-referer")
urlpatterns = router.urls
