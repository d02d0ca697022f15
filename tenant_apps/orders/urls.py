"""Staff-area routes of orders."""

app_name = "orders"

urlpatterns: list = []
