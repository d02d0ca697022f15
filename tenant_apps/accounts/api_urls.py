"""Accounts API routes."""

from django.urls import path

from . import api

urlpatterns = [
    path("me/", api.MeView.as_view(), name="api-me"),
    path("staff/", api.StaffListView.as_view(), name="api-staff-list"),
]
