"""Staff-area routes of referrals."""

app_name = "referrals"

urlpatterns: list = []
