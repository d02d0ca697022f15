"""Staff routes of the shop (mounted at /staff/storefront/)."""

from django.urls import path

from . import staff_views

app_name = "storefront_staff"

urlpatterns = [
    path("", staff_views.StorefrontSettingsView.as_view(), name="settings"),
    path("sections/", staff_views.ShopGroupListView.as_view(), name="groups"),
    path("sections/<int:pk>/", staff_views.ShopGroupEditView.as_view(), name="group_edit"),
]
