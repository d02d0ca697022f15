"""Staff routes of card payments (mounted at /staff/cards/)."""

from django.urls import path

from . import views

app_name = "cards"

urlpatterns = [
    path("", views.CardSettingsView.as_view(), name="settings"),
    path("connect/return/", views.CardConnectReturnView.as_view(), name="connect_return"),
    path("connect/refresh/", views.CardConnectRefreshView.as_view(), name="connect_refresh"),
    path("payments/<int:pk>/refund/", views.CardRefundView.as_view(), name="refund"),
]
