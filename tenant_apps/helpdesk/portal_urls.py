"""Customer-portal routes of the helpdesk (mounted at /portal/support/)."""

from django.urls import path

from . import portal_views as views

app_name = "portal_helpdesk"

urlpatterns = [
    path("", views.PortalTicketListView.as_view(), name="ticket_list"),
    path("new/", views.PortalTicketCreateView.as_view(), name="ticket_create"),
    path("<int:pk>/", views.PortalTicketDetailView.as_view(), name="ticket_detail"),
    path(
        "<int:pk>/close/",
        views.PortalTicketStatusView.as_view(action="close"),
        name="ticket_close",
    ),
    path(
        "<int:pk>/reopen/",
        views.PortalTicketStatusView.as_view(action="reopen"),
        name="ticket_reopen",
    ),
    path("attachments/<int:pk>/", views.PortalAttachmentView.as_view(), name="attachment"),
]
