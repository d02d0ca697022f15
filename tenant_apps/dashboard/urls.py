"""Staff area routes."""

from django.urls import path

from . import views

app_name = "dashboard"

urlpatterns = [
    path("", views.DashboardView.as_view(), name="home"),
    path("team/", views.TeamView.as_view(), name="staff_list"),
    path("identity/", views.IdentityView.as_view(), name="identity"),
    path("api-tokens/", views.ApiTokensView.as_view(), name="api_tokens"),
    path("activity/", views.ActivityView.as_view(), name="activity"),
    path("supplier-bills/", views.SupplierBillsView.as_view(), name="supplier_bills"),
    path("supplier-bills/<int:pk>/", views.SupplierBillView.as_view(), name="supplier_bill"),
    path("supplier-bills/<int:pk>/pdf/", views.supplier_bill_pdf, name="supplier_bill_pdf"),
]
