"""API routes of referrals."""

urlpatterns: list = []
