"""API routes of orders."""

urlpatterns: list = []
