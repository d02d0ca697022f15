"""API routes of clients."""

urlpatterns: list = []
