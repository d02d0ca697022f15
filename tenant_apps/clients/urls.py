"""Staff-area routes of clients."""

app_name = "clients"

urlpatterns: list = []
