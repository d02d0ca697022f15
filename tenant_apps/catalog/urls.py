"""Staff-area routes of catalog."""

app_name = "catalog"

urlpatterns: list = []
