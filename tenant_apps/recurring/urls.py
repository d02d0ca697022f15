"""Staff-area routes of recurring billing (mounted at /staff/billing/runs/)."""

from django.urls import path

from . import views

app_name = "recurring"

urlpatterns = [
    path("", views.RunListView.as_view(), name="run_list"),
    path("now/", views.RunNowView.as_view(), name="run_now"),
    path("<int:pk>/", views.RunDetailView.as_view(), name="run_detail"),
]
