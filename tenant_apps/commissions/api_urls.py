"""API routes of commissions (mounted at /api/)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from .api import BalanceView, EntryViewSet, OrderRefererView, PayoutViewSet, RuleViewSet

router = SimpleRouter()
router.register("commission-rules", RuleViewSet, basename="commissions-rule")
router.register("commission-entries", EntryViewSet, basename="commissions-entry")
router.register("commission-payouts", PayoutViewSet, basename="commissions-payout")
urlpatterns = [
    *router.urls,
    path("commission-balances/", BalanceView.as_view(), name="commissions-balances"),
    path(
        "commission-orders/<int:pk>/referer/",
        OrderRefererView.as_view(),
        name="commissions-order-referer",
    ),
]
