"""API routes of billing."""

urlpatterns: list = []
