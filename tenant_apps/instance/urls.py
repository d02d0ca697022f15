"""Routes of the instance's brand files, at the root of every instance's domain."""

from django.urls import path

from . import views

app_name = "brand"

urlpatterns = [
    path("brand.css", views.brand_stylesheet, name="stylesheet"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("apple-touch-icon.png", views.touch_icon, name="touch_icon"),
    path("brand/logo/", views.brand_logo, name="logo"),
]
