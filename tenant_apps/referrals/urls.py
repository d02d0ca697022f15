"""Staff-area routes of referrals."""

from django.urls import path

from . import views

app_name = "referrals"

urlpatterns = [
    path("", views.RefererListView.as_view(), name="referer_list"),
    path("new/", views.RefererFormView.as_view(), name="referer_create"),
    path("<int:pk>/edit/", views.RefererFormView.as_view(), name="referer_edit"),
    path(
        "<int:pk>/deactivate/",
        views.RefererStatusView.as_view(activate=False),
        name="referer_deactivate",
    ),
    path(
        "<int:pk>/reactivate/",
        views.RefererStatusView.as_view(activate=True),
        name="referer_reactivate",
    ),
    path("<int:pk>/codes/", views.RefererCodeAddView.as_view(), name="referer_code_add"),
    path(
        "<int:pk>/codes/<int:code_id>/remove/",
        views.RefererCodeRemoveView.as_view(),
        name="referer_code_remove",
    ),
    path("<int:pk>/invite/", views.RefererInviteView.as_view(), name="referer_invite"),
]
