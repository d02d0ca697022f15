"""Customer-portal routes of orders and services (mounted at /portal/services/)."""

from django.urls import path

from . import portal_views

app_name = "portal_orders"

urlpatterns = [
    path("", portal_views.PortalServiceListView.as_view(), name="service_list"),
    path("<int:pk>/", portal_views.PortalServiceDetailView.as_view(), name="service_detail"),
    path("<int:pk>/cancel/", portal_views.PortalServiceCancelView.as_view(), name="service_cancel"),
    path(
        "<int:pk>/add-on/", portal_views.PortalServiceAddonView.as_view(), name="service_add_addon"
    ),
    path("order/", portal_views.PortalOrderCreateView.as_view(), name="order_create"),
    path("orders/<int:pk>/", portal_views.PortalOrderDetailView.as_view(), name="order_detail"),
]
