"""API routes of catalog."""

urlpatterns: list = []
