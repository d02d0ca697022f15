"""Staff-area routes of orders and services (mounted at /staff/orders/)."""

from django.urls import path

from . import views

app_name = "orders"


def _service_action(action: str):
    return path(
        f"services/<int:pk>/{action.replace('_', '-')}/",
        views.ServiceActionView.as_view(action=action),
        name=f"service_{action}",
    )


urlpatterns = [
    path("", views.OrderListView.as_view(), name="order_list"),
    path("new/", views.OrderCreateView.as_view(), name="order_create"),
    path("<int:pk>/", views.OrderDetailView.as_view(), name="order_detail"),
    path("<int:pk>/accept/", views.OrderActionView.as_view(action="accept"), name="order_accept"),
    path("<int:pk>/cancel/", views.OrderActionView.as_view(action="cancel"), name="order_cancel"),
    path("services/", views.ServiceListView.as_view(), name="service_list"),
    path("services/<int:pk>/", views.ServiceDetailView.as_view(), name="service_detail"),
    _service_action("suspend"),  # service_suspend
    _service_action("unsuspend"),  # service_unsuspend
    _service_action("terminate"),  # service_terminate
    _service_action("cancel"),  # service_cancel
    _service_action("change_plan"),  # service_change_plan
    _service_action("add_addon"),  # service_add_addon
]
