"""Staff area routes."""

from django.urls import path

from . import views

app_name = "dashboard"

urlpatterns = [
    path("", views.DashboardView.as_view(), name="home"),
    path("team/", views.TeamView.as_view(), name="staff_list"),
    path("identity/", views.IdentityView.as_view(), name="identity"),
    path("api-tokens/", views.ApiTokensView.as_view(), name="api_tokens"),
]
