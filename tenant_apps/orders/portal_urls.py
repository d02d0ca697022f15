"""Customer-portal routes of orders."""

app_name = "portal_orders"

urlpatterns: list = []
