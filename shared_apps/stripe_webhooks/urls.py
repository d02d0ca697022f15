"""Stripe webhook routes (mounted on the base domain at /stripe/webhooks/)."""

from django.urls import path

from . import views

app_name = "stripe_webhooks"

urlpatterns = [
    path("platform/", views.platform_webhook, name="platform"),
    path("connect/", views.connect_webhook, name="connect"),
]
