"""Staff-area routes of catalog."""

from django.urls import path

from . import views

app_name = "catalog"

urlpatterns = [
    path("", views.ProductListView.as_view(), name="product_list"),
    path("products/new/", views.ProductFormView.as_view(), name="product_create"),
    path("products/<int:pk>/", views.ProductDetailView.as_view(), name="product_detail"),
    path("products/<int:pk>/edit/", views.ProductFormView.as_view(), name="product_edit"),
    path(
        "products/<int:pk>/archive/",
        views.ProductStatusView.as_view(archive=True),
        name="product_archive",
    ),
    path(
        "products/<int:pk>/restore/",
        views.ProductStatusView.as_view(archive=False),
        name="product_restore",
    ),
    path("tax-classes/", views.TaxClassListView.as_view(), name="taxclass_list"),
    path("tax-classes/new/", views.TaxClassFormView.as_view(), name="taxclass_create"),
    path("tax-classes/<int:pk>/edit/", views.TaxClassFormView.as_view(), name="taxclass_edit"),
]
