"""Staff-area routes of clients."""

from django.urls import path

from . import views

app_name = "clients"

urlpatterns = [
    path("", views.CustomerListView.as_view(), name="customer_list"),
    path("new/", views.CustomerCreateView.as_view(), name="customer_create"),
    path("<int:pk>/", views.CustomerDetailView.as_view(), name="customer_detail"),
    path("<int:pk>/edit/", views.CustomerEditView.as_view(), name="customer_edit"),
    path(
        "<int:pk>/verify-tax-id/",
        views.CustomerVerifyTaxIdView.as_view(),
        name="customer_verify_tax_id",
    ),
    path("<int:pk>/invite/", views.CustomerInviteView.as_view(), name="customer_invite"),
    path("<int:pk>/close/", views.CustomerCloseView.as_view(), name="customer_close"),
    path("<int:pk>/reopen/", views.CustomerReopenView.as_view(), name="customer_reopen"),
]
