"""Routes of the shop (mounted at /shop/; its catalog is also the instance's home page)."""

from django.urls import path

from . import views

app_name = "storefront"

urlpatterns = [
    path("", views.CatalogView.as_view(), name="catalog"),
    path("currency/", views.CurrencyView.as_view(), name="currency"),
    path("cart/", views.CartView.as_view(), name="cart"),
    path("cart/add/<int:plan_pk>/", views.CartAddView.as_view(), name="cart_add"),
    path("cart/remove/<int:index>/", views.CartRemoveView.as_view(), name="cart_remove"),
    path("checkout/", views.CheckoutView.as_view(), name="checkout"),
    path("sign-up/", views.SignupView.as_view(), name="signup"),
    path("sign-up/sent/", views.SignupSentView.as_view(), name="signup_sent"),
    path(
        "sign-up/confirm/<str:token>/",
        views.SignupConfirmView.as_view(),
        name="signup_confirm",
    ),
    path("terms/", views.TermsView.as_view(), name="terms"),
    path("logo/", views.LogoView.as_view(), name="logo"),
]
