"""Customer-portal routes of clients."""

from django.urls import path

from . import views

app_name = "portal_clients"

urlpatterns = [
    path("billing-details/", views.BillingDetailsView.as_view(), name="billing_details"),
]
