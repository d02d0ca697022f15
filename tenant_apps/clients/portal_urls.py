"""Customer-portal routes of clients."""

app_name = "portal_clients"

urlpatterns: list = []
