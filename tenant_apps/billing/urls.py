"""Staff-area routes of billing."""

app_name = "billing"

urlpatterns: list = []
