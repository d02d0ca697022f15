"""Customer-portal routes of billing."""

app_name = "portal_billing"

urlpatterns: list = []
