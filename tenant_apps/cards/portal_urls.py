"""Customer-portal routes of card payments (mounted at /portal/cards/)."""

from django.urls import path

from . import portal_views as views

app_name = "portal_cards"

urlpatterns = [
    path("invoices/<int:pk>/pay/", views.CardPayView.as_view(), name="pay"),
    path("payments/<int:pk>/pay/", views.CardChargeView.as_view(), name="charge"),
    path("payments/<int:pk>/", views.CardResultView.as_view(), name="result"),
    path("payments/<int:pk>/status/", views.CardStatusView.as_view(), name="status"),
    path("methods/", views.PaymentMethodsView.as_view(), name="payment_methods"),
    path(
        "methods/<int:pk>/default/",
        views.PaymentMethodDefaultView.as_view(),
        name="payment_method_default",
    ),
    path(
        "methods/<int:pk>/remove/",
        views.PaymentMethodRemoveView.as_view(),
        name="payment_method_remove",
    ),
]
