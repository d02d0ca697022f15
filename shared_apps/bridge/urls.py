"""Bridge routes on reseller instances (the staff side of escalations)."""

from django.urls import path

from . import views

app_name = "bridge"

urlpatterns = [
    path("tickets/<int:pk>/escalate/", views.EscalateView.as_view(), name="escalate"),
    path("tickets/<int:pk>/reply/", views.UpstreamReplyView.as_view(), name="reply_upstream"),
]
